#!/usr/bin/env bash
# The README's first run, as a new user would do it: clone the repository
# (its committed HEAD: work not yet committed is not in a clone), point
# HOME and XDG_DATA_HOME at empty folders, and run `scripts/run MOUNTPOINT`.
# It must build, create and seed the store, and mount it; link the cccfs
# command into ~/.local/bin and its bash completion where bash-completion
# looks, say how to put ~/.local/bin on PATH, and print next steps that
# run plain `cccfs` and leave DB out, which must reach the store made
# (cccfs's default store).  The mount must hold exactly the sample tree, every
# record must pass `cccfs check`, and a second `scripts/run` must say the
# store is already mounted and change nothing; a third, for a user whose
# ~/.local/bin/cccfs is a file of their own, must leave that file alone.
# The exit trap always unmounts and stops the daemon.
#
#   fresh.sh SOURCEDIR
set -u
src=${1:?usage: fresh.sh SOURCEDIR}
# meson test points LD_LIBRARY_PATH at *this* build's engine; the clone's
# cccfs must load its own.
unset LD_LIBRARY_PATH

T=""
M=""
DB=""
fail() {
	echo "FAIL [fresh]: $*" >&2
	exit 1
}
note() {
	echo "[fresh] $*"
}
is_mounted() {
	grep -q " $1 fuse" /proc/mounts
}
cleanup() {
	local rc=$? p
	cd /
	if [ -n "$M" ] && is_mounted "$M"; then
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null
	fi
	if [ -n "$DB" ]; then
		for p in $(pgrep -f -- "$DB" 2>/dev/null); do
			[ "$p" != "$$" ] && kill -9 "$p" 2>/dev/null
		done
	fi
	if [ -n "$T" ] && [ -z "${CCCFS_KEEP:-}" ]; then
		rm -rf "$T"
	fi
	[ $rc -eq 0 ] && echo "[fresh] PASS"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

git -C "$src" rev-parse --verify -q HEAD >/dev/null || {
	echo "[fresh] SKIP: $src is not a git checkout with a commit"
	exit 77
}
T=$(mktemp -d /var/tmp/cccfs-fresh.XXXXXX) || fail "mktemp"
export HOME=$T/home
export XDG_DATA_HOME=$T/data
mkdir "$HOME" "$XDG_DATA_HOME" || fail "mkdir"
M=$T/mnt
DB=$XDG_DATA_HOME/cccfs/ccc.db
clone=$T/cccfs

note "git clone"
git clone -q "$src" "$clone" 2>"$T/clone.log" ||
	fail "git clone: $(cat "$T/clone.log")"

note "scripts/run $M (builds in the clone)"
start=$(date +%s)
"$clone/scripts/run" "$M" >"$T/run1.out" 2>&1 ||
	fail "scripts/run exited $?: $(tail -n 30 "$T/run1.out")"
note "first run took $(( $(date +%s) - start ))s"
is_mounted "$M" || fail "scripts/run did not mount $M"
[ -f "$DB" ] || fail "no store at $DB"
check_mode=$(stat -c %a "$DB")
[ "$check_mode" = 600 ] || fail "store mode $check_mode, want 600"
grep -q "Created $DB" "$T/run1.out" ||
	fail "first run did not say it created the store: $(cat "$T/run1.out")"
[ -d "$clone/build/release/tests" ] &&
	[ -n "$(find "$clone/build/release/tests" -name 'test-*' -type f)" ] &&
	fail "scripts/run built test programs"

note "cccfs on PATH through ~/.local/bin, its completion, the steps"
cccfs=$clone/build/release/fs/cccfs
link=$HOME/.local/bin/cccfs
[ -L "$link" ] || fail "no symlink $link: $(ls -la "$HOME/.local/bin" 2>&1)"
[ "$(readlink "$link")" = "$cccfs" ] ||
	fail "$link points to $(readlink "$link"), want $cccfs"
version=$("$link" --version 2>&1) || fail "$link --version: $version"
case $version in
"cccfs "[0-9]*) ;;
*) fail "$link --version said: $version" ;;
esac
comp=$XDG_DATA_HOME/bash-completion/completions/cccfs
[ -L "$comp" ] || fail "no completion link at $comp"
[ "$(readlink "$comp")" = "$clone/scripts/cccfs-completion.bash" ] ||
	fail "$comp points to $(readlink "$comp")"
bash -c ". '$comp' && complete -p cccfs" >/dev/null 2>&1 ||
	fail "$comp does not define a completion for cccfs"
grep -qF "$HOME/.local/bin is not on your PATH" "$T/run1.out" ||
	fail "no PATH hint (~/.local/bin is not on PATH): $(cat "$T/run1.out")"
grep -qxF '  export PATH="$HOME/.local/bin:$PATH"' "$T/run1.out" ||
	fail "no line for ~/.bashrc in: $(cat "$T/run1.out")"
grep -q "^  cccfs snapshot list " "$T/run1.out" ||
	fail "the steps do not run plain cccfs: $(cat "$T/run1.out")"
grep -F "$DB" "$T/run1.out" | grep '^  cccfs' &&
	fail "a step names the store, which is cccfs's default"
# the steps leave DB out: they must reach the store scripts/run made
"$link" snapshot list >"$T/steps.out" 2>&1 ||
	fail "cccfs snapshot list: $(cat "$T/steps.out")"
"$link" stat >"$T/steps.out" 2>&1 || fail "cccfs stat: $(cat "$T/steps.out")"
grep -qx "file            $DB" "$T/steps.out" ||
	fail "cccfs stat opened another store: $(cat "$T/steps.out")"
grep -q "^  cccfs umount $M " "$T/run1.out" ||
	fail "no plain cccfs umount step: $(cat "$T/run1.out")"
grep -F "build/release/fs/cccfs" "$T/run1.out" | grep -v '^Linked' &&
	fail "a step names the build's binary"

note "the sample tree is in the mount"
sample=$clone/scripts/sample
want=$(cd "$sample" && find workflows agents prompts -type f | wc -l)
got=$(cd "$M" && find workflows agents prompts -type f | wc -l)
[ "$want" -gt 0 ] || fail "scripts/sample is empty"
[ "$got" = "$want" ] || fail "$got files in the mount, $want in scripts/sample"
for k in workflows agents prompts; do
	diff -r "$sample/$k" "$M/$k" >"$T/diff.out" 2>&1 ||
		fail "$k differs from scripts/sample: $(head -n 20 "$T/diff.out")"
done

note "the sample's label, references and history"
for r in prompts/coding/review.yaml agents/reviewer.yaml workflows/code-review.yaml; do
	cmp -s "$M/.labels/production/$r" "$sample/$r" ||
		fail ".labels/production/$r is not the sample's $r"
done
"$cccfs" check --refs "$DB" >"$T/refs.out" 2>&1 ||
	fail "the sample has dangling references: $(cat "$T/refs.out")"
[ "$(ls "$M/.history/prompts/coding/review.yaml" | wc -l)" = 1 ] ||
	fail "the sample's review prompt has no single first version"

note "every record passes cccfs check"
"$cccfs" check "$DB" >"$T/check.out" 2>&1 ||
	fail "cccfs check exited $?: $(cat "$T/check.out")"
grep -q " $want records, 0 problems" "$T/check.out" ||
	fail "cccfs check: $(cat "$T/check.out")"

note "a second scripts/run changes nothing"
# Let the commit timer make the seeding durable first: the file must be
# still before it is compared.
sum=$(md5sum <"$DB")
for i in $(seq 1 40); do
	sleep 0.5
	now=$(md5sum <"$DB")
	[ "$now" = "$sum" ] && [ "$i" -ge 4 ] && break
	sum=$now
done
tree=$(cd "$M" && find . -type f -exec md5sum {} + | sort)
# this time with ~/.local/bin on PATH: no hint, and nothing to link
PATH=$HOME/.local/bin:$PATH "$clone/scripts/run" "$M" >"$T/run2.out" 2>&1 ||
	fail "second scripts/run exited $?: $(cat "$T/run2.out")"
grep -q "already mounted" "$T/run2.out" ||
	fail "second run did not say it is already mounted: $(cat "$T/run2.out")"
[ "$(md5sum <"$DB")" = "$sum" ] || fail "the second run changed the store"
[ "$(cd "$M" && find . -type f -exec md5sum {} + | sort)" = "$tree" ] ||
	fail "the second run changed the tree"
grep -E "not on your PATH|^Linked|^Not linking" "$T/run2.out" &&
	fail "second run, ~/.local/bin on PATH and linked: $(cat "$T/run2.out")"

note "a ~/.local/bin/cccfs of the user's own is left alone"
home2=$T/home2
mkdir -p "$home2/.local/bin" || fail "mkdir $home2"
printf '#!/bin/sh\necho mine\n' >"$home2/.local/bin/cccfs"
chmod +x "$home2/.local/bin/cccfs"
HOME=$home2 "$clone/scripts/run" "$M" >"$T/run3.out" 2>&1 ||
	fail "third scripts/run exited $?: $(cat "$T/run3.out")"
grep -qF "Not linking the cccfs command: $home2/.local/bin/cccfs exists" \
	"$T/run3.out" || fail "third run did not say so: $(cat "$T/run3.out")"
[ ! -L "$home2/.local/bin/cccfs" ] &&
	[ "$("$home2/.local/bin/cccfs")" = mine ] ||
	fail "the user's own ~/.local/bin/cccfs was replaced"
grep -q "not on your PATH" "$T/run3.out" &&
	fail "PATH hint for a cccfs that is not ours: $(cat "$T/run3.out")"
[ "$(md5sum <"$DB")" = "$sum" ] || fail "the third run changed the store"

note "unmount"
fusermount3 -u "$M" || fail "fusermount3 -u $M"
for i in $(seq 1 100); do
	pgrep -f -- "$DB" >/dev/null || break
	sleep 0.05
done
pgrep -f -- "$DB" >/dev/null && fail "daemon still running after unmount"
"$cccfs" check "$DB" >"$T/check.out" 2>&1 ||
	fail "cccfs check after unmount: $(cat "$T/check.out")"
exit 0
