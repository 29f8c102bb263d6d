/*
 * Tests for fs/store/retain.c and fs/store/snaps.c: parsing of durations and
 * retention specs, automatic snapshot names, which snapshots retention
 * keeps, the automatic schedule driven by an injected clock (weeks of
 * simulated time in a second), the read-only snapshot views behind
 * .snapshots, and restore.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fstest.h"
#include "retain.h"
#include "snaps.h"
#include "store.h"
#include "tmpdir.h"

#define HOUR 3600
#define DAY 86400

/* 2026-11-02T00:00:00Z, a Monday */
#define MONDAY 1793577600

static int setup(void **state)
{
	return fstest_setup(state, "snaps");
}

static int teardown(void **state)
{
	return tmpenv_teardown(state);
}

/* ---- retain.c ---------------------------------------------------------- */

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = { { "90s", 90 },   { "15m", 900 },    { "1h", 3600 },
		   { "1d", 86400 }, { "2w", 1209600 }, { "30", 30 },
		   { "0", 0 },      { "off", 0 } };
	static const char *const bad[] = { "",   "h",    "1x",  "1hh",
		                           "-1", "1.5h", " 1h", "1h " };
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		assert_int_equal(retain_parse_duration(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(retain_parse_duration(bad[i], &v), -EINVAL);
}

static void test_keep_specs(void **state)
{
	struct keep_spec k;
	static const char *const bad[] = { "",    "24",   "h",       "24h,",
		                           "24q", ",24h", "24h,,7d", "all,1h" };

	(void)state;
	assert_int_equal(retain_parse_keep("24h,7d,4w", &k), 0);
	assert_false(k.all);
	assert_int_equal(k.n[RU_MINUTE], 0);
	assert_int_equal(k.n[RU_HOUR], 24);
	assert_int_equal(k.n[RU_DAY], 7);
	assert_int_equal(k.n[RU_WEEK], 4);
	/* libfuse splits -o at commas: the mount joins the parts with ':' */
	assert_int_equal(retain_parse_keep("24h:7d+4w", &k), 0);
	assert_int_equal(k.n[RU_WEEK], 4);
	assert_int_equal(retain_parse_keep("all", &k), 0);
	assert_true(k.all);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(retain_parse_keep(bad[i], &k), -EINVAL);
}

static void test_auto_names(void **state)
{
	char name[RETAIN_NAME_MAX];
	int64_t t;

	(void)state;
	retain_auto_name(name, sizeof(name), MONDAY + 12 * HOUR + 34 * 60 + 5);
	assert_string_equal(name, "auto-2026-11-02T123405Z");
	assert_int_equal(retain_parse_auto_name(name, &t), 0);
	assert_int_equal(t, MONDAY + 12 * HOUR + 34 * 60 + 5);
	/* sortable: a later time is a later name */
	{
		char later[RETAIN_NAME_MAX];

		retain_auto_name(later, sizeof(later), MONDAY + 40 * DAY);
		assert_true(strcmp(name, later) < 0);
		assert_null(strchr(later, ':'));
	}
	assert_int_equal(retain_parse_auto_name("monday", &t), -EINVAL);
	assert_int_equal(retain_parse_auto_name("auto-2026-13-40T000000Z", &t),
	                 -EINVAL);
	assert_int_equal(retain_parse_auto_name("auto-2026-11-02T123405", &t),
	                 -EINVAL);
	assert_int_equal(retain_parse_auto_name("auto-2026-11-02T123405Zx", &t),
	                 -EINVAL);
}

static void test_retention_hourly_for_ten_days(void **state)
{
	int64_t t[240];
	bool keep[240];
	struct keep_spec k;
	size_t kept = 0;

	(void)state;
	/* one snapshot per hour from Monday 2 Nov 00:00 to Wed 11 Nov 23:00 */
	for (size_t i = 0; i < 240; i++)
		t[i] = MONDAY + (int64_t)i * HOUR;
	assert_int_equal(retain_parse_keep("24h,7d,4w", &k), 0);
	retain_select(t, 240, &k, keep);
	for (size_t i = 0; i < 240; i++)
		kept += keep[i];
	/* hourly: all 24 of 11 Nov; daily: the 23:00 ones of 5..10 Nov (11
	 * Nov's is already kept); weekly: the newest of the week of 9 Nov
	 * (kept) and of the week of 2 Nov, Sun 8 Nov 23:00 (kept, daily) */
	assert_int_equal(kept, 24 + 6);
	for (size_t i = 216; i < 240; i++)
		assert_true(keep[i]);
	for (int d = 3; d <= 9; d++)
		assert_true(keep[d * 24 + 23]);
	assert_false(keep[2 * 24 + 23]); /* 4 Nov: older than 7 days */
	assert_false(keep[0]);
	assert_false(keep[8 * 24 + 22]); /* 10 Nov 22:00: not the day's last */
}

static void test_retention_edges(void **state)
{
	int64_t t[4] = { MONDAY + 3 * DAY, MONDAY, MONDAY + 2 * DAY,
		         MONDAY + DAY };
	bool keep[4];
	struct keep_spec k;

	(void)state;
	/* nothing asked: only the newest stays, whatever the order */
	assert_int_equal(retain_parse_keep("0h", &k), 0);
	retain_select(t, 4, &k, keep);
	assert_true(keep[0]);
	assert_false(keep[1] || keep[2] || keep[3]);
	/* two days: the newest two days */
	assert_int_equal(retain_parse_keep("2d", &k), 0);
	retain_select(t, 4, &k, keep);
	assert_true(keep[0] && keep[2]);
	assert_false(keep[1] || keep[3]);
	/* weeks start on Monday: Sunday night and Monday morning differ */
	t[0] = MONDAY - 60;
	t[1] = MONDAY + 60;
	assert_int_equal(retain_parse_keep("2w", &k), 0);
	retain_select(t, 2, &k, keep);
	assert_true(keep[0] && keep[1]);
	assert_int_equal(retain_parse_keep("all", &k), 0);
	retain_select(t, 4, &k, keep);
	assert_true(keep[0] && keep[1] && keep[2] && keep[3]);
	retain_select(t, 0, &k, keep); /* no snapshots: nothing to do */
}

/* ---- the schedule ------------------------------------------------------- */

struct snap_names {
	char name[256][KV_MAX_NAME + 1];
	size_t n;
};

static int collect(void *ctx, const struct kv_snapshot_info *si)
{
	struct snap_names *sn = ctx;

	if (sn->n < 256)
		strcpy(sn->name[sn->n++], si->name);
	return 0;
}

static void snapshots(kv_env *env, struct snap_names *sn)
{
	kv_txn *txn;

	sn->n = 0;
	assert_int_equal(kv_txn_begin(env, KV_TXN_RDONLY, &txn), 0);
	assert_int_equal(kv_snapshot_list(txn, collect, sn), 0);
	kv_txn_abort(txn);
}

static bool has_snapshot(kv_env *env, const char *name)
{
	struct snap_names sn;

	snapshots(env, &sn);
	for (size_t i = 0; i < sn.n; i++)
		if (strcmp(sn.name[i], name) == 0)
			return true;
	return false;
}

static void test_schedule_only_on_change(void **state)
{
	struct tmpenv *f = *state;
	struct autosnap_cfg cfg = { .every = HOUR };
	struct autosnap_result r;
	int64_t now = MONDAY;

	assert_int_equal(retain_parse_keep("24h,7d,4w", &cfg.keep), 0);
	put_file(f->env, "workflows/a.yaml", "name: a\n");
	assert_int_equal(autosnap_tick(f->env, now, &cfg, &r), 0);
	assert_true(r.made);
	assert_string_equal(r.name, "auto-2026-11-02T000000Z");
	assert_int_equal(r.next, now + HOUR);
	/* not due yet, though something changed */
	put_file(f->env, "workflows/a.yaml", "name: b\n");
	assert_int_equal(autosnap_tick(f->env, now + HOUR - 1, &cfg, &r), 0);
	assert_false(r.made);
	assert_int_equal(r.next, now + HOUR);
	/* due and changed */
	assert_int_equal(autosnap_tick(f->env, now + HOUR, &cfg, &r), 0);
	assert_true(r.made);
	/* due, but nothing changed since: none, whatever time passes (a
	 * snapshot taken by hand in between changes no table either) */
	take_snapshot(f->env, "by-hand");
	for (int h = 2; h < 30; h++) {
		assert_int_equal(
		        autosnap_tick(f->env, now + h * HOUR, &cfg, &r), 0);
		assert_false(r.made);
	}
	put_file(f->env, "agents/x.yaml", "name: x\n");
	assert_int_equal(autosnap_tick(f->env, now + 30 * HOUR, &cfg, &r), 0);
	assert_true(r.made);
	assert_true(has_snapshot(f->env, "by-hand"));
	/* off: nothing is taken */
	cfg.every = 0;
	put_file(f->env, "agents/x.yaml", "name: y\n");
	assert_int_equal(autosnap_tick(f->env, now + 60 * HOUR, &cfg, &r), 0);
	assert_false(r.made);
}

static void test_schedule_six_weeks(void **state)
{
	struct tmpenv *f = *state;
	struct autosnap_cfg cfg = { .every = HOUR };
	struct autosnap_result r;
	struct snap_names sn;
	int64_t now = MONDAY, end = MONDAY + 6 * 7 * DAY;
	unsigned made = 0, deleted = 0, autos = 0, in_last_day = 0;
	char content[64];

	assert_int_equal(retain_parse_keep("24h,7d,4w", &cfg.keep), 0);
	take_snapshot(f->env, "manual-start");
	for (; now < end; now += HOUR) {
		snprintf(content, sizeof(content), "name: step %lld\n",
		         (long long)now);
		put_file(f->env, "prompts/p.yaml", content);
		assert_int_equal(autosnap_tick(f->env, now, &cfg, &r), 0);
		made += r.made;
		deleted += r.deleted;
	}
	assert_int_equal(made, 6 * 7 * 24);
	snapshots(f->env, &sn);
	for (size_t i = 0; i < sn.n; i++) {
		int64_t t;

		if (retain_parse_auto_name(sn.name[i], &t) != 0)
			continue;
		autos++;
		if (t > end - DAY - HOUR)
			in_last_day++;
	}
	/* 24 hourly + 6 more daily + at most 3 more weekly */
	assert_in_range(autos, 24 + 6, 24 + 6 + 3);
	assert_int_equal(deleted, made - autos);
	assert_int_equal(in_last_day, 24);
	assert_true(has_snapshot(f->env, "manual-start"));
	{
		struct kv_check_report rep;

		assert_int_equal(kv_check(f->env, NULL, NULL, &rep), 0);
		assert_int_equal(rep.problems, 0);
	}
}

/* ---- the views -------------------------------------------------------- */

static void test_levels(void **state)
{
	char name[KV_MAX_NAME + 1];
	const char *rest = NULL;

	(void)state;
	assert_int_equal(sv_level("workflows/a.yaml", name, &rest), SV_NONE);
	assert_int_equal(sv_level(".snapshotsx", name, &rest), SV_NONE);
	assert_int_equal(sv_level(".snapshots", name, &rest), SV_TOP);
	assert_int_equal(sv_level(".snapshots/mon", name, &rest), SV_SNAP);
	assert_string_equal(name, "mon");
	assert_string_equal(rest, "");
	assert_int_equal(
	        sv_level(".snapshots/mon/workflows/a/b.yaml", name, &rest),
	        SV_INSIDE);
	assert_string_equal(name, "mon");
	assert_string_equal(rest, "workflows/a/b.yaml");
}

static void test_views(void **state)
{
	struct tmpenv *f = *state;
	struct names nm;
	struct node n;
	void *data;
	size_t len;

	put_dir(f->env, "prompts/coding");
	put_file(f->env, "prompts/coding/review.yaml", "name: old\n");
	put_file(f->env, "prompts/coding/.review.yaml.swp", "swap");
	put_file(f->env, "prompts/coding/notes.txt", "notes");
	take_snapshot(f->env, "mon");
	put_file(f->env, "prompts/coding/review.yaml", "name: new, longer\n");
	put_file(f->env, "prompts/coding/added.yaml", "name: added\n");

	nm.buf[0] = '\0';
	assert_int_equal(sv_list(f->env, ".snapshots", add_name, &nm), 0);
	assert_string_equal(nm.buf, "mon ");
	nm.buf[0] = '\0';
	assert_int_equal(sv_list(f->env, ".snapshots/mon", add_name, &nm), 0);
	assert_string_equal(nm.buf, "workflows agents prompts ");
	nm.buf[0] = '\0';
	assert_int_equal(
	        sv_list(f->env, ".snapshots/mon/prompts/coding", add_name, &nm),
	        0);
	assert_string_equal(nm.buf, "review.yaml "); /* no side files */
	assert_string_equal(list(f->env, "prompts/coding", &nm),
	                    ".review.yaml.swp added.yaml notes.txt "
	                    "review.yaml ");

	assert_int_equal(sv_node(f->env,
	                         ".snapshots/mon/prompts/coding/"
	                         "review.yaml",
	                         &n),
	                 0);
	assert_int_equal(n.mode, S_IFREG | 0444);
	assert_int_equal(n.size, strlen("name: old\n"));
	node_release(&n);
	assert_int_equal(sv_node(f->env, ".snapshots/mon", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0555);
	node_release(&n);
	assert_int_equal(sv_node(f->env, ".snapshots", &n), 0);
	assert_true(S_ISDIR(n.mode));
	node_release(&n);
	assert_int_equal(sv_node(f->env,
	                         ".snapshots/mon/prompts/coding/"
	                         "notes.txt",
	                         &n),
	                 -ENOENT);
	assert_int_equal(sv_node(f->env,
	                         ".snapshots/mon/prompts/coding/"
	                         "added.yaml",
	                         &n),
	                 -ENOENT);
	assert_int_equal(sv_node(f->env, ".snapshots/tue", &n), -ENOENT);
	assert_int_equal(sv_node(f->env, ".snapshots/mon/other", &n), -ENOENT);

	assert_int_equal(sv_content(f->env,
	                            ".snapshots/mon/prompts/coding/"
	                            "review.yaml",
	                            &data, &len),
	                 0);
	assert_int_equal(len, strlen("name: old\n"));
	assert_memory_equal(data, "name: old\n", len);
	free(data);
	assert_int_equal(
	        sv_content(f->env, ".snapshots/mon/prompts", &data, &len),
	        -EISDIR);
	assert_int_equal(sv_list(f->env,
	                         ".snapshots/mon/prompts/coding/"
	                         "review.yaml",
	                         add_name, &nm),
	                 -ENOTDIR);
}

static void test_restore(void **state)
{
	struct tmpenv *f = *state;
	char saved[SNAPS_SAVED_MAX];
	void *data;
	size_t len;
	struct names nm;
	char path[512];

	put_file(f->env, "workflows/w.yaml", "name: before\n");
	take_snapshot(f->env, "good");
	put_file(f->env, "workflows/w.yaml", "name: broken edit\n");
	put_file(f->env, "workflows/new.yaml", "name: new\n");
	assert_int_equal(snaps_restore(f->env, "good", MONDAY, saved), 0);
	assert_string_equal(saved, "before-restore-2026-11-02T000000Z");
	assert_string_equal(list(f->env, "workflows", &nm), "w.yaml ");
	assert_int_equal(sv_content(f->env, ".snapshots/good/workflows/w.yaml",
	                            &data, &len),
	                 0);
	free(data);
	/* what was replaced is kept */
	snprintf(path, sizeof(path), ".snapshots/%s/workflows/new.yaml", saved);
	assert_int_equal(sv_content(f->env, path, &data, &len), 0);
	assert_memory_equal(data, "name: new\n", len);
	free(data);
	/* a second restore in the same second gets its own name */
	assert_int_equal(snaps_restore(f->env, "good", MONDAY, saved), 0);
	assert_string_equal(saved, "before-restore-2026-11-02T000000Z-2");
	assert_int_equal(snaps_restore(f->env, "missing", MONDAY, saved),
	                 -ENOENT);
	{
		struct stx s;
		struct node n;
		kv_val v;

		assert_int_equal(stx_begin(f->env, false, &s), 0);
		assert_int_equal(store_node_get(&s, "workflows/w.yaml", &n), 0);
		assert_int_equal(
		        store_content_get(&s, "workflows/w.yaml", n.mode, &v),
		        0);
		assert_int_equal(v.len, strlen("name: before\n"));
		assert_memory_equal(v.data, "name: before\n", v.len);
		node_release(&n);
		stx_abort(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_keep_specs),
		cmocka_unit_test(test_auto_names),
		cmocka_unit_test(test_retention_hourly_for_ten_days),
		cmocka_unit_test(test_retention_edges),
		cmocka_unit_test(test_levels),
		cmocka_unit_test_setup_teardown(test_schedule_only_on_change,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_schedule_six_weeks, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
