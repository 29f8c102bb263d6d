/*
 * Unit tests for fs/daemon/inode.c: lookup counts and freeing, detaching, and the
 * bookkeeping behind cached reads (kseq/kstale/kclean, holds for a writer
 * moved away from cached readers).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "clock.h"
#include "inode.h"

static int setup(void **state)
{
	(void)state;
	return itab_init();
}

static int teardown(void **state)
{
	(void)state;
	itab_release();
	return 0;
}

static struct fs_inode *get(uint64_t ino)
{
	struct fs_inode *in;

	itab_lock();
	in = itab_get(ino);
	itab_unlock();
	return in;
}

static void test_lookups(void **state)
{
	uint64_t a, b;

	(void)state;
	a = itab_ref_path("workflows/a.yaml", S_IFREG);
	assert_true(a != 0);
	b = itab_ref_path("workflows/a.yaml", S_IFREG);
	assert_int_equal(a, b);
	assert_int_equal(get(a)->nlookup, 2);
	itab_forget(a, 1);
	assert_non_null(get(a));
	itab_forget(a, 1);
	assert_null(get(a)); /* freed with its last lookup */
	/* numbers are never reused while mounted */
	assert_true(itab_ref_path("workflows/a.yaml", S_IFREG) != a);
}

static void kdirty(struct fs_inode *in)
{
	itab_lock();
	itab_kdirty_locked(in);
	itab_unlock();
}

static void test_kstale(void **state)
{
	struct fs_inode *in;
	struct kmark m;
	uint64_t ino;

	(void)state;
	ino = itab_ref_path("agents/x.yaml", S_IFREG);
	in = get(ino);
	assert_false(in->cache.kstale);

	/* an invalidation that started before a change does not clean it */
	kdirty(in);
	m = itab_kmark(ino);
	kdirty(in);
	itab_kclean(ino, m);
	assert_true(in->cache.kstale);
	assert_true(in->cache.kclean_seq != in->cache.kseq);

	/* one that started after it does, unless a writer is still there */
	m = itab_kmark(ino);
	itab_lock();
	in->cache.writers = 1;
	itab_unlock();
	itab_kclean(ino, m);
	assert_true(in->cache.kstale);
	/* but it is noted */
	assert_int_equal(in->cache.kclean_seq, in->cache.kseq);
	itab_lock();
	in->cache.writers = 0;
	itab_unlock();
	itab_kclean(ino, m);
	assert_false(in->cache.kstale);

	/* unknown inodes are ignored */
	itab_kclean(ino + 1000, m);
	m = itab_kmark(ino + 1000);
	assert_int_equal(m.seq, 0);
	assert_int_equal(m.uses, 0);
}

/*
 * After an invalidation the kernel holds no page of the inode, unless a
 * handle that can fill the page cache was open at some time since it
 * began: then the version in the page cache stays as it was.
 */
static void test_kversion_after_invalidation(void **state)
{
	struct fs_inode *in;
	struct kmark m;
	uint64_t ino;

	(void)state;
	ino = itab_ref_path("agents/v.yaml", S_IFREG);
	in = get(ino);
	itab_lock();
	in->cache.kversion = 7;
	itab_kdirty_locked(in);
	itab_unlock();

	/* a cached handle open all along */
	itab_lock();
	in->cache.cached = 1;
	itab_unlock();
	m = itab_kmark(ino);
	itab_kclean(ino, m);
	assert_int_equal(in->cache.kversion, 7);
	assert_false(in->cache.kstale);

	/* one that closed while the invalidation ran */
	kdirty(in);
	m = itab_kmark(ino);
	itab_lock();
	in->cache.cached = 0;
	in->cache.kuses++;
	itab_unlock();
	itab_kclean(ino, m);
	assert_int_equal(in->cache.kversion, 7);

	/* a direct one, with a private mapping that may fill pages */
	itab_lock();
	in->cache.direct = 1;
	itab_unlock();
	m = itab_kmark(ino);
	itab_kclean(ino, m);
	assert_int_equal(in->cache.kversion, 7);

	/* none at any time: no page is left */
	itab_lock();
	in->cache.direct = 0;
	in->cache.kuses++;
	itab_unlock();
	m = itab_kmark(ino);
	itab_kclean(ino, m);
	assert_int_equal(in->cache.kversion, 0);
}

static void test_detach_and_hold(void **state)
{
	struct fs_inode *in, *fresh;
	uint64_t ino, fino;

	(void)state;
	ino = itab_ref_path("prompts/p.yaml", S_IFREG);
	itab_lock();
	in = itab_get(ino);
	in->opens = 1; /* a reader keeps it */
	assert_ptr_equal(itab_detach_locked("prompts/p.yaml"), in);
	assert_null(in->path);
	assert_null(itab_find_path("prompts/p.yaml"));
	/* the fresh inode for the path, with a hold */
	fresh = itab_ref_path_locked("prompts/p.yaml", S_IFREG);
	assert_non_null(fresh);
	assert_true(fresh->ino != ino);
	fresh->cache.hold_until = clock_mono_ns() + 60ll * 1000000000;
	fino = fresh->ino;
	itab_unlock();
	assert_int_equal(itab_path(ino, &(char *){ NULL }, NULL), -ENOENT);

	/* the kernel looks it up and forgets it again: the hold keeps it
	 * while it has not expired */
	assert_int_equal(itab_ref_path("prompts/p.yaml", S_IFREG), fino);
	itab_forget(fino, 1);
	assert_non_null(get(fino));
	assert_int_equal(get(fino)->nlookup, 1);

	/* once expired, forgetting down to the hold frees it */
	assert_int_equal(itab_ref_path("prompts/p.yaml", S_IFREG), fino);
	itab_lock();
	itab_get(fino)->cache.hold_until = clock_mono_ns() - 1;
	itab_unlock();
	itab_forget(fino, 1);
	assert_null(get(fino));

	/* a held inode detached before its writer came is freed at once */
	itab_lock();
	fresh = itab_ref_path_locked("prompts/q.yaml", S_IFREG);
	fresh->cache.hold_until = clock_mono_ns() + 60ll * 1000000000;
	fino = fresh->ino;
	assert_null(itab_detach_locked("prompts/q.yaml"));
	assert_null(itab_get(fino));

	/* the reader's inode goes with its last close and forget */
	itab_close(in);
	assert_ptr_equal(itab_get(ino), in);
	itab_unlock();
	itab_forget(ino, 1);
	assert_null(get(ino));
}

static void test_hold_drop(void **state)
{
	struct fs_inode *in;
	uint64_t ino;

	(void)state;
	ino = itab_ref_path("agents/h.yaml", S_IFREG);
	itab_lock();
	in = itab_get(ino);
	in->nlookup++; /* the hold's own lookup */
	in->cache.hold_until = clock_mono_ns() + 60ll * 1000000000;
	itab_hold_drop_locked(in);
	assert_int_equal(in->cache.hold_until, 0);
	assert_int_equal(in->nlookup, 1);
	itab_hold_drop_locked(in); /* once only */
	assert_int_equal(in->nlookup, 1);
	itab_unlock();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kstale, setup, teardown),
		cmocka_unit_test_setup_teardown(
		        test_kversion_after_invalidation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_and_hold, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_hold_drop, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
