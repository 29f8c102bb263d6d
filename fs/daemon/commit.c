/*
 * commit: the commit-interval timer.  A plain close() commits with
 * KV_DURABLE_NONE: atomic, visible, and handed to the kernel, but not
 * fsync'ed.  This thread makes such commits durable with one
 * kv_env_sync() at most every commit_interval milliseconds, so a power
 * loss costs at most that window, while fsync() callers pay for their own
 * durable commit.  With commit_interval=0 every commit is durable and the
 * thread is not started.
 */
#include <errno.h>
#include <pthread.h>
#include <syslog.h>
#include <time.h>

#include "fs.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct fs *fs;
	bool dirty, stop, running;
} ct = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void sync_now(void)
{
	int rc = kv_env_sync(ct.fs->env);

	if (rc != 0)
		fs_log(LOG_ERR, "background sync failed: %s", kv_strerror(rc));
}

void fs_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned long ms,
                const bool *stop)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!*stop && pthread_cond_timedwait(cond, lock, &ts) != ETIMEDOUT)
		;
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ct.lock);
	while (!ct.stop) {
		while (!ct.dirty && !ct.stop)
			pthread_cond_wait(&ct.cond, &ct.lock);
		if (ct.stop)
			break;
		/* Wait out the interval, then flush everything since. */
		fs_wait_ms(&ct.cond, &ct.lock, ct.fs->cfg.commit_interval,
		           &ct.stop);
		ct.dirty = false;
		pthread_mutex_unlock(&ct.lock);
		sync_now();
		pthread_mutex_lock(&ct.lock);
	}
	pthread_mutex_unlock(&ct.lock);
	return NULL;
}

int commit_timer_start(struct fs *fs)
{
	int rc;

	ct.fs = fs;
	ct.stop = false;
	ct.dirty = false;
	if (fs->cfg.commit_interval == 0)
		return 0;
	rc = pthread_create(&ct.thread, NULL, timer_main, NULL);
	if (rc != 0)
		return -rc;
	ct.running = true;
	return 0;
}

void commit_timer_note(void)
{
	pthread_mutex_lock(&ct.lock);
	if (!ct.dirty) {
		ct.dirty = true;
		pthread_cond_signal(&ct.cond);
	}
	pthread_mutex_unlock(&ct.lock);
}

void commit_timer_stop(void)
{
	if (ct.running) {
		pthread_mutex_lock(&ct.lock);
		ct.stop = true;
		pthread_cond_broadcast(&ct.cond);
		pthread_mutex_unlock(&ct.lock);
		pthread_join(ct.thread, NULL);
		ct.running = false;
	}
	if (ct.fs)
		sync_now();
}
