/*
 * yaml_check: decide whether bytes may be stored as a record.  Uses libyaml
 * events only; no FUSE or kv calls.  Used by fs/store/store.c (before every record
 * commit) and by `cccfs check`.
 *
 * A record is valid when:
 *   - it is empty (or only comments/whitespace), or one YAML document whose
 *     top level is a mapping;
 *   - top-level keys are unique, compared as bytes (a quoted key may hold
 *     "\0", so "a\0" and a differ);
 *   - every alias refers to an anchor defined before it (the most recent
 *     definition, as anchors may be redefined);
 *   - the known keys have the right shape, judged on the raw text (no YAML
 *     1.1 type resolution, so `status: off` is the string "off"):
 *       name, description, status   a scalar that is not null
 *       agents, prompts, steps, tags a sequence
 *     and an alias there is judged by the node its anchor was defined on
 *     (never expanded, so an alias bomb costs only its text);
 *   - nesting is at most YC_MAX_DEPTH collections deep.
 */
#ifndef CCCFS_FS_YAML_CHECK_H
#define CCCFS_FS_YAML_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#define YC_MAX_DEPTH 64
#define YC_MSG_MAX 256

/*
 * Validate len bytes at data.  Returns 0 when valid, -EINVAL when not (msg
 * then holds "line L, column C: reason" with 1-based L and C), or -ENOMEM.
 * msg (size msglen) may be NULL.  A key or anchor quoted in msg has its
 * control characters escaped as in YAML ("\0", "\x1b"), and past 64 bytes
 * ends in "...", so msg is safe to print or log.
 *
 * Time and memory are linear in len (expected).
 */
int yaml_check(const void *data, size_t len, char *msg, size_t msglen);

/* The same, handing each event to also(ctx, event) as well, in order,
 * until it returns non-zero: what else needs the text's events (its
 * references, refs.h) gets them from the same parse. */
int yaml_check_events(const void *data, size_t len, char *msg, size_t msglen,
                      int (*also)(void *ctx, const yaml_event_t *ev),
                      void *ctx);

/* The key sets hash with a seed drawn at random once a process, so that
 * no file can be made to collide; fuzzing fixes it to be repeatable. */
void yaml_check_seed(uint64_t seed);

#endif
