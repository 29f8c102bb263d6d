#!/usr/bin/env bash
# POSIX edges, each as ext4 and tmpfs behave on Linux 6.x (the values
# asserted are theirs, measured on both):
#   - set-user-ID and set-group-ID bits.  A write, truncate or O_TRUNC
#     open by a user other than root clears S_ISUID, and S_ISGID when
#     group-exec is set or the writer is not in the file's group; root's
#     keep them.  A chown or chgrp clears S_ISUID of anything but a
#     folder, even by root, and S_ISGID likewise unless it lacks
#     group-exec and the caller is root or in the file's group.  The
#     cleared bits stay cleared after a remount.  (Before, writes and
#     O_TRUNC opens left them all, a truncate left S_ISGID without
#     group-exec, and a chown by the owner cleared S_ISGID of folders
#     too.)
#   - ctime and mtime.  Every change of metadata moves the ctime, even one
#     to the same mode or owner, and chown(f, -1, -1), which the kernel
#     sends as a SETATTR with nothing to set (before, it changed
#     nothing); a utimensat() that omits both times moves nothing.
#     Writes and truncates move both, even of the same bytes or to the
#     same size; an open and close, or a write of nothing, neither.
#     chown(f, -1, -1) clears set-id bits like any chown, and so is
#     refused to other users when it would (EPERM).  A rename moves the
#     ctime of the entry renamed, file or folder, and RENAME_EXCHANGE
#     that of both (before, neither moved).
#   - a create whose reply the kernel never takes (its connection was
#     aborted while the daemon was inside it) releases the handle and the
#     lookup it made; before, the handle stayed open, and the daemon's
#     exit reported its O_TRUNC as unsaved writes dropped.
. "$(dirname "$0")/lib.sh"
mount_setup
need python3
need setpriv

# nobody runs Python from /usr/bin: root's python3 may be a shim it
# cannot reach
NPY=/usr/bin/python3
[ -x "$NPY" ] || NPY=$(command -v python3)

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

mode() { stat -c %a "$1"; }

# fresh NAME MODE [OWNER]: a file of two bytes, NAME, with that mode
fresh() {
	rm -f "$1"
	printf 'a\n' >"$1" && chown "${3:-root:root}" "$1" && chmod "$2" "$1" ||
		fail "cannot make $1 $2"
}

# nobody_py NAME CODE: run CODE as nobody with fd open on NAME (O_WRONLY)
nobody_py() {
	as_nobody "$NPY" -c "import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
$2
os.close(fd)" "$1"
}

mount_fs -o allow_other
chmod 0711 "$T"
D=$M/prompts/p
mkdir "$D" && chmod 0777 "$D" || fail "mkdir $D"
cd "$D" || fail "cd $D"

note "set-id bits: a write by a user other than root"
fresh w1 4777
as_nobody sh -c 'echo x >> w1' || fail "append to w1"
check_eq "$(mode w1)" 777 "4777 after an append by nobody"
fresh w2 2777
as_nobody sh -c 'echo x >> w2' || fail "append to w2"
check_eq "$(mode w2)" 777 "2777 after an append by nobody"
fresh w3 2666
as_nobody sh -c 'echo x >> w3' || fail "append to w3"
check_eq "$(mode w3)" 666 "2666 (group root) after an append by nobody"
fresh w4 2666 root:nogroup
as_nobody sh -c 'echo x >> w4' || fail "append to w4"
check_eq "$(mode w4)" 2666 "2666 (group nogroup) after an append by its member"
fresh w5 6777 nobody:nogroup
as_nobody sh -c 'echo x >> w5' || fail "append to w5"
check_eq "$(mode w5)" 777 "6777 after an append by its owner"
fresh w6 6777
nobody_py w6 'os.pwrite(fd, b"z", 0)' || fail "pwrite to w6"
check_eq "$(mode w6)" 777 "6777 after a pwrite by nobody"
check_file w6 "z"
fresh w7 6777
check_eq "$(nobody_py w7 'os.pwrite(fd, b"z", 0); print(oct(os.fstat(fd).st_mode & 0o7777))')" \
	0o777 "6777 seen by its writer before the close"
fresh w8 6777
echo x >>w8 || fail "append to w8"
check_eq "$(mode w8)" 6777 "6777 after an append by root"

note "set-id bits: truncate, ftruncate and O_TRUNC by a user other than root"
fresh t1 4777
as_nobody sh -c ': > t1' || fail "O_TRUNC of t1"
check_eq "$(mode t1)" 777 "4777 after an O_TRUNC open by nobody"
fresh t2 2777
as_nobody sh -c ': > t2' || fail "O_TRUNC of t2"
check_eq "$(mode t2)" 777 "2777 after an O_TRUNC open by nobody"
fresh t3 2666
as_nobody sh -c ': > t3' || fail "O_TRUNC of t3"
check_eq "$(mode t3)" 666 "2666 (group root) after an O_TRUNC open by nobody"
fresh t4 4777
as_nobody truncate -s 0 t4 || fail "truncate t4"
check_eq "$(mode t4)" 777 "4777 after truncate(2) by nobody"
fresh t5 2666
as_nobody truncate -s 1 t5 || fail "truncate t5"
check_eq "$(mode t5)" 666 "2666 (group root) after truncate(2) by nobody"
fresh t6 2666 root:nogroup
as_nobody truncate -s 1 t6 || fail "truncate t6"
check_eq "$(mode t6)" 2666 "2666 (group nogroup) after truncate(2) by its member"
fresh t7 2666
nobody_py t7 'os.ftruncate(fd, 1)' || fail "ftruncate t7"
check_eq "$(mode t7)" 666 "2666 (group root) after ftruncate by nobody"
fresh t8 6777
truncate -s 0 t8 && : >t8 || fail "truncate t8"
check_eq "$(mode t8)" 6777 "6777 after truncate(2) and O_TRUNC by root"

note "set-id bits: chown and chgrp"
fresh c1 4777
chown nobody c1 || fail "chown c1"
check_eq "$(mode c1)" 777 "4777 after chown by root"
fresh c2 6777
chown nobody c2 || fail "chown c2"
check_eq "$(mode c2)" 777 "6777 after chown by root"
fresh c3 6767
chown nobody c3 || fail "chown c3"
check_eq "$(mode c3)" 2767 "6767 after chown by root"
fresh c4 6755
chgrp nogroup c4 || fail "chgrp c4"
check_eq "$(mode c4)" 755 "6755 after chgrp by root"
fresh c5 6767 nobody:root
as_nobody chgrp nogroup c5 || fail "chgrp c5"
check_eq "$(mode c5)" 767 "6767 of group root after chgrp by its owner, not in it"
fresh c6 6767 nobody:nogroup
as_nobody chgrp nogroup c6 || fail "chgrp c6"
check_eq "$(mode c6)" 2767 "6767 of group nogroup after chgrp by its owner, in it"
mkdir c7 && chmod 6755 c7 && chown nobody c7 || fail "chown c7"
check_eq "$(mode c7)" 6755 "folder 6755 after chown by root"
mkdir c8 && chown nobody:root c8 && chmod 2775 c8 || fail "mkdir c8"
as_nobody chgrp nogroup c8 || fail "chgrp c8"
check_eq "$(mode c8)" 2775 "folder 2775 after chgrp by its owner"

note "set-id bits: cleared for good"
cd / || fail "cd /"
before=$(cd "$D" && stat -c '%n %a' -- *)
umount_fs
mount_fs -o allow_other
check_eq "$(cd "$D" && stat -c '%n %a' -- *)" "$before" "modes after a remount"

note "ctime and mtime: metadata changes, writes and truncates"
D=$M/prompts/q
mkdir "$D" && chmod 0777 "$D" || fail "mkdir $D"
cd "$D" || fail "cd $D"
times() { stat -c '%.9Z %.9Y' "$1"; }
# moved NAME WANT-CTIME WANT-MTIME CMD...: run CMD (after a pause) and
# check whether the ctime and the mtime of NAME moved (yes) or not (no)
moved() {
	local name=$1 want_c=$2 want_m=$3 t0 t1 c m
	shift 3
	t0=$(times "$name")
	sleep 0.02
	"$@" || fail "$*"
	t1=$(times "$name")
	c=no m=no
	[ "${t1% *}" != "${t0% *}" ] && c=yes
	[ "${t1#* }" != "${t0#* }" ] && m=yes
	check_eq "ctime $c mtime $m" "ctime $want_c mtime $want_m" "$*"
}
py() { "$NPY" -c "import os, sys; $1" "${@:2}"; }
fresh f 644
moved f yes no py 'os.chown(sys.argv[1], -1, -1)' f
moved f yes no chmod 644 f
moved f yes no chown root:root f
moved f yes no chgrp nogroup f
moved f yes no as_nobody "$NPY" -c 'import os; os.chown("f", -1, -1)'
moved f yes yes touch -m -d '2001-01-01' f
check_eq "$(stat -c %y f)" "2001-01-01 00:00:00.000000000 +0000" "mtime set"
moved f yes no touch -a f
moved f yes no py 'st = os.stat("f"); os.utime("f", ns=(st.st_atime_ns, st.st_mtime_ns))'
# utimensat() with UTIME_OMIT for both: nothing changes
moved f no no py 'import ctypes
omit = (1 << 30) - 2
ts = (ctypes.c_long * 4)(0, omit, 0, omit)
sys.exit(ctypes.CDLL(None).utimensat(-100, b"f", ts, 0))'
moved f yes yes sh -c 'echo y >> f'
moved f yes yes sh -c 'printf a | dd of=f conv=notrunc status=none'
moved f yes yes truncate -s 2 f
moved f yes yes py 'fd = os.open("f", os.O_WRONLY); os.ftruncate(fd, 2); os.close(fd)'
moved f yes yes sh -c ': > f'
moved f yes yes sh -c ': > f'
moved f no no py 'os.close(os.open("f", os.O_WRONLY))'
moved f no no py 'fd = os.open("f", os.O_WRONLY); os.write(fd, b""); os.close(fd)'
mkdir d || fail "mkdir d"
moved d yes no py 'os.chown(sys.argv[1], -1, -1)' d
moved d yes no chmod 755 d
moved f yes no sh -c 'mv f f2 && mv f2 f'
moved d yes no sh -c 'mv d d2 && mv d2 d'
fresh g 644
f0=$(times f) g0=$(times g)
sleep 0.02
py 'import ctypes
sys.exit(ctypes.CDLL(None).renameat2(-100, b"f", -100, b"g", 2))' ||
	fail "RENAME_EXCHANGE of f and g"
f1=$(times g) g1=$(times f) # each now at the other's name
[ "${f1% *}" != "${f0% *}" ] && [ "${f1#* }" = "${f0#* }" ] ||
	fail "RENAME_EXCHANGE: times of one side went from $f0 to $f1"
[ "${g1% *}" != "${g0% *}" ] && [ "${g1#* }" = "${g0#* }" ] ||
	fail "RENAME_EXCHANGE: times of the other went from $g0 to $g1"

note "chown(f, -1, -1) by another user that would clear set-id bits"
fresh s1 2767
as_nobody "$NPY" -c 'import os; os.chown("s1", -1, -1)' 2>/dev/null &&
	fail "nobody's chown(-1, -1) of a 2767 file of group root succeeded"
check_eq "$(mode s1)" 2767 "2767 after nobody's refused chown(-1, -1)"
fresh s2 4777
py 'os.chown("s2", -1, -1)' || fail "chown(-1, -1) of s2"
check_eq "$(mode s2)" 777 "4777 after root's chown(-1, -1)"
fresh s3 2767
py 'os.chown("s3", -1, -1)' || fail "chown(-1, -1) of s3"
check_eq "$(mode s3)" 2767 "2767 after root's chown(-1, -1)"

note "a create whose reply the kernel never takes drops its handle and lookup"
# The daemon is held inside the create by the store's writer lock (byte
# 2 of the lock file, which kv takes with an OFD lock; a POSIX lock
# conflicts with it); the connection is aborted meanwhile, so the reply
# that follows finds no request.  The handle was for writing with
# O_TRUNC, so pending: left behind it showed at the daemon's exit as
# "unsaved writes were dropped".
cd / || fail "cd /"
umount_fs
mount_fs
python3 - "$DB-lock" "$T/locked" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 1, 2)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
HOLDER=$!
FUSECTL=""
test_cleanup() {
	kill "$HOLDER" 2>/dev/null
	# a fusectl this test mounted goes with it
	[ -n "$FUSECTL" ] && umount /sys/fs/fuse/connections 2>/dev/null
}
for i in $(seq 1 100); do
	[ -e "$T/locked" ] && break
	sleep 0.05
done
[ -e "$T/locked" ] || fail "could not take the writer lock"
sh -c ": > '$M/prompts/created.txt'" 2>/dev/null &
CREATOR=$!
blocked=""
for i in $(seq 1 100); do
	grep -qx fcntl_setlk /proc/"$DAEMON_PID"/task/*/wchan 2>/dev/null &&
		blocked=1 && break
	sleep 0.05
done
[ -n "$blocked" ] || fail "the create did not reach the daemon's writer lock"
conn=$(awk -v m="$M" '$5 == m { split($3, d, ":"); print d[2] }' \
	/proc/self/mountinfo)
if [ ! -d /sys/fs/fuse/connections/"$conn" ] &&
	mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null; then
	FUSECTL=1
fi
echo 1 >/sys/fs/fuse/connections/"$conn"/abort ||
	fail "cannot abort FUSE connection $conn"
wait "$CREATOR" && fail "the create succeeded on an aborted connection"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
for i in $(seq 1 100); do
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running after the abort"
wait "$DAEMON_PID"
DAEMON_PID=""
fusermount3 -u "$M" || fail "cannot unmount the aborted mount"
if [ -n "$FUSECTL" ]; then
	umount /sys/fs/fuse/connections || fail "cannot unmount fusectl"
	FUSECTL=""
fi
grep -q 'unsaved writes were dropped' "$T/daemon.log" &&
	fail "the interrupted create left its handle: $(grep unsaved "$T/daemon.log")"
"$CCCFS" check "$DB" >/dev/null || fail "check after the aborted create"
