#!/usr/bin/env bash
# Another user reads a live store.  The store is mounted by root, who owns
# it and its lock file (0600); the store file is made readable by others.
# While a writer saves records through the mount as fast as it can, user
# nobody runs `cccfs check`, `cccfs export` and `cccfs backup` on it, again
# and again, also through a read-only bind mount of its folder.
#
# Regression: nobody could not open the lock file, so could not register
# as a reader, and the pages it read were reused under it: check reported
# corruption that was not there ("table missing", "record without a
# node", pages "written by txn X, its parent expects Y"), and the opens
# that raced a commit failed with "logged commits must be recovered,
# which needs write access".  Every run must now succeed and be clean,
# every exported file a whole version, every backup a clean store.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "[$TEST_NAME] SKIP: needs root and setpriv"
	exit 77
fi
mount_setup
need python3
chmod 755 "$T" || fail "chmod $T"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
N=20000

note "a store of $N records, readable by others"
mkdir -p "$T/src/prompts" || fail "mkdir"
python3 - "$T/src/prompts" "$N" <<'PY' || fail "making the records"
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open("%s/p%d.yaml" % (d, i), "w").write(
        "name: p%d\nbody: %s\n" % (i, "x" * (200 + i % 700)))
PY
"$CCCFS" import "$DB" "$T/src" >/dev/null || fail "import"
chmod 644 "$DB" || fail "chmod $DB"
mount_fs -o commit_interval=0
[ "$(stat -c %a "$DB-lock")" = 600 ] || fail "the lock file is not 0600"
"${NOBODY[@]}" sh -c "exec 3<>'$DB-lock'" 2>/dev/null &&
	fail "nobody can open the lock file: the test would not test"
mkdir "$T/ro" "$T/out" && chmod 777 "$T/out" || fail "mkdir"
mount --bind "$T" "$T/ro" && mount -o remount,bind,ro "$T/ro" ||
	fail "a read-only bind mount of $T"
SCRATCH_MOUNTS="$T/ro $SCRATCH_MOUNTS"

# whole versions only: what the writer below saves
cat >"$T/whole.py" <<'PY'
import os, re, sys
d = sys.argv[1]
names = os.listdir(d)
if len(names) != int(sys.argv[2]):
    sys.exit("%d records exported" % len(names))
for f in names:
    data = open(os.path.join(d, f)).read()
    if not re.fullmatch(r"name: p\d+\nbody: [xy]+\n(n: \d+\n)?", data):
        sys.exit("%s is not a whole version: %r" % (f, data[:60]))
PY

python3 - "$M/prompts" "$N" >"$T/writer.out" 2>&1 <<'PY' &
import random, sys, time
d, n = sys.argv[1], int(sys.argv[2])
end, i = time.time() + 12, 0
while time.time() < end:
    k = random.randrange(n)
    with open("%s/p%d.yaml" % (d, k), "w") as f:
        f.write("name: p%d\nbody: %s\nn: %d\n" % (k, "y" * random.randrange(100, 2000), i))
    i += 1
print("writes", i)
PY
WRITER=$!
test_cleanup() {
	kill "$WRITER" 2>/dev/null
	wait "$WRITER" 2>/dev/null
}

runs=0
while kill -0 "$WRITER" 2>/dev/null; do
	for db in "$DB" "$T/ro/store.db"; do
		"${NOBODY[@]}" "$CCCFS" check "$db" >"$T/check.out" 2>&1 ||
			fail "check of $db as nobody: exit $?: $(head -c 600 "$T/check.out")"
		grep -q ", 0 problems$" "$T/check.out" ||
			fail "check of $db: $(head -c 600 "$T/check.out")"
		rm -rf "$T/out/x"
		"${NOBODY[@]}" "$CCCFS" export "$db" "$T/out/x" >"$T/export.out" 2>&1 ||
			fail "export of $db as nobody: exit $?: $(head -c 600 "$T/export.out")"
		python3 "$T/whole.py" "$T/out/x/prompts" "$N" || fail "export of $db"
		rm -f "$T/out/b.db" "$T/out/b.db-lock"
		"${NOBODY[@]}" "$CCCFS" backup "$db" "$T/out/b.db" >"$T/backup.out" 2>&1 ||
			fail "backup of $db as nobody: exit $?: $(head -c 600 "$T/backup.out")"
		"$CCCFS" check "$T/out/b.db" >"$T/check.out" 2>&1 ||
			fail "the backup of $db: $(head -c 600 "$T/check.out")"
		runs=$((runs + 1))
	done
done
wait "$WRITER" || fail "the writer failed: $(cat "$T/writer.out")"
note "$(cat "$T/writer.out"), $runs rounds of check, export and backup as nobody"
[ "$runs" -ge 2 ] || fail "only $runs rounds: the readers did not overlap the writer"
umount_fs
"$CCCFS" check "$DB" >/dev/null || fail "the store after the test"
