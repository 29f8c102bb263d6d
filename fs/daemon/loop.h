/*
 * loop: the request loop, a leader that reads and answers requests and a
 * pool of threads that take over when a handler may wait (loop.c).
 */
#ifndef CCCFS_LOOP_H
#define CCCFS_LOOP_H

#include <fuse_lowlevel.h>
#include <pthread.h>

/* Serve se's requests with up to max_threads threads until the session
 * ends (unmount, a signal).  Between requests the reading thread looks
 * for the next one for spin_us microseconds before it sleeps (0: sleeps
 * at once).  Returns 0, or a negative errno from reading the device. */
int loop_serve(struct fuse_session *se, unsigned max_threads, unsigned spin_us);

/* Spins since loop_serve() began, and those of them that found the next
 * request before they ended. */
void loop_stats(unsigned long *spins, unsigned long *hits);

/* A handler is about to wait (on a lock a commit may hold, on a writer's
 * RELEASE, on the disk): if its thread is the one reading requests, it
 * hands that over first, so the requests behind it are answered
 * meanwhile.  Cheap, and a no-op on any other thread. */
void loop_may_wait(void);

/* Take m, which another thread may hold across a wait of its own (a
 * commit's validation, the disk): if it does, hand over first, as
 * loop_may_wait() does, then wait for it. */
void loop_lock(pthread_mutex_t *m);

/* A handler is about to wait on the disk alone (a durable commit's flush,
 * with the engine's lock held and no lock a request needs): the reading
 * thread keeps reading through it if no other thread is in a handler and
 * no request is waiting, else it hands over as loop_may_wait() does. */
void loop_may_sync(void);

#endif
