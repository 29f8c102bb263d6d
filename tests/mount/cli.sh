#!/usr/bin/env bash
# The command line, one subcommand at a time: the success path, usage
# errors (exit 2), failures (exit 1, with a message naming the file and
# what to do), `check`'s own exit code for problems (3), and --help with
# examples for every subcommand.
. "$(dirname "$0")/lib.sh"
mount_setup
M2="" # a second mount: of the default store, of a store made by import
test_cleanup() {
	if [ -n "$M2" ] && is_mounted "$M2"; then
		fusermount3 -u "$M2" 2>/dev/null || fusermount3 -uz "$M2" 2>/dev/null
	fi
}

expect() { # want-exit what command...
	local want=$1 what=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	[ "$rc" = "$want" ] ||
		fail "$what: exit $rc, want $want (stdout: $(head -c 300 "$T/out"); stderr: $(head -c 300 "$T/err"))"
}

note "--help for every subcommand, with examples"
for cmd in mount umount init check stat snapshot backup export import log \
	restore diff label refs mv prune render; do
	expect 0 "$cmd --help" "$CCCFS" "$cmd" --help
	grep -q "^usage: cccfs $cmd" "$T/out" || fail "$cmd --help lacks a usage line"
	grep -q "^example" "$T/out" || fail "$cmd --help lacks examples"
done
# unmount --help ran `fusermount3 -u --help`
for h in --help -h; do
	expect 0 "unmount $h" "$CCCFS" unmount "$h"
	grep -q "^usage: cccfs umount" "$T/out" || fail "unmount $h: $(cat "$T/out" "$T/err")"
	grep -q fusermount3: "$T/out" "$T/err" && fail "unmount $h ran fusermount3"
done
expect 2 "unmount -z" "$CCCFS" unmount -z
expect 0 "--help" "$CCCFS" --help
for cmd in mount umount init check stat snapshot backup export import log \
	restore diff label refs mv prune render; do
	grep -q "cccfs $cmd" "$T/out" || fail "--help does not list $cmd"
done
grep -q "exit codes" "$T/out" || fail "--help does not document exit codes"
expect 0 "--version" "$CCCFS" --version
grep -q '^cccfs [0-9]' "$T/out" || fail "--version output: $(cat "$T/out")"

note "usage errors exit 2"
expect 2 "no command" "$CCCFS"
expect 2 "unknown command" "$CCCFS" frobnicate
grep -qx "cccfs: unknown command 'frobnicate'; see 'cccfs --help'" "$T/err" ||
	fail "unknown command: $(cat "$T/err")"
# A mistyped command followed by a folder once took the fstab form
# `cccfs DB MOUNTPOINT`: it created a store named umout and mounted it.
mkdir "$T/mnt2"
(cd "$T" && "$CCCFS" umout mnt2 >out 2>err)
check_eq "$?" 2 "exit code of cccfs umout mnt2"
check_eq "$(cat "$T/err")" \
	"cccfs: unknown command 'umout' (did you mean 'umount'?); see 'cccfs --help'" \
	"cccfs umout mnt2"
[ -e "$T/umout" ] && fail "cccfs umout mnt2 created a store"
is_mounted "$T/mnt2" && fail "cccfs umout mnt2 mounted"
expect 2 "a store without a mount point" "$CCCFS" "$T/none.db"
grep -q "^usage: cccfs DB MOUNTPOINT" "$T/err" || fail "cccfs DB: $(cat "$T/err")"
[ -e "$T/none.db" ] && fail "cccfs DB created a store"
for args in "mount" "mount $DB $M extra" "umount" "init a b" "check a b" \
	"check -v a b" "stat a b" "stat -x" \
	"snapshot" "snapshot $DB" "snapshot $DB create" "snapshot $DB bogus" \
	"snapshot $DB list extra" "snapshot list extra" "snapshot create" \
	"backup" "backup $DB a b" "export" "import" \
	"import $DB d --snapshot x" "backup $DB d --bogus"; do
	# shellcheck disable=SC2086
	expect 2 "cccfs $args" "$CCCFS" $args
	grep -q "usage: cccfs" "$T/err" || fail "cccfs $args: no usage on stderr"
done
expect 2 "snapshot name with a slash" "$CCCFS" snapshot "$DB" create a/b
for h in --help -h; do
	expect 0 "snapshot create $h" "$CCCFS" snapshot "$DB" create "$h"
	grep -q "^usage: cccfs snapshot" "$T/out" || fail "snapshot create $h: $(cat "$T/out")"
done
expect 2 "snapshot name '..'" "$CCCFS" snapshot "$DB" create ..

note "a missing store: exit 1, says how to make one"
for args in "check $T/none.db" "stat $T/none.db" "snapshot $T/none.db list" \
	"backup $T/none.db $T/b.db" "export $T/none.db $T/x"; do
	# shellcheck disable=SC2086
	expect 1 "cccfs $args" "$CCCFS" $args
	grep -q "none.db" "$T/err" || fail "cccfs $args: message does not name the file: $(cat "$T/err")"
done
grep -q "cccfs init" "$T/err" || fail "no hint to create a store: $(cat "$T/err")"
[ -e "$T/none.db" ] && fail "a failed command created the store"

note "nothing is left beside a file that is no store"
# The commands once left NAME-lock beside a file that failed to open, and
# init of a name whose lock file's name is too long left an empty store.
printf 'hello\n' > "$T/notes.txt"
mkdir -p "$T/tree/prompts"
for args in "stat $T/notes.txt" "check $T/notes.txt" "export $T/notes.txt $T/nx" \
	"backup $T/notes.txt $T/nb.db" "snapshot $T/notes.txt list" \
	"snapshot $T/notes.txt create x" "import $T/notes.txt $T/tree"; do
	# shellcheck disable=SC2086
	"$CCCFS" $args >"$T/out" 2>"$T/err" && fail "cccfs $args succeeded"
	grep -q "notes.txt" "$T/err" || fail "cccfs $args: $(cat "$T/err")"
	[ -e "$T/notes.txt-lock" ] && fail "cccfs $args left notes.txt-lock"
done
long=$T/$(printf 'n%.0s' $(seq 1 $((255 - 5 + 1))))
expect 1 "init of a store whose lock file's name is too long" "$CCCFS" init "$long"
[ -e "$long" ] && fail "init created a store without its lock file"
grep -q -- "-lock: cannot create the lock file: File name too long" "$T/err" ||
	fail "init: the message does not name the lock file: $(cat "$T/err")"
mkdir "$T/dir.db-lock"
expect 1 "init of a store whose lock file is a folder" "$CCCFS" init "$T/dir.db"
[ -e "$T/dir.db" ] && fail "init created a store without its lock file"
grep -q "^cccfs: $T/dir.db-lock: cannot open the lock file: Is a directory" "$T/err" ||
	fail "init: the message does not name the lock file: $(cat "$T/err")"

note "a bad mount option: exit 2, one line, no store made"
# mount once created the store first and failed later in libfuse, with
# exit 1 and libfuse's message over three lines.
mkdir "$T/optmnt"
for args in "mount $T/opt.db $T/optmnt -o bogus" "mount -o bogus $T/opt.db $T/optmnt" \
	"mount -f -o commit_interval=0,bogus $T/opt.db $T/optmnt" \
	"$T/opt.db $T/optmnt -o bogus" "mount -o max_read=many $T/opt.db $T/optmnt"; do
	# shellcheck disable=SC2086
	expect 2 "cccfs $args" "$CCCFS" $args
	check_eq "$(wc -l <"$T/err")" 1 "lines of the message of cccfs $args ($(cat "$T/err"))"
	grep -Eq "^cccfs: -o (bogus|max_read=many): (unknown|malformed) mount option" "$T/err" ||
		fail "cccfs $args: $(cat "$T/err")"
	[ -e "$T/opt.db" ] && fail "cccfs $args created the store"
	is_mounted "$T/optmnt" && fail "cccfs $args mounted"
done

note "DB left out: the default store"
# Every command once wanted DB; now the default store is used without it
# ($XDG_DATA_HOME/cccfs/ccc.db, or ~/.local/share/cccfs/ccc.db; lib.sh
# points XDG_DATA_HOME into $T).
D=$XDG_DATA_HOME/cccfs/ccc.db
expect 1 "stat of a missing default store" "$CCCFS" stat
grep -qF "$D: No such file or directory (the default store; create it with \`cccfs init\`)" "$T/err" ||
	fail "stat without a default store: $(cat "$T/err")"
[ -e "$XDG_DATA_HOME" ] && fail "a read-only command made the default store's folder"
expect 0 "init of the default store" "$CCCFS" init
check_eq "$(stat -c %a "$XDG_DATA_HOME/cccfs") $(stat -c %a "$D")" "700 600" \
	"modes of the default store and its folder"
expect 0 "snapshot create" "$CCCFS" snapshot create s1
expect 0 "snapshot list" "$CCCFS" snapshot list
grep -q "^s1 " "$T/out" || fail "snapshot list: $(cat "$T/out")"
expect 0 "stat" "$CCCFS" stat
grep -qx "file            $D" "$T/out" || fail "stat: $(cat "$T/out")"
expect 0 "check" "$CCCFS" check
expect 0 "check -v" "$CCCFS" check -v
expect 0 "backup" "$CCCFS" backup "$T/dflt-b.db"
expect 0 "backup --snapshot" "$CCCFS" backup "$T/dflt-s.db" --snapshot s1
expect 0 "export" "$CCCFS" export "$T/dflt-x"
expect 0 "import" "$CCCFS" import "$T/dflt-x"
grep -qF "into $D" "$T/out" || fail "import: $(cat "$T/out")"
expect 0 "snapshot restore" "$CCCFS" snapshot restore s1
expect 1 "snapshot restore of a missing one" "$CCCFS" snapshot restore nope
grep -qF "(\`cccfs snapshot list\` lists them)" "$T/err" || fail "restore: $(cat "$T/err")"
expect 0 "snapshot delete" "$CCCFS" snapshot delete s1
# a store named like an action is given with a path
expect 2 "snapshot list list" "$CCCFS" snapshot list list
(cd "$T" && "$CCCFS" snapshot ./dflt-b.db list >out 2>err) || fail "snapshot ./DB list: $(cat "$T/err")"
expect 2 "no HOME and no XDG_DATA_HOME" env -u HOME -u XDG_DATA_HOME "$CCCFS" stat
grep -q "no default store" "$T/err" || fail "no default store: $(cat "$T/err")"
# mount creates the default store and its folder
M2=$T/dmnt
XDG_DATA_HOME=$T/data2 expect 1 "mount of the default store on a missing folder" "$CCCFS" mount "$M2"
[ -e "$T/data2" ] && fail "a mount that failed made the default store's folder"
mkdir "$M2" || fail "mkdir"
XDG_DATA_HOME=$T/data2 expect 0 "mount of a new default store" "$CCCFS" mount "$M2"
is_mounted "$M2" || fail "cccfs mount MOUNTPOINT did not mount"
check_eq "$(stat -c %a "$T/data2/cccfs")" 700 "mode of the default store's folder"
grep -q " $M2 fuse.cccfs" /proc/mounts || fail "not a cccfs mount"
grep " $M2 " /proc/mounts | grep -q "^$T/data2/cccfs/ccc.db " ||
	fail "mounted something else: $(grep " $M2 " /proc/mounts)"
expect 0 "umount" "$CCCFS" umount "$M2"
for i in $(seq 1 100); do pgrep -f -- "$T/data2/" >/dev/null || break; sleep 0.05; done
pgrep -f -- "$T/data2/" >/dev/null && fail "the default store's daemon still runs"

note "init, mount, umount"
expect 0 init "$CCCFS" init "$DB"
check_eq "$(stat -c %a "$DB")" 600 "store mode"
expect 0 "init of an existing store" "$CCCFS" init "$DB"
expect 0 mount "$CCCFS" mount -o commit_interval=0,snapshot_every=0 "$DB" "$M"
is_mounted "$M" || fail "not mounted"
DAEMON_PID=$(pgrep -f -- "mount -o commit_interval=0,snapshot_every=0 $DB $M" | head -n1)
mkdir -p "$M/prompts/coding"
printf 'name: review\n' > "$M/prompts/coding/review.yaml"
printf 'name: ship\nsteps:\n  - build\n' > "$M/workflows/ship.yaml"
expect 2 "mount with a bad option" "$CCCFS" mount -f -o snapshot_every=soon "$DB" "$T"
expect 2 "mount with a bad keep spec" "$CCCFS" mount -f -o keep=7x "$DB" "$T"
grep -q "keep=7x" "$T/err" || fail "bad keep message: $(cat "$T/err")"
expect 2 "mount with commit_interval=-1" "$CCCFS" mount -f -o commit_interval=-1 "$DB" "$T"
grep -q "commit_interval must be" "$T/err" || fail "commit_interval=-1: $(cat "$T/err")"
expect 2 "mount with spin=10001" "$CCCFS" mount -f -o spin=10001 "$DB" "$T"
grep -q "spin must be 0..10000 microseconds" "$T/err" || fail "spin=10001: $(cat "$T/err")"

note "check and stat while mounted"
expect 0 check "$CCCFS" check "$DB"
grep -q "0 problems" "$T/out" || fail "check summary: $(cat "$T/out")"
expect 0 "check -v" "$CCCFS" check -v "$DB"
grep -q "ok /prompts/coding/review.yaml" "$T/out" || fail "check -v does not list records"
expect 0 stat "$CCCFS" stat "$DB"
for field in "file size" "pages" "last txn" "commit log" "last commit" "snapshots" "table prompts"; do
	grep -q "^$field" "$T/out" || fail "stat lacks '$field'"
done
grep -Eq "^commit log +[1-9][0-9]* KiB" "$T/out" || fail "stat: no commit log: $(grep '^commit log' "$T/out")"

note "snapshot create, list, delete, restore"
expect 0 "snapshot create" "$CCCFS" snapshot "$DB" create mon
expect 1 "snapshot create twice" "$CCCFS" snapshot "$DB" create mon
grep -q "already exists" "$T/err" || fail "duplicate snapshot message: $(cat "$T/err")"
expect 0 "snapshot list" "$CCCFS" snapshot "$DB" list
grep -q "^NAME .*CREATED.*TXN.*RECORDS.*OWN SPACE" "$T/out" || fail "list header: $(cat "$T/out")"
grep -Eq "^mon +[0-9-]+ [0-9:]+Z +[0-9]+ +2 " "$T/out" || fail "list row: $(cat "$T/out")"
expect 1 "snapshot delete of a missing one" "$CCCFS" snapshot "$DB" delete tue
grep -q "tue" "$T/err" || fail "missing snapshot message: $(cat "$T/err")"
printf 'name: changed\n' > "$M/prompts/coding/review.yaml"
expect 0 "snapshot restore" "$CCCFS" snapshot "$DB" restore mon
grep -q "before-restore-" "$T/out" || fail "restore output: $(cat "$T/out")"
expect 1 "snapshot restore of a missing one" "$CCCFS" snapshot "$DB" restore tue
# restore said "cannot restore snapshot 'tue': No such file or directory",
# and export --snapshot did not name the snapshot at all
grep -qx "cccfs: $DB: no snapshot named 'tue' (\`cccfs snapshot $DB list\` lists them)" "$T/err" ||
	fail "restore of a missing snapshot: $(cat "$T/err")"
for args in "snapshot $DB delete tue" "export $DB $T/tx --snapshot tue" \
	"backup $DB $T/tb.db --snapshot tue"; do
	# shellcheck disable=SC2086
	expect 1 "cccfs $args" "$CCCFS" $args
	grep -q "^cccfs: $DB: no snapshot named 'tue' " "$T/err" ||
		fail "cccfs $args: $(cat "$T/err")"
done
[ -e "$T/tx" ] || [ -e "$T/tb.db" ] && fail "a missing snapshot left a file"
expect 0 "snapshot delete" "$CCCFS" snapshot "$DB" delete mon
# list printed a name's bytes as they are: an escape sequence in a name
# drove the terminal, and a newline split its row
ctl=$'ctl\e[31m\nred\\'
expect 0 "snapshot create of a name with control bytes" "$CCCFS" snapshot "$DB" create "$ctl"
grep -qxF 'took snapshot ctl\x1b[31m\nred\\' "$T/out" || fail "create: $(cat -A "$T/out")"
expect 0 "snapshot list" "$CCCFS" snapshot "$DB" list
grep -qF 'ctl\x1b[31m\nred\\ ' "$T/out" || fail "list: $(cat -A "$T/out")"
LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$T/out" && fail "list printed control bytes: $(cat -A "$T/out")"
expect 0 "snapshot delete of that name" "$CCCFS" snapshot "$DB" delete "$ctl"
expect 0 "snapshot list" "$CCCFS" snapshot "$DB" list
grep -q "^mon " "$T/out" && fail "deleted snapshot still listed"
grep -q "^before-restore-" "$T/out" || fail "the snapshot kept by restore is not listed"

note "backup, export, import"
expect 0 backup "$CCCFS" backup "$DB" "$T/b.db"
grep -q "b.db" "$T/out" || fail "backup output: $(cat "$T/out")"
expect 1 "backup onto an existing file" "$CCCFS" backup "$DB" "$T/b.db"
grep -q "already exists" "$T/err" || fail "backup onto existing: $(cat "$T/err")"
# two backups racing to one new name: one wins, and its file stays
for i in 1 2 3; do
	"$CCCFS" backup "$DB" "$T/race.db" >/dev/null 2>&1 & r1=$!
	"$CCCFS" backup "$DB" "$T/race.db" >/dev/null 2>&1 & r2=$!
	wait $r1; s1=$?; wait $r2; s2=$?
	check_eq "$((s1 + s2))" 1 "exit codes of two racing backups ($s1 $s2)"
	"$CCCFS" check "$T/race.db" >/dev/null || fail "the racing backup's file"
	rm -f "$T/race.db" "$T/race.db-lock"
done
expect 1 "backup of a missing snapshot" "$CCCFS" backup "$DB" "$T/c.db" --snapshot nope
[ -e "$T/c.db" ] && fail "a failed backup left a file"
expect 0 "check of the backup" "$CCCFS" check "$T/b.db"
expect 0 export "$CCCFS" export "$DB" "$T/x"
check_file "$T/x/prompts/coding/review.yaml" "name: review"
expect 1 "export into a non-empty folder" "$CCCFS" export "$DB" "$T/x"
grep -q "empty" "$T/err" || fail "export into non-empty: $(cat "$T/err")"
expect 0 import "$CCCFS" import "$T/i.db" "$T/x"
grep -q "imported 2 records" "$T/out" || fail "import output: $(cat "$T/out")"
mkdir "$T/empty"
expect 1 "import of a folder without kinds" "$CCCFS" import "$T/i.db" "$T/empty"
expect 1 "import of a missing folder" "$CCCFS" import "$T/i.db" "$T/missing"
printf 'name: ok\nname: twice\n' > "$T/x/workflows/dup.yaml"
expect 1 "import with an invalid file" "$CCCFS" import "$T/i.db" "$T/x"
grep -q "dup.yaml: line 2, column 1" "$T/err" || fail "import error: $(cat "$T/err")"
expect 0 "import --skip-invalid" "$CCCFS" import "$T/i.db" "$T/x" --skip-invalid
grep -q "1 invalid file skipped" "$T/out" || fail "skip output: $(cat "$T/out")"

note "import reads each file to its end, and a read error is an error"
# A record file was read up to the size fstat gave, and a failed read
# ended it early: a /proc file (size 0) came in empty, and a file whose
# read failed came in short, both with exit 0.
mkdir -p "$T/procx/prompts"
bind_file /proc/meminfo "$T/procx/prompts/meminfo.yaml"
expect 0 "import of a file whose size says 0" "$CCCFS" import "$T/p.db" "$T/procx"
expect 0 "export of it" "$CCCFS" export "$T/p.db" "$T/procy"
grep -q "^MemTotal:" "$T/procy/prompts/meminfo.yaml" ||
	fail "/proc/meminfo came in as $(wc -c <"$T/procy/prompts/meminfo.yaml") bytes"
bind_file "/proc/$$/mem" "$T/procx/prompts/mem.yaml" # EIO at offset 0
expect 1 "import of a file whose read fails" "$CCCFS" import "$T/p2.db" "$T/procx"
grep -q "mem.yaml: Input/output error" "$T/err" || fail "read error: $(cat "$T/err")"
[ -e "$T/p2.db" ] && fail "an import that failed created the store"
expect 1 "import into a file" "$CCCFS" import "$T/p2.db" "$T/procx/prompts/meminfo.yaml"
grep -qx "cccfs: $T/procx/prompts/meminfo.yaml: not a folder" "$T/err" ||
	fail "import into a file: $(cat "$T/err")"

note "export then import keeps modes and times, before 1970 too"
# import made every file and folder writable by its owner, so a 0444
# record came back 0644; export left a time before 1970 with a fraction
# of a second as the time of writing.
mkdir "$M/prompts/keep" || fail "mkdir"
printf 'name: old\n' > "$M/prompts/keep/old.yaml" || fail "write"
chmod 0444 "$M/prompts/keep/old.yaml" || fail "chmod"
touch -d '1969-12-31 23:59:59.5' "$M/prompts/keep/old.yaml" || fail "touch"
chmod 0750 "$M/prompts/keep" || fail "chmod"
touch -d '1969-12-31 23:59:58.25' "$M/prompts/keep" || fail "touch"
expect 0 "export for the round trip" "$CCCFS" export "$DB" "$T/rt"
expect 0 "import for the round trip" "$CCCFS" import "$T/rt.db" "$T/rt"
M2=$T/m2
mkdir "$M2" || fail "mkdir"
expect 0 "mount of the imported store" "$CCCFS" mount "$T/rt.db" "$M2"
for f in prompts prompts/keep prompts/keep/old.yaml prompts/coding/review.yaml; do
	check_eq "$(stat -c '%a %Y.%y' "$M2/$f")" "$(stat -c '%a %Y.%y' "$M/$f")" \
		"mode and mtime of $f after export and import"
done
expect 0 "umount of the imported store" "$CCCFS" umount "$M2"
for i in $(seq 1 100); do pgrep -f -- "$T/rt.db" >/dev/null || break; sleep 0.05; done
pgrep -f -- "$T/rt.db" >/dev/null && fail "the imported store's daemon still runs"

note "backup refuses a damaged store; export warns and exits 3"
# a record's page damaged below a later commit (no fall back at open)
cp "$T/i.db" "$T/dmg.db" || fail "copy of the imported store"
expect 0 "a commit after the import" "$CCCFS" snapshot "$T/dmg.db" create later
for off in $(grep -boa 'name: review' "$T/dmg.db" | cut -d: -f1); do
	printf 'X' | dd of="$T/dmg.db" bs=1 seek="$((off + 6))" conv=notrunc 2>/dev/null
done
[ -n "$off" ] || fail "no record bytes found in the store"
expect 3 "check of the damaged copy" "$CCCFS" check "$T/dmg.db"
expect 1 "backup of a damaged store" "$CCCFS" backup "$T/dmg.db" "$T/dmg2.db"
grep -q "the store is damaged" "$T/err" || fail "backup of damage: $(cat "$T/err")"
[ -e "$T/dmg2.db" ] && fail "a backup of a damaged store was made"
expect 3 "export of a damaged store" "$CCCFS" export "$T/dmg.db" "$T/dx"
grep -q "warning: the store is damaged" "$T/err" || fail "export of damage: $(cat "$T/err")"
[ -d "$T/dx/prompts" ] || fail "export of damage saved nothing"

note "umount; check finds damage (exit 3)"
expect 2 "umount without a mountpoint" "$CCCFS" umount
expect 0 umount "$CCCFS" umount "$M"
for i in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
DAEMON_PID=""
is_mounted "$M" && fail "still mounted after cccfs umount"
expect 1 "umount of something not mounted" "$CCCFS" umount "$M"
cp "$T/b.db" "$T/bad.db"
pages=$(( $(stat -c %s "$T/bad.db") / 4096 ))
for p in $(seq 2 $((pages - 1))); do
	printf 'garbage' | dd of="$T/bad.db" bs=1 seek=$((p * 4096 + 64)) conv=notrunc status=none
done
expect 3 "check of a damaged store" "$CCCFS" check "$T/bad.db"
grep -q "newest commit (txn [0-9]*) was incomplete or damaged" "$T/out" ||
	fail "check does not say that it fell back: $(cat "$T/out")"
grep -q "table missing" "$T/out" || fail "check does not say what is missing: $(cat "$T/out")"
