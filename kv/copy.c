/*
 * copy.c: a compacted copy of the live state or of one snapshot.
 *
 * The source is read through one read transaction (so the copy is one
 * commit's state, while the writer goes on); the destination is a new
 * database filled table by table in key order with KV_APPEND, which packs
 * every leaf full, and committed durably once.  The destination holds the
 * tables only: no snapshots, no free pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_int.h"

struct copyctx {
	kv_txn *src;
	kv_txn *dst;
	int rc;
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *pctx;
	uint64_t done, total;
};

static int add_count(void *ctx, const char *name, uint64_t count)
{
	(void)name;
	*(uint64_t *)ctx += count;
	return 0;
}

static int copy_table(void *ctx, const char *name, uint64_t count)
{
	struct copyctx *cc = ctx;
	kv_table *st, *dt;
	kv_cursor *cu;
	kv_val k, v;
	int rc;

	(void)count;
	rc = kv_table_open(cc->src, name, 0, &st);
	if (rc != 0)
		return rc;
	rc = kv_table_open(cc->dst, name, KV_TABLE_CREATE, &dt);
	if (rc != 0)
		return rc;
	rc = kv_cursor_open(cc->src, st, &cu);
	if (rc != 0)
		return rc;
	for (rc = kv_cursor_first(cu, &k, &v); rc == 0;
	     rc = kv_cursor_next(cu, &k, &v)) {
		rc = kv_put(cc->dst, dt, k, v, KV_APPEND);
		if (rc != 0)
			break;
		if (cc->progress && (++cc->done & 1023) == 0)
			cc->progress(cc->pctx, cc->done, cc->total);
	}
	kv_cursor_close(cu);
	return rc == KV_ENOTFOUND ? 0 : rc;
}

KV_API int kv_env_copy(kv_env *env, const char *dest, const char *snapshot,
                       int mode)
{
	return kv_env_copy_progress(env, dest, snapshot, mode, NULL, NULL);
}

KV_API int kv_env_copy_progress(
        kv_env *env, const char *dest, const char *snapshot, int mode,
        void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
	struct copyctx cc = { .progress = progress, .pctx = ctx };
	kv_env *out = NULL;
	char *lock = NULL;
	int fd, rc;

	fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	          mode ? mode : 0600);
	if (fd < 0)
		return kv_set_err(-errno, "%s: %s", dest, strerror(errno));
	close(fd);
	lock = malloc(strlen(dest) + 6);
	if (lock == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	sprintf(lock, "%s-lock", dest);

	rc = snapshot ? kv_txn_begin_snapshot(env, snapshot, &cc.src)
	              : kv_txn_begin(env, KV_TXN_RDONLY, &cc.src);
	if (rc != 0)
		goto fail;
	rc = kv_env_open(&out, dest, KV_CREATE, mode);
	if (rc != 0)
		goto fail;
	rc = kv_txn_begin(out, 0, &cc.dst);
	if (rc != 0)
		goto fail;
	/* as small as it can be: the first writer of the copy adds a log */
	cc.dst->no_log_run = true;
	/* nobody points into the copy's pages: write them as they fill */
	cc.dst->write_early = true;
	if (progress)
		(void)kv_table_list(cc.src, add_count, &cc.total);
	rc = kv_table_list(cc.src, copy_table, &cc);
	if (rc == 0 && progress)
		progress(ctx, cc.done, cc.total);
	if (rc != 0) {
		kv_txn_abort(cc.dst);
		goto fail;
	}
	/* a checkpoint: the file ends at its last page (pager.c) */
	rc = kv_txn_commit(cc.dst);
	if (rc != 0)
		goto fail;
	kv_txn_abort(cc.src);
	kv_env_close(out);
	unlink(lock);
	free(lock);
	return 0;
fail : {
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", kv_errmsg());
	if (cc.src)
		kv_txn_abort(cc.src);
	if (out)
		kv_env_close(out);
	unlink(dest);
	if (lock)
		unlink(lock);
	free(lock);
	return kv_set_err(rc, "copy to %s failed: %s", dest, msg);
}
}
