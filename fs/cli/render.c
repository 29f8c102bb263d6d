/*
 * render: `cccfs render [DB] PATH [-v NAME=VALUE]... [--label L]` prints a
 * prompt's template rendered (rendered.h, template.h): variables from -v
 * or their defaults, includes resolved, from the live tree or as a label
 * pins them.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pathmap.h"
#include "rendered.h"
#include "store.h"

const char cmd_render_usage[] =
        "usage: cccfs render [DB] PATH [-v NAME=VALUE]... [--label L]\n"
        "\n"
        "Print the template: of the prompt at PATH, rendered: each\n"
        "{{name}} replaced by its -v value (the last -v of a name wins) or\n"
        "its declared default, each {{> path}} by the template of\n"
        "prompts/path.yaml, rendered in its turn.  The first declaration\n"
        "along the includes, the prompt's own first, gives a variable its\n"
        "default.  A variable without a value is an error when it is\n"
        "required (declared without a default, or not declared), and empty\n"
        "when declared with required: false.  When the prompt has\n"
        "variables:, a -v of a name that neither it nor a prompt it\n"
        "includes declares is an error.  So are an include of a prompt\n"
        "that does not exist, a cycle of includes, and includes nested\n"
        "deeper than 16.\n"
        "\n"
        "--label L renders the versions label L pins: the prompt's (L must\n"
        "pin it) and each included prompt's; an included prompt L does not\n"
        "pin comes from the live tree.\n"
        "\n"
        "MOUNTPOINT/.rendered/ shows every prompt rendered with its\n"
        "defaults.  Works while mounted.  Exit 1 on any error "
        "above.\n" CLI_DEFAULT_DB_HELP "\n"
        "examples:\n"
        "  cccfs render prompts/coding/review.yaml -v lang=go\n"
        "  cccfs render ~/.local/share/cccfs/ccc.db prompts/coding/"
        "review.yaml --label production\n";

/* NAME=VALUE of -v, split in place; 0 or -EINVAL. */
static int split_value(char *arg, struct tpl_value *v)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL)
		return -EINVAL;
	*eq = '\0';
	if (!tpl_valid_name(arg)) {
		*eq = '=';
		return -EINVAL;
	}
	v->name = arg;
	v->value = eq + 1;
	return 0;
}

static int render(kv_env *env, const char *db, const char *path,
                  const char *label, const struct tpl_render_opts *o)
{
	char msg[TPL_MSG_MAX];
	struct rendered r;
	struct stx s;
	int rc = stx_begin(env, false, &s);

	if (rc != 0) {
		cli_fail(db, "read", rc);
		return 1;
	}
	rc = rendered_render(&s, path, label, o, &r, msg, sizeof(msg));
	stx_abort(&s);
	if (rc == 0 && !r.has_template) {
		fprintf(stderr, "cccfs: %s: the prompt has no template:\n",
		        path);
		rc = 1;
	} else if (rc == 0 && (fwrite(r.text, 1, r.len, stdout) != r.len ||
	                       fflush(stdout) != 0)) {
		perror("cccfs: stdout");
		rc = 1;
	} else if (rc == -EINVAL || rc == -ENOENT || rc == -EFBIG) {
		fprintf(stderr, "cccfs: %s: %s\n", path, msg);
	} else if (rc != 0) {
		cli_fail(db, path, rc);
	}
	free(r.text);
	return rc != 0;
}

int cmd_render(int argc, char **argv)
{
	const char *pos[2] = { 0 }, *label = NULL;
	char path[PM_PATH_MAX + 1];
	struct tpl_value *v = calloc((size_t)argc, sizeof(*v));
	struct tpl_render_opts o = { TPL_STRICT, v, 0 };
	int npos = 0, rc = 2;
	kv_env *env;

	if (v == NULL) {
		perror("cccfs");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0 && i + 1 < argc) {
			if (split_value(argv[++i], &v[o.nvalues]) != 0) {
				fprintf(stderr,
				        "cccfs: -v %s: NAME=VALUE, NAME a "
				        "variable name ([A-Za-z_][A-Za-z0-9_.-]"
				        "*)\n",
				        argv[i]);
				goto out;
			}
			o.nvalues++;
		} else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc &&
		           !label) {
			label = argv[++i];
		} else if (*argv[i] == '-' || npos == 2) {
			rc = cli_usage_error("render", cmd_render_usage);
			goto out;
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos == 0) {
		rc = cli_usage_error("render", cmd_render_usage);
		goto out;
	}
	if (cli_store_path(pos[npos - 1], path, sizeof(path)) != 0)
		goto out;
	if (pm_kind_of(path) != PM_PROMPTS ||
	    !pm_is_record_name(pm_basename(path))) {
		fprintf(stderr,
		        "cccfs: %s: not a prompt (a record below prompts/, "
		        "ending in .yaml or .yml)\n",
		        path);
		goto out;
	}
	pos[0] = cli_db_or_default(npos == 2 ? pos[0] : NULL);
	if (pos[0] == NULL)
		goto out;
	rc = 1;
	if (cli_open(pos[0], CLI_OPEN_READ, &env) != 0)
		goto out;
	rc = render(env, pos[0], path, label, &o);
	kv_env_close(env);
out:
	free(v);
	return rc;
}
