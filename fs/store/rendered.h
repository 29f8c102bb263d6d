/*
 * rendered: prompts' templates (template.h) against the store.  The save
 * check, whose includes are looked up in the tree; rendering, with the
 * includes read from the live tree or as a label pins them; and the
 * .rendered view, served through the snapshot views' entry points
 * (snaps.h).  Used by the daemon's validate(), cccfs render and cccfs
 * check.  Uses store.h, history.h, labels.h and template.h.  No FUSE.
 *
 *   .rendered              the prompts/ folder, rendered
 *   .rendered/DIR          a folder of prompts/
 *   .rendered/PATH.yaml    the prompt at prompts/PATH.yaml rendered:
 *                          includes resolved, defaults applied, a
 *                          variable without a default left as {{name}},
 *                          an include that cannot be rendered as written
 *
 * The view shows folders and records (no side files), read-only, a
 * record with the size of its rendering and, for a time, the newest of
 * its own and those of the prompts it includes.  Each call renders
 * afresh in its own read transaction: the view follows every save, so
 * nothing of it may be cached (sv_follows_live()).
 */
#ifndef CCCFS_FS_RENDERED_H
#define CCCFS_FS_RENDERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cccfs/kv.h>

#include "store.h"
#include "template.h"

#define RENDERDIR ".rendered"

/*
 * The save check (tpl_check()) of the record text at data, to be saved
 * at path below prompts/; its includes are read in s, or, s NULL, in a
 * read transaction of env begun only when there are any.  0, -EINVAL with
 * msg (n bytes), or an error of the store.
 */
int rendered_check(kv_env *env, struct stx *s, const char *path,
                   const void *data, size_t len, char *msg, size_t n);

struct rendered {
	char *text; /* malloc'd, NUL-terminated */
	size_t len;
	int64_t mtime;     /* the newest of the records it was made from */
	bool has_template; /* the prompt has a template: */
};

/*
 * Render the prompt at path (a record below prompts/) as s holds it, or,
 * with label, in the version the label pins; each include then in the
 * version the label pins, or the live one when it pins none.  0 with r
 * filled (free r->text); -ENOENT with msg when there is no such prompt,
 * no such label or the label does not pin path; tpl_render()'s errors
 * with its msg.
 */
int rendered_render(struct stx *s, const char *path, const char *label,
                    const struct tpl_render_opts *o, struct rendered *r,
                    char *msg, size_t n);

/* ---- the .rendered view ----------------------------------------------- */

/* True for .rendered and the paths below it; *rest (unless NULL) gets the
 * part below it, NULL for .rendered itself. */
bool rv_is(const char *path, const char **rest);
int rv_join(char *buf, size_t n, const char *parent, const char *name);
int rv_node(kv_env *env, const char *path, struct node *n);
int rv_list(kv_env *env, const char *path,
            int (*fn)(void *ctx, const char *name, const struct node *n),
            void *ctx);
int rv_content(kv_env *env, const char *path, void **data, size_t *len);

#endif
