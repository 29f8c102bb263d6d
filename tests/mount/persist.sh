#!/usr/bin/env bash
# Persistence: unmount + remount keeps everything (content, modes, times,
# xattrs, folders, symlinks); the daemon mode (no -f) mounts and detaches;
# a second daemon on the same store is refused; kill -9 of the daemon after
# acknowledged writes loses nothing and leaves `cccfs check` clean; fsync'ed
# saves come back from the commit log when the newest meta slot is lost;
# the store file is created 0600; CLI exit codes.
. "$(dirname "$0")/lib.sh"
mount_setup

note "CLI"
"$CCCFS" --version | grep -q '^cccfs ' || fail "--version"
"$CCCFS" --help | grep -q 'usage: cccfs mount' || fail "--help"
"$CCCFS" >/dev/null 2>&1; check_eq $? 2 "no arguments: usage exit code"
"$CCCFS" frobnicate >/dev/null 2>&1; check_eq $? 2 "unknown command"
"$CCCFS" mount >/dev/null 2>&1; check_eq $? 2 "mount without a mount point"
"$CCCFS" mount "$DB" "$M" x >/dev/null 2>&1; check_eq $? 2 "mount with three paths"
"$CCCFS" check "$T/missing.db" >/dev/null 2>&1; check_eq $? 1 "check of a missing store"
"$CCCFS" init "$DB" || fail "init"
check_eq "$(stat -c %a "$DB")" 600 "store file mode"
"$CCCFS" check "$DB" >/dev/null || fail "check of a fresh store"
"$CCCFS" stat "$DB" | grep -q 'page size' || fail "stat"

note "daemon mode"
"$CCCFS" mount "$DB" "$M" 2>"$T/mount.err" || fail "daemon mount failed: $(cat "$T/mount.err")"
is_mounted "$M" || fail "not mounted after cccfs mount returned"
pid=$(pgrep -f -- "mount $DB $M" | head -n1)
[ -n "$pid" ] || fail "no daemon process"
DAEMON_PID=$pid
note "second daemon on the same store is refused"
mkdir "$T/mnt2"
"$CCCFS" mount -f "$DB" "$T/mnt2" 2>"$T/second.err"
check_eq $? 1 "second mount exit code"
grep -qi "already" "$T/second.err" || fail "unclear message for a second daemon: $(cat "$T/second.err")"
is_mounted "$T/mnt2" && fail "second mount appeared"

note "write a tree"
cd "$M/workflows" || fail cd
mkdir -p a/b && printf 'name: one\n' > a/b/one.yaml && printf 'side\n' > a/notes.txt
chmod 600 a/b/one.yaml
touch -d '2003-03-03 03:03:03' a/b/one.yaml
setfattr -n user.k -v v a/b/one.yaml
ln -s b/one.yaml a/link
before=$(cd "$M" && find . -printf '%p %y %m %s %T@\n' | sort; getfattr --absolute-names -n user.k "$M/workflows/a/b/one.yaml")
cd /
"$CCCFS" umount "$M" || fail "cccfs umount"
for i in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running after umount"
DAEMON_PID=""
is_mounted "$M" && fail "still mounted"

note "remount keeps everything (spin=0: the request loop sleeps at once)"
mount_fs -o spin=0
after=$(cd "$M" && find . -printf '%p %y %m %s %T@\n' | sort; getfattr --absolute-names -n user.k "$M/workflows/a/b/one.yaml")
check_eq "$after" "$before" "tree after remount"
check_file "$M/workflows/a/b/one.yaml" "name: one"
check_eq "$(readlink "$M/workflows/a/link")" b/one.yaml "symlink after remount"

note "kill -9 after acknowledged writes"
for i in $(seq 1 50); do
	printf 'name: file-%d\n' "$i" > "$M/prompts/f$i.yaml" || fail "write $i"
done
printf 'name: synced\n' > "$M/prompts/synced.yaml"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$M/prompts/synced.yaml" || fail fsync
mv "$M/prompts/f1.yaml" "$M/prompts/renamed.yaml" || fail "rename before kill"
rm "$M/prompts/f2.yaml" || fail "unlink before kill"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""
fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null
is_mounted "$M" && fail "dead mount still listed"
"$CCCFS" check "$DB" >"$T/check.out" || fail "check after kill -9: $(cat "$T/check.out")"
mount_fs
for i in $(seq 3 50); do
	check_file "$M/prompts/f$i.yaml" "name: file-$i"
done
check_file "$M/prompts/renamed.yaml" "name: file-1"
[ -e "$M/prompts/f1.yaml" ] && fail "rename lost after kill -9"
[ -e "$M/prompts/f2.yaml" ] && fail "unlink lost after kill -9"
check_file "$M/prompts/synced.yaml" "name: synced"
check_file "$M/workflows/a/b/one.yaml" "name: one"
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" || fail "final check: $(cat "$T/check.out")"

txns() { # "last durable" from cccfs stat
	"$CCCFS" stat "$DB" | sed -n 's/^last txn *\([0-9]*\) (durable \([0-9]*\))$/\1 \2/p'
}
note "commit_interval: a plain close becomes durable within the interval"
mount_fs -o commit_interval=300
printf 'name: later\n' > "$M/prompts/later.yaml" || fail write
ok=""
for i in $(seq 1 40); do
	set -- $(txns)
	[ $# -eq 2 ] || fail "cannot parse cccfs stat"
	if [ "$1" = "$2" ]; then ok=1; break; fi
	sleep 0.05
done
[ -n "$ok" ] || fail "commit not durable 2s after close with commit_interval=300 ($(txns))"
umount_fs
note "commit_interval=0: every close is durable"
mount_fs -o commit_interval=0
for i in 1 2 3; do
	printf 'name: now%d\n' "$i" > "$M/prompts/now.yaml" || fail write
	set -- $(txns)
	check_eq "$2" "$1" "durable txn right after close"
done
umount_fs

note "the commit log repeats fsync'ed saves whose newest commit record is lost"
mount_fs
for i in 1 2 3 4 5; do
	python3 - "$M/agents/log$i.yaml" "$i" <<'EOF' || fail "fsync'ed save $i"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, ("name: log-%s\n" % sys.argv[2]).encode())
os.fsync(fd)
os.close(fd)
EOF
done
umount_fs
# zero the newest meta slot (kv/format.h: pages 0 and 1, txnid at byte 48),
# as a power loss during its write could leave it
python3 - "$DB" <<'EOF' || fail "zeroing the newest meta slot"
import struct, sys
with open(sys.argv[1], "r+b") as f:
    t = []
    for slot in (0, 1):
        f.seek(slot * 4096 + 48)
        t.append(struct.unpack("<Q", f.read(8))[0])
    f.seek((1 if t[1] > t[0] else 0) * 4096)
    f.write(bytes(4096))
EOF
"$CCCFS" check "$DB" >"$T/check.out" ||
	fail "check after losing the newest meta slot: $(cat "$T/check.out")"
grep -q "commits were repeated from the commit log" "$T/check.out" ||
	fail "check does not say that it repeated commits: $(cat "$T/check.out")"
mount_fs
for i in 1 2 3 4 5; do
	check_file "$M/agents/log$i.yaml" "name: log-$i"
done
umount_fs

note "SIGTERM unmounts cleanly"
"$CCCFS" mount "$DB" "$M" || fail "daemon mount"
pid=$(pgrep -f -- "mount $DB $M" | head -n1)
[ -n "$pid" ] || fail "no daemon"
kill -TERM "$pid"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "daemon ignored SIGTERM"
is_mounted "$M" && fail "still mounted after SIGTERM"
"$CCCFS" check "$DB" >"$T/check.out" || fail "check after SIGTERM: $(cat "$T/check.out")"
check_eq "$(stat -c %a "$DB")" 600 "store file mode at the end"
