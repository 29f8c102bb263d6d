#!/usr/bin/env bash
# 2,000 files in one folder: created, listed (ls, ls -l, find), read back,
# and still all there after a remount; then removed.
. "$(dirname "$0")/lib.sh"
mount_setup
mount_fs

D=$M/agents/many
mkdir "$D" || fail "mkdir"
python3 - "$D" <<'PY' || fail "creating 2000 files"
import os, sys
d = sys.argv[1]
for i in range(2000):
    name = "agent-%04d.yaml" % i if i % 2 == 0 else "note-%04d.txt" % i
    with open(os.path.join(d, name), "w") as f:
        f.write("name: a%d\n" % i)
PY
check_eq "$(ls "$D" | wc -l)" 2000 "ls count"
check_eq "$(ls -l "$D" | grep -c '^-rw')" 2000 "ls -l count"
check_eq "$(find "$D" -type f | wc -l)" 2000 "find count"
check_eq "$(ls "$D" | sort | head -n1)" "agent-0000.yaml" "first name"
check_eq "$(ls "$D" | sort | tail -n1)" "note-1999.txt" "last name"
check_file "$D/agent-1234.yaml" "name: a1234"
check_eq "$(cat "$D"/* | wc -l)" 2000 "read all"
# a sibling folder with a name sharing the prefix stays separate
mkdir "$M/agents/many-more" && touch "$M/agents/many-more/x.txt"
check_eq "$(ls "$D" | wc -l)" 2000 "listing after a sibling"
umount_fs
mount_fs
check_eq "$(ls "$D" | wc -l)" 2000 "ls count after remount"
check_eq "$(grep -rl 'name: a1999$' "$D")" "$D/note-1999.txt" "grep after remount"
rm "$D"/* || fail "rm"
rmdir "$D" || fail "rmdir after rm"
check_eq "$(ls "$M/agents")" "many-more" "agents after cleanup"
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" || fail "check: $(cat "$T/check.out")"
