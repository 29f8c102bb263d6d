/*
 * refs: the references between records, and their index.
 *
 * A record refers to others by name, in these places only:
 *
 *   agents: [NAME, ...]          agents/NAME.yaml
 *   prompts: [PATH, ...]         prompts/PATH.yaml (PATH below prompts/,
 *                                e.g. coding/review)
 *   steps: [{agent: NAME, prompt: PATH, ...}, ...]
 *
 * (a .yml record answers to the same name when no .yaml one exists).
 * refs_each() finds them in a record's text with libyaml's events (pure:
 * no kv calls); the rest keeps an index in the same transaction as every
 * save, so "what refers to this record" is one range scan:
 *
 *   table  key                    value
 *   -----  ---------------------  --------------------------------------
 *   refs   TARGET "\0" SOURCE     how many references SOURCE makes to
 *                                 TARGET (u32)
 *
 * TARGET is the path a name stands for, whether or not a record is there:
 * a reference to a record that does not exist (yet) is indexed too, and
 * is what `cccfs check --refs` reports.  Used by store.c (the hooks), the
 * refs, check and mv commands; refs_move() is mv's whole change.
 */
#ifndef CCCFS_FS_REFS_H
#define CCCFS_FS_REFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "pathmap.h"
#include "store.h"

#define REFS_TABLE "refs"

enum ref_kind { REF_AGENT, REF_PROMPT };

struct ref {
	enum ref_kind kind;
	const char *name; /* the scalar's value, not NUL-terminated */
	size_t len;
	size_t line, column; /* 1-based, where the scalar starts */
	size_t start, end;   /* its bytes in the text, quotes included */
};

/*
 * Call fn for every reference in a record's text, in document order.
 * Text that does not parse has none (0 is returned).  A non-zero return
 * from fn stops the walk and is returned; -ENOMEM.
 */
int refs_each(const char *text, size_t len,
              int (*fn)(void *ctx, const struct ref *r), void *ctx);

/*
 * The same walk fed one libyaml event at a time, for a caller that parses
 * the text anyway: refs_walk_init(), then refs_walk_event() with each
 * event in order while it returns 0 (else: fn's non-zero return) and
 * done is false (the first document ended, or nesting went past
 * REFS_MAX_FRAMES, below which nothing is looked at).  The other fields
 * are the walk's own.
 */
#define REFS_MAX_FRAMES 80
struct refs_frame {
	int role;           /* what the collection is (refs.c) */
	bool map, want_key; /* a mapping, waiting for a key (not a value) */
	int key;            /* the last key read: a role */
};
struct refs_walk {
	struct refs_frame st[REFS_MAX_FRAMES];
	bool done;
	int depth, docs;
	const unsigned char *text; /* for the byte offsets of marks, which */
	size_t len, ci, bi;        /* libyaml counts in characters */
	int (*fn)(void *ctx, const struct ref *r);
	void *ctx;
};
void refs_walk_init(struct refs_walk *w, const char *text, size_t len,
                    int (*fn)(void *ctx, const struct ref *r), void *ctx);
int refs_walk_event(struct refs_walk *w, const yaml_event_t *ev);

/*
 * The references of one text, kept from a parse made anyway (the save's
 * validation: ref_set_collect() with yaml_check_events()), with copies of
 * their names.  Handed to the store as stx.refs_new, refs_update() takes
 * them instead of parsing that text again.  failed: a copy could not be
 * made, and the set is not to be used.
 */
struct ref_set {
	const void *text; /* the text they are of, and its length */
	size_t len;
	struct ref *v;
	size_t n, cap;
	bool failed;
	struct refs_walk walk;
};
/* Begin collecting the references of text (its events follow). */
void ref_set_init(struct ref_set *rs, const void *text, size_t len);
/* For yaml_check_events(): one event of rs's text, in order. */
int ref_set_event(void *rs, const yaml_event_t *ev);
/* Whether rs holds every reference of text (and of nothing else). */
bool ref_set_usable(const struct ref_set *rs, const void *text, size_t len);
void ref_set_release(struct ref_set *rs);

/* The path a reference names, into buf (PM_PATH_MAX + 1 bytes): with
 * .yaml, or .yml when exists (may be NULL) says only that one exists.
 * -EINVAL for a name that can name no record ("", "..", "a//b"). */
int refs_target(const struct ref *r, char *buf, size_t n,
                bool (*exists)(void *ctx, const char *path), void *ctx);

/*
 * The references of text to records that do not exist in s, as one line:
 * "line 2, column 20: agent 'ghost' does not exist; line 7, ..." into msg
 * (size n, cut with "..." when longer); *count gets how many.  The value
 * of user.cccfs.warning.
 */
int refs_dangling(struct stx *s, const char *text, size_t len, char *msg,
                  size_t n, uint64_t *count);

/* ---- the index (store.c calls these inside the write transaction) ---- */

/* The record at path changes from old to new (either may be NULL). */
int refs_update(struct stx *s, const char *path, const void *old,
                size_t old_len, const void *new, size_t new_len);

/*
 * In write transaction s: rename the record old to new and rewrite every
 * reference to it in the records that make one (each saved once, so one
 * new version each), in the quoting style each had (cccfs mv).  new must
 * not exist (-EEXIST) and its folder must (-ENOTDIR); old must be a
 * record (-ENOENT, -EISDIR).  A rewrite that would leave a record
 * invalid is -EINVAL, with the record in bad and the reason in msg.
 * When the new name is of another kind or one no reference can use, the
 * references are left as they are and dangling is set.
 */
struct refs_move {
	unsigned refs, records; /* rewritten, and the records they are in */
	bool dangling;
	char bad[PM_PATH_MAX + 1];
	char msg[256];
};
int refs_move(struct stx *s, const char *old, const char *new,
              struct refs_move *res);

/* Call fn with every record that refers to target, in path order. */
int refs_to(struct stx *s, const char *target,
            int (*fn)(void *ctx, const char *source, uint32_t count),
            void *ctx);

#endif
