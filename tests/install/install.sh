#!/usr/bin/env bash
# Install the build into a temporary DESTDIR and use the engine the way
# another program would: its header and library found through
# `pkg-config --cflags --libs cccfs-kv`, a database created, a key put and
# read back.  Also: the installed cccfs runs, the manual page is in man1,
# the bash completion in bash-completion's completions folder.
#
#   install.sh BUILDDIR VERSION SANITIZE CC...
# SANITIZE is meson's b_sanitize ("none" or e.g. "address,undefined"): an
# instrumented library needs its program built with the same flags.
set -u
build=${1:?usage: install.sh BUILDDIR VERSION SANITIZE CC...}
version=$2
sanitize=$3
shift 3
cc=("$@")
[ ${#cc[@]} -gt 0 ] || cc=(cc)

T=""
cleanup() {
	local rc=$?
	[ -n "$T" ] && rm -rf "$T"
	[ $rc -eq 0 ] && echo "[install] PASS"
	exit $rc
}
fail() {
	echo "FAIL [install]: $*" >&2
	exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T=$(mktemp -d /tmp/cccfs-install.XXXXXX) || fail "mktemp"
dest=$T/dest

echo "[install] meson install --destdir"
meson install -C "$build" --no-rebuild --quiet --destdir "$dest" \
	>"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; fail "meson install"; }

pc=$(find "$dest" -name cccfs-kv.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "cccfs-kv.pc was not installed"
pcdir=$(dirname "$pc")
export PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_SYSROOT_DIR=$dest

got=$(pkg-config --modversion cccfs-kv) || fail "pkg-config cannot read $pc"
[ "$got" = "$version" ] || fail "pkg-config version '$got', want '$version'"
cflags=$(pkg-config --cflags cccfs-kv) || fail "pkg-config --cflags"
libs=$(pkg-config --libs cccfs-kv) || fail "pkg-config --libs"
case " $cflags " in
*" -I$dest/"*) ;;
*) fail "cflags '$cflags' miss the DESTDIR include folder" ;;
esac
case " $libs " in
*" -L$dest/"*) ;;
*) fail "libs '$libs' miss the DESTDIR library folder" ;;
esac
libdir=${libs#*-L}
libdir=${libdir%% *}
[ -f "$(pkg-config --variable=includedir cccfs-kv)/cccfs/kv.h" ] ||
	fail "kv.h is not in the include folder pkg-config names"

echo "[install] a program against the installed engine"
cat >"$T/hello.c" <<'C'
/* Create a database, put a key, read it back: the installed API only. */
#include <stdio.h>
#include <string.h>

#include <cccfs/kv.h>

static int check(int rc, const char *what)
{
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", what, kv_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	kv_env *env;
	kv_txn *txn;
	kv_table *t;
	kv_val key = { "hello", 5 }, val = { "world", 5 }, got;
	int rc;

	if (argc != 2)
		return 2;
	if (check(kv_env_open(&env, argv[1], KV_CREATE, 0600), "open"))
		return 1;
	rc = check(kv_txn_begin(env, 0, &txn), "begin");
	if (rc == 0) {
		rc = check(kv_table_open(txn, "greetings", KV_TABLE_CREATE, &t),
		           "table") ||
		     check(kv_put(txn, t, key, val, 0), "put");
		if (rc == 0)
			rc = check(kv_txn_commit(txn), "commit");
		else
			kv_txn_abort(txn);
	}
	if (rc == 0)
		rc = check(kv_txn_begin(env, KV_TXN_RDONLY, &txn), "begin ro");
	if (rc == 0) {
		rc = check(kv_table_open(txn, "greetings", 0, &t), "table ro") ||
		     check(kv_get(txn, t, key, &got), "get");
		if (rc == 0 && (got.len != 5 || memcmp(got.data, "world", 5))) {
			fprintf(stderr, "get: wrong value\n");
			rc = 1;
		}
		kv_txn_abort(txn);
	}
	kv_env_close(env);
	if (rc == 0)
		printf("%s %.*s\n", KV_VERSION_STRING, (int)got.len, "world");
	return rc ? 1 : 0;
}
C
san=()
[ "$sanitize" != none ] && san=("-fsanitize=$sanitize")
# shellcheck disable=SC2086 # pkg-config output is a list of flags
"${cc[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror "${san[@]}" \
	$cflags -o "$T/hello" "$T/hello.c" $libs >"$T/cc.log" 2>&1 ||
	{ cat "$T/cc.log" >&2; fail "compiling against the installed engine"; }
out=$(LD_LIBRARY_PATH=$libdir "$T/hello" "$T/hello.db" 2>&1) ||
	fail "the program failed: $out"
[ "$out" = "$version world" ] || fail "program printed '$out'"
LD_LIBRARY_PATH=$libdir ldd "$T/hello" >"$T/ldd.out" 2>&1
grep -q "libcccfs-kv.so.* => $libdir/" "$T/ldd.out" ||
	fail "the program did not load the installed library: $(cat "$T/ldd.out")"

echo "[install] the cccfs command and its manual page"
bin=$(find "$dest" -path '*/bin/cccfs' -type f | head -n 1)
[ -n "$bin" ] || fail "cccfs was not installed into a bin folder"
got=$(LD_LIBRARY_PATH=$libdir "$bin" --version) ||
	fail "installed cccfs --version"
[ "$got" = "cccfs $version" ] || fail "installed cccfs --version: '$got'"
man=$(find "$dest" -path '*/man/man1/cccfs.1' -type f | head -n 1)
[ -n "$man" ] || fail "the manual page was not installed into man1"
comp=$(find "$dest" -path '*/bash-completion/completions/cccfs' -type f |
	head -n 1)
[ -n "$comp" ] || fail "the bash completion was not installed"
bash -c ". '$comp' && complete -p cccfs" >/dev/null 2>&1 ||
	fail "the installed bash completion defines no completion for cccfs"
if command -v groff >/dev/null; then
	warn=$(groff -man -ww -z "$man" 2>&1)
	[ -z "$warn" ] || fail "groff warns about the manual page: $warn"
fi
exit 0
