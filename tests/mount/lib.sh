# Shared helpers for the real-mount tests.  Source it, then call
# mount_setup; every test gets a private directory under /var/tmp (vim
# skips its backup under /tmp), a store, a mount point, and an EXIT trap
# that unmounts, reaps the daemon and removes the directory.
#
#   CCCFS        path of the cccfs binary (first argument of the script)
#   T            private directory;  DB  store file;  M  mount point
#   XDG_DATA_HOME  $T/data: where a command with DB left out looks
#   mount_fs [extra args]   mount in the foreground, in the background
#   umount_fs               unmount and wait for the daemon to exit
#   fail MSG / check_eq GOT WANT WHAT / check_file PATH CONTENT
#   test_cleanup            define it for extra teardown; the trap calls it
#   scratch_mount DIR SIZE [OPTS]   a size-limited tmpfs, unmounted at exit
#   bind_file SRC FILE      SRC bind-mounted on FILE, unmounted at exit
#   daemon_kb PID FIELD     VmRSS or VmHWM of a process, in KiB
#   is_asan                 the cccfs binary is built with AddressSanitizer

set -u

CCCFS=${1:?usage: $0 PATH-TO-CCCFS}
case $CCCFS in /*) ;; *) CCCFS=$(pwd)/$CCCFS ;; esac
TEST_NAME=$(basename "$0" .sh)
T=""
M=""
DB=""
DAEMON_PID=""
SCRATCH_MOUNTS=""

fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	if [ -n "$T" ] && [ -s "$T/daemon.log" ]; then
		if grep -q 'ERROR: .*Sanitizer\|runtime error:' "$T/daemon.log"; then
			echo "--- daemon sanitizer report ---" >&2
			grep -A 60 'ERROR: .*Sanitizer\|runtime error:' "$T/daemon.log" |
				grep -v '^  0x\|^=>' | head -n 80 >&2
		else
			echo "--- daemon log (last 30 lines) ---" >&2
			tail -n 30 "$T/daemon.log" >&2
		fi
	fi
	exit 1
}

note() {
	echo "[$TEST_NAME] $*"
}

is_mounted() {
	grep -q " $1 fuse" /proc/mounts
}

cleanup() {
	local rc=$?
	cd /
	# a test's own teardown (extra mounts, helper processes) runs first
	if [ "$(type -t test_cleanup)" = function ]; then
		test_cleanup
	fi
	if [ -n "$M" ] && is_mounted "$M"; then
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null
	fi
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill "$DAEMON_PID" 2>/dev/null
		sleep 0.2
		kill -9 "$DAEMON_PID" 2>/dev/null
	fi
	# stray daemons serving this test's store (daemon mode forks)
	if [ -n "$DB" ]; then
		for p in $(pgrep -f -- "$DB" 2>/dev/null); do
			[ "$p" != "$$" ] && kill -9 "$p" 2>/dev/null
		done
	fi
	# scratch filesystems and bound files, innermost (last mounted) first
	local sm
	for sm in $SCRATCH_MOUNTS; do
		umount "$sm" 2>/dev/null || umount -l "$sm" 2>/dev/null
	done
	if [ -n "$T" ] && [ -z "${CCCFS_KEEP:-}" ]; then
		rm -rf "$T"
	fi
	if [ $rc -eq 0 ]; then
		echo "[$TEST_NAME] PASS"
	fi
	exit $rc
}

mount_setup() {
	umask 022
	T=$(mktemp -d /var/tmp/cccfs-test.XXXXXX) || fail "mktemp"
	M=$T/mnt
	DB=$T/store.db
	# a command with DB left out uses this test's default store, never
	# the user's
	export XDG_DATA_HOME=$T/data
	mkdir "$M" || fail "mkdir $M"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

wait_mounted() {
	local i
	for i in $(seq 1 100); do
		is_mounted "$M" && return 0
		if [ -n "$DAEMON_PID" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			fail "daemon exited before the mount was ready"
		fi
		sleep 0.05
	done
	fail "mount did not appear in /proc/mounts"
}

# mount_fs [mount options...]: foreground daemon in the background.
mount_fs() {
	"$CCCFS" mount -f ${CCCFS_DEBUG:+-d} "$@" "$DB" "$M" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_mounted
}

umount_fs() {
	local i
	fusermount3 -u "$M" || fail "fusermount3 -u $M failed"
	if [ -n "$DAEMON_PID" ]; then
		for i in $(seq 1 100); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running after unmount"
		wait "$DAEMON_PID" 2>/dev/null
		local rc=$?
		[ $rc -eq 0 ] || fail "daemon exited with status $rc"
		DAEMON_PID=""
	fi
	is_mounted "$M" && fail "still mounted after unmount"
	return 0
}

check_eq() { # got want what
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

check_file() { # path expected-content
	[ -f "$1" ] || fail "$1 does not exist"
	local got
	got=$(cat "$1") || fail "cannot read $1"
	[ "$got" = "$2" ] || fail "$1 holds '$got', want '$2'"
}

need() {
	command -v "$1" >/dev/null 2>&1 || fail "required tool '$1' is not installed"
}

# scratch_mount DIR SIZE [OPTS]: mount a tmpfs of SIZE (e.g. 8m) at DIR,
# created if missing; the exit trap unmounts it (after the FUSE mount and
# the daemon are gone).  Needs root.
scratch_mount() {
	mkdir -p "$1" || fail "mkdir $1"
	mount -t tmpfs -o "size=$2${3:+,$3}" cccfs-scratch "$1" ||
		fail "cannot mount a tmpfs at $1 (the mount tests run as root)"
	SCRATCH_MOUNTS="$1 $SCRATCH_MOUNTS"
}

# bind_file SRC FILE: bind-mount the file SRC (a /proc file, say) on FILE,
# created if missing; the exit trap unmounts it.  Needs root.
bind_file() {
	[ -e "$2" ] || : >"$2" || fail "cannot create $2"
	mount --bind "$1" "$2" || fail "cannot bind $1 on $2 (the mount tests run as root)"
	SCRATCH_MOUNTS="$2 $SCRATCH_MOUNTS"
}

# daemon_kb PID FIELD: FIELD (VmRSS, VmHWM) of /proc/PID/status in KiB.
daemon_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# is_asan: the binary under test carries AddressSanitizer (slower; tests
# that scale with time run fewer rounds there and say so).
is_asan() {
	grep -q -a '__asan_init' "$CCCFS" 2>/dev/null ||
		ldd "$CCCFS" 2>/dev/null | grep -q 'libasan'
}

# is_long: CCC_LONG asks for the long runs.  Unset, empty and 0 mean no,
# as for the engine's suites (tests/kv/kvtest.c, kt_long()).
is_long() {
	[ -n "${CCC_LONG:-}" ] && [ "${CCC_LONG}" != 0 ]
}
