#!/usr/bin/env bash
# Mounts that cannot work must say why, exit 1 and change nothing:
#   - a database in a folder that does not exist;
#   - a read-only database: on a read-only file system, immutable
#     (chattr +i, which stops root too), and mode 0400 for its non-root
#     owner (root ignores mode bits, so that case runs as nobody);
#   - a database already served by another daemon (foreground and daemon
#     mode);
#   - a mount point that is already mounted (live, and with its daemon
#     killed), not empty (unless -o nonempty), missing, or a file.
# Each time: exit code 1, a message naming the file, the database
# unchanged, no mount added and no daemon left behind.  Unchanged means
# the same bytes where no other process has the store open; where one
# daemon serves it, the same last commit, snapshots and records, read
# through the engine (see state below).
. "$(dirname "$0")/lib.sh"
mount_setup

# live cccfs processes of this test, the ones with a path under $T in
# their arguments (a failed daemon-mode child may exit just after its
# parent; an exited one left unreaped shows no arguments).  Other tests
# may run their own daemons on the machine meanwhile.
live_daemons() {
	ps -C cccfs -o stat=,args= | grep -v '^Z' | grep -cF -- " $T/"
}

# FUSE mounts under $T
our_mounts() {
	grep -F -- " $T/" /proc/mounts | grep -c ' fuse'
}

# try WHAT WANT-IN-MESSAGE cccfs-args...: the mount must fail with exit 1
# and a message holding WANT-IN-MESSAGE, leave no new mount and no new
# cccfs process behind.
try() {
	local what=$1 want=$2 rc
	shift 2
	local mounts_before procs_before
	mounts_before=$(our_mounts)
	procs_before=$(live_daemons)
	"$@" >"$T/out" 2>&1
	rc=$?
	check_eq $rc 1 "$what: exit code ($(cat "$T/out"))"
	grep -qF -- "$want" "$T/out" ||
		fail "$what: message does not name '$want': $(cat "$T/out")"
	for i in $(seq 1 40); do
		[ "$(live_daemons)" = "$procs_before" ] && break
		sleep 0.05
	done
	check_eq "$(live_daemons)" "$procs_before" "$what: cccfs processes"
	check_eq "$(our_mounts)" "$mounts_before" "$what: mounts"
	note "$what: $(head -n1 "$T/out")"
}

sum() { sha1sum "$@" 2>&1; }

# state NAME: what a refused daemon must leave as it found it, read
# through the engine into $T/NAME.*: the last committed transaction
# (.txn), the snapshots (.snaps) and every record, exported (.d/).  A
# served store's file is the serving daemon's to write (a sync, an
# automatic snapshot), so while one serves, this is compared, not bytes.
state() {
	local f=$T/$1
	rm -rf "$f.txn" "$f.snaps" "$f.d"
	"$CCCFS" stat "$DB" >"$f.stat" 2>&1 || fail "stat: $(cat "$f.stat")"
	awk '$1 == "last" && $2 == "txn" { print $3 }' "$f.stat" >"$f.txn"
	[ -s "$f.txn" ] || fail "no last txn in: $(cat "$f.stat")"
	"$CCCFS" snapshot "$DB" list >"$f.snaps" 2>&1 ||
		fail "snapshot list: $(cat "$f.snaps")"
	"$CCCFS" export "$DB" "$f.d" >"$f.out" 2>&1 ||
		fail "export: $(cat "$f.out")"
}

# same_records A B WHAT: states A and B hold the same records.
same_records() {
	diff -r "$T/$1.d" "$T/$2.d" >"$T/diff.out" 2>&1 ||
		fail "$3: records changed: $(head -n 20 "$T/diff.out")"
}

# same_state A B WHAT: the same last commit, snapshots and records.
same_state() {
	check_eq "$(cat "$T/$2.txn")" "$(cat "$T/$1.txn")" "$3: last txn"
	diff "$T/$1.snaps" "$T/$2.snaps" >"$T/diff.out" 2>&1 ||
		fail "$3: snapshots changed: $(cat "$T/diff.out")"
	same_records "$1" "$2" "$3"
}

"$CCCFS" init "$DB" || fail init
printf 'name: kept\n' >"$T/seed.yaml"
mount_fs
cp "$T/seed.yaml" "$M/prompts/kept.yaml" || fail "seed record"
umount_fs
state start
[ -f "$T/start.d/prompts/kept.yaml" ] || fail "export lacks the seed record"

note "a database in a missing folder"
try "missing folder" "$T/gone/store.db" "$CCCFS" mount -f "$T/gone/store.db" "$M"
try "missing folder, daemon mode" "$T/gone/store.db" "$CCCFS" mount "$T/gone/store.db" "$M"
[ -e "$T/gone" ] && fail "the missing folder was created"
"$CCCFS" check "$T/gone/store.db" >/dev/null 2>&1
check_eq $? 1 "check of a missing store"
[ -e "$T/gone" ] && fail "check created the missing folder"

note "a database on a read-only file system"
R=$T/ro
scratch_mount "$R" 4m
cp "$DB" "$R/store.db" && cp "$DB-lock" "$R/store.db-lock" || fail "copy to $R"
mount -o remount,ro "$R" || fail "remount $R read-only"
ro_sum=$(sum "$R/store.db" "$R/store.db-lock")
try "read-only file system" "$R/store.db" "$CCCFS" mount -f "$R/store.db" "$M"
try "read-only file system, daemon mode" "$R/store.db" "$CCCFS" mount "$R/store.db" "$M"
check_eq "$(sum "$R/store.db" "$R/store.db-lock")" "$ro_sum" "read-only store bytes"
"$CCCFS" check "$R/store.db" >"$T/check.out" 2>&1 ||
	note "check of a store on a read-only file system: $(head -n1 "$T/check.out")"

note "an immutable database (chattr +i stops root)"
I=$T/imm
mkdir "$I" && cp "$DB" "$I/store.db" && cp "$DB-lock" "$I/store.db-lock" || fail "copy to $I"
if chattr +i "$I/store.db" 2>/dev/null; then
	imm_sum=$(sum "$I/store.db")
	try "immutable database" "$I/store.db" "$CCCFS" mount -f "$I/store.db" "$M"
	check_eq "$(sum "$I/store.db")" "$imm_sum" "immutable store bytes"
	chattr -i "$I/store.db"
else
	note "chattr +i is not supported on $(df --output=fstype "$I" | tail -n1): case not run"
fi

note "a database of mode 0400, for its owner (not root)"
U=$T/user
mkdir "$U" "$U/mnt" && cp "$DB" "$DB-lock" "$U/" || fail "copy to $U"
chown -R nobody "$U" && chmod 0400 "$U/store.db" && chmod 0711 "$T" ||
	fail "chown to nobody"
u_sum=$(sum "$U/store.db" "$U/store.db-lock")
try "mode 0400 for its owner" "$U/store.db" \
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$CCCFS" mount -f "$U/store.db" "$U/mnt"
check_eq "$(sum "$U/store.db" "$U/store.db-lock")" "$u_sum" "0400 store bytes"
chmod 0700 "$T"

note "a database already served"
# The serving daemon has nothing to commit and takes no automatic
# snapshot (snapshot_every=0): a commit in between is a refused daemon's.
mount_fs -o snapshot_every=0
M2=$T/mnt2
mkdir "$M2"
state served
try "second daemon, foreground" "$DB" "$CCCFS" mount -f "$DB" "$M2"
try "second daemon, daemon mode" "$DB" "$CCCFS" mount "$DB" "$M2"
state served.after
same_state served served.after "served store"
check_file "$M/prompts/kept.yaml" "name: kept"

note "a mount point already mounted"
DB2=$T/other.db
"$CCCFS" init "$DB2" || fail "init $DB2"
other_sum=$(sum "$DB2")
try "mounted mount point" "$M" "$CCCFS" mount -f "$DB2" "$M"
try "mounted mount point, daemon mode" "$M" "$CCCFS" mount "$DB2" "$M"
check_eq "$(grep -c " $M fuse" /proc/mounts)" 1 "mounts at $M"
check_eq "$(sum "$DB2")" "$other_sum" "other store bytes"
check_file "$M/prompts/kept.yaml" "name: kept"
note "... and the same after its daemon was killed"
{ kill -9 "$DAEMON_PID" && wait "$DAEMON_PID"; } 2>/dev/null
DAEMON_PID=""
try "dead mount point" "$M" "$CCCFS" mount -f "$DB2" "$M"
fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" || fail "unmount the dead mount"
check_eq "$(sum "$DB2")" "$other_sum" "other store bytes"

note "a mount point that is not empty"
db_sum=$(sum "$DB" "$DB-lock")
touch "$M2/hidden.txt"
try "non-empty mount point" "$M2" "$CCCFS" mount -f "$DB" "$M2"
try "non-empty mount point, daemon mode" "$M2" "$CCCFS" mount -o commit_interval=0 "$DB" "$M2"
check_eq "$(sum "$DB" "$DB-lock")" "$db_sum" "store bytes"
note "-o nonempty mounts anyway"
M_SAVED=$M
M=$M2
mount_fs -o nonempty,commit_interval=0
check_file "$M2/prompts/kept.yaml" "name: kept"
[ -e "$M2/hidden.txt" ] && fail "the folder's own file shows through the mount"
umount_fs
[ -e "$M2/hidden.txt" ] || fail "the folder's own file is gone after unmount"
M=$M_SAVED
rm "$M2/hidden.txt"

note "a mount point that is missing or a file"
db_sum=$(sum "$DB" "$DB-lock")
try "missing mount point" "$T/nomnt" "$CCCFS" mount -f "$DB" "$T/nomnt"
[ -e "$T/nomnt" ] && fail "the missing mount point was created"
try "mount point is a file" "$T/seed.yaml" "$CCCFS" mount -f "$DB" "$T/seed.yaml"
check_eq "$(sum "$DB" "$DB-lock")" "$db_sum" "store bytes"

# the -o nonempty mount served it in between and may have taken an
# automatic snapshot: the records are what must be as they were
state end
same_records start end "the store at the end"
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
