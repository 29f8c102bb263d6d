#!/usr/bin/env bash
# mount(8) and /etc/fstab.  `mount -t fuse.cccfs DB DIR -o OPTS` runs
# mount.fuse3, which runs `cccfs DB DIR -o OPTS` with `cccfs` looked up
# in the PATH mount(8) sets for helpers (/usr/local/sbin:/usr/local/bin:
# /usr/sbin:/usr/bin:/sbin:/bin), not the caller's.  So the test runs in
# a private mount namespace where a folder holding a `cccfs` link to the
# binary under test is bind-mounted on /usr/local/sbin: nothing outside
# sees it, and the FUSE mounts are private too.
#
# Covers: mount -t fuse.cccfs with options, umount(8), an fstab line with
# fstab-only options (noauto, nofail, _netdev, x-systemd.*) through
# `mount -T FILE DIR`, and a bad option failing without a mount.
if [ -z "${CCCFS_FSTAB_NS:-}" ]; then
	if ! command -v unshare >/dev/null ||
	   ! unshare --mount --propagation private true 2>/dev/null; then
		echo "[fstab] SKIP: cannot create a mount namespace (unshare)"
		exit 77
	fi
	CCCFS_FSTAB_NS=1 exec unshare --mount --propagation private \
		"$BASH" "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"
mount_setup
[ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ] ||
	fail "mount.fuse3 is not installed (package fuse3)"

mkdir "$T/bin" || fail "mkdir $T/bin"
ln -s "$CCCFS" "$T/bin/cccfs" || fail "ln -s"
mount --bind "$T/bin" /usr/local/sbin || fail "bind $T/bin on /usr/local/sbin"

# The daemon forks away from mount(8); wait for it to finish after umount.
daemon_gone() {
	local _
	for _ in $(seq 1 100); do
		pgrep -f -- "$DB" >/dev/null || return 0
		sleep 0.05
	done
	fail "daemon still serving $DB after umount"
}

want_a=$(printf 'name: from-mount\nstatus: active')

note "mount -t fuse.cccfs"
out=$(mount -t fuse.cccfs -o commit_interval=0,noatime "$DB" "$M" 2>&1) ||
	fail "mount -t fuse.cccfs failed: $out"
is_mounted "$M" || fail "not mounted after mount -t fuse.cccfs"
check_eq "$(awk -v m="$M" '$2 == m { print $1, $3 }' /proc/mounts)" \
	"$DB fuse.cccfs" "source and type in /proc/mounts"
grep " $M fuse" /proc/mounts | grep -q noatime ||
	fail "noatime did not reach the mount"
check_eq "$(ls "$M" | tr '\n' ' ')" "agents prompts workflows " "root listing"
mkdir "$M/prompts/ops" || fail "mkdir"
printf 'name: from-mount\nstatus: active\n' > "$M/prompts/ops/a.yaml" ||
	fail "write through mount -t"
check_file "$M/prompts/ops/a.yaml" "$want_a"
umount "$M" || fail "umount $M"
is_mounted "$M" && fail "still mounted after umount"
daemon_gone
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 ||
	fail "check after umount: $(cat "$T/check.out")"
grep -q ' 1 records, 0 problems' "$T/check.out" ||
	fail "record not durable: $(cat "$T/check.out")"

note "an fstab line, mount -T FILE DIR"
printf '# cccfs test fstab\n%s %s fuse.cccfs %s 0 0\n' "$DB" "$M" \
	noauto,nofail,_netdev,x-systemd.automount,commit_interval=0 \
	>"$T/fstab"
out=$(mount -T "$T/fstab" "$M" 2>&1) || fail "mount -T failed: $out"
is_mounted "$M" || fail "not mounted after mount -T"
check_file "$M/prompts/ops/a.yaml" "$want_a"
printf 'name: from-fstab\n' > "$M/agents/b.yaml" || fail "write through fstab"
umount "$M" || fail "umount $M (fstab)"
daemon_gone
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 ||
	fail "check after fstab mount: $(cat "$T/check.out")"
grep -q ' 2 records, 0 problems' "$T/check.out" ||
	fail "fstab mount lost a record: $(cat "$T/check.out")"

note "a bad option fails and leaves nothing mounted"
mount -t fuse.cccfs -o no_such_option "$DB" "$M" 2>"$T/err.out" &&
	fail "mount with a bad option succeeded"
grep -q no_such_option "$T/err.out" ||
	fail "error does not name the option: $(cat "$T/err.out")"
is_mounted "$M" && fail "mounted despite a bad option"
daemon_gone
exit 0
