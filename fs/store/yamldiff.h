/*
 * yamldiff: what changed between two versions of a record, as key paths
 * (`cccfs diff --yaml`):
 *
 *   steps[2].agent: reviewer -> triager
 *   + tags[3]: weekly
 *   - description: old text
 *
 * Both texts are parsed with libyaml into node trees (aliases resolved to
 * their anchors' nodes).  Mappings are compared by key: removed and
 * changed keys in the old order, then added ones in the new order.
 * Sequences are compared by index.  Scalars are compared by their text
 * (so `1` and `"1"` are the same value); a node that changes kind (a
 * scalar becoming a list) is one change, shown with `{...}` or `[...]`.
 * Pure code: libyaml only, no FUSE, no kv calls.
 */
#ifndef CCCFS_FS_YAMLDIFF_H
#define CCCFS_FS_YAMLDIFF_H

#include <stddef.h>
#include <stdio.h>

/* Deeper nodes are compared as one value; records are at most 64 deep
 * (yaml_check.h). */
#define YD_MAX_DEPTH 80

/*
 * Print the changes from a to b to out, one a line, each line starting
 * with prefix.  Returns the number of changes, or -EINVAL when either
 * text is not one YAML document (an empty text is an empty mapping), or
 * -ENOMEM.
 */
long yd_diff(const char *a, size_t alen, const char *b, size_t blen, FILE *out,
             const char *prefix);

#endif
