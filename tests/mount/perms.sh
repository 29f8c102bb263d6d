#!/usr/bin/env bash
# Permissions where the daemon checks them (fs/daemon/perm.c): a store
# mounted by a user other than root, without allow_other, is mounted
# without default_permissions, so no mode bit is checked by the kernel.
# User nobody mounts one and runs the cases of perms.py in it and in a
# plain folder; every case must end the same in both, error for error.
# The folder cases run after a remount, on names the kernel has not
# looked up yet; a name it holds is refused soon after its folder loses
# search permission (expired, not left for its minute).  A mount with
# allow_other keeps default_permissions.
#
# /dev/fuse on these machines is root's alone, so the test runs in a
# mount namespace of its own where a copy of the device node anyone may
# open is bound over it; fusermount3 mounts for nobody there.
if [ -z "${PERMS_NS:-}" ] && [ "$(id -u)" = 0 ] &&
	command -v unshare >/dev/null; then
	PERMS_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || [ -z "${PERMS_NS:-}" ] ||
	! command -v setpriv >/dev/null; then
	echo "[$TEST_NAME] SKIP: needs root, unshare and setpriv"
	exit 77
fi
mount_setup
need python3
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
HERE=$(cd "$(dirname "$0")" && pwd)
# the system's: one in root's home (pyenv) is not nobody's to run
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
chmod 755 "$T" || fail "chmod $T"
mknod "$T/fuse" c 10 229 && chmod 666 "$T/fuse" || fail "mknod"
mount --bind "$T/fuse" /dev/fuse || fail "bind $T/fuse over /dev/fuse"
mkdir -p "$T/store" "$T/plain/prompts" || fail "mkdir"
chown 65534:65534 "$T/store" "$T/plain" "$T/plain/prompts" "$M" ||
	fail "chown"
DB=$T/store/store.db

mount_nobody() {
	"${NOBODY[@]}" "$CCCFS" mount -f "$DB" "$M" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_mounted
}

cases() { # phase
	local where
	for where in "$T/plain" "$M"; do
		"${NOBODY[@]}" "$PY" "$HERE/perms.py" "$where" "$1" \
			>"$T/$1.$(basename "$where")" 2>&1 ||
			fail "$1 cases in $where: $(tail -3 "$T/$1.$(basename "$where")")"
	done
	if ! diff -au "$T/$1.plain" "$T/$1.mnt" >"$T/$1.diff"; then
		cat "$T/$1.diff"
		fail "$1: the mount and the plain folder differ (above)"
	fi
	echo "$(grep -c . "$T/$1.plain") $1 cases alike"
}

mount_nobody
grep " $M fuse" /proc/mounts | grep -q default_permissions &&
	fail "a mount of its owner alone has default_permissions"
note "file modes, exec, xattrs, times, owners"
cases files
grep -q "^000 open r: EACCES" "$T/files.mnt" &&
	grep -q "^100 exec: ok 0" "$T/files.mnt" &&
	grep -q "^010 exec: EACCES" "$T/files.mnt" ||
	fail "the cases did not check what they should: $(head "$T/files.mnt")"

note "folder modes, on names the kernel has not looked up"
cases setup
umount_fs
mount_nobody
cases dirs
grep -q "^600 stat: EACCES" "$T/dirs.mnt" &&
	grep -q "^500 create: EACCES" "$T/dirs.mnt" ||
	fail "the folder cases did not check what they should"

note "a name the kernel holds, after its folder loses search permission"
"${NOBODY[@]}" sh -c "cd '$M/prompts' && mkdir c && echo x > c/f.txt &&
	cat c/f.txt >/dev/null && chmod 600 c" || fail "making c"
refused=
for i in $(seq 1 50); do
	if ! "${NOBODY[@]}" stat "$M/prompts/c/f.txt" >/dev/null 2>&1; then
		refused=$i
		break
	fi
	sleep 0.1
done
[ -n "$refused" ] || fail "c/f.txt still reachable 5 s after chmod 600 c"
"${NOBODY[@]}" stat "$M/prompts/c/f.txt" 2>&1 | grep -q "Permission denied" ||
	fail "c/f.txt: not refused with EACCES"
umount_fs

note "allow_other: the kernel checks (default_permissions)"
chown -R 0:0 "$T/store" "$M" || fail "chown"
# -o twice: both count (the first was dropped before)
mount_fs -o allow_other -o snapdir=visible
grep " $M fuse" /proc/mounts | grep -q "allow_other" ||
	fail "the first of two -o was dropped"
ls -a "$M" | grep -qx .snapshots || fail "the second of two -o was dropped"
grep " $M fuse" /proc/mounts | grep -q default_permissions ||
	fail "allow_other without default_permissions"
umount_fs
