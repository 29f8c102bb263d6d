#!/usr/bin/env bash
# The .snapshots folder: hidden from the root's listing but reachable;
# mkdir takes a snapshot that keeps the old content while the live tree
# moves on; EROFS for every change inside; mv renames and rmdir deletes;
# rmdir frees space; snapshots survive a remount; cp -a of a snapshot
# taken while a writer rewrites files is one point in time; restore from
# the command line shows at once in the mounted tree and keeps what it
# replaced; backup, export and import round-trip while mounted; automatic
# snapshots are taken only after changes and trimmed by retention.
. "$(dirname "$0")/lib.sh"
mount_setup
need setfattr

S=$M/.snapshots
# history_keep=off: the space a snapshot holds, measured below, alone
mount_fs -o commit_interval=0,snapshot_every=0,history_keep=off

note "hidden from the root's listing, reachable by name"
mkdir -p "$M/prompts/coding" "$M/workflows/release" || fail mkdir
printf 'name: review\ndescription: old\n' > "$M/prompts/coding/review.yaml"
printf 'name: ship\n' > "$M/workflows/release/ship.yaml"
printf 'scratch\n' > "$M/prompts/coding/notes.txt"
ls -a "$M" | grep -qx '.snapshots' && fail ".snapshots listed in the root by default"
[ -d "$S" ] || fail ".snapshots is not reachable"
check_eq "$(ls -A "$S" | wc -l)" 0 "snapshots in a fresh store"
check_eq "$(grep -rl review "$M" | wc -l)" 1 "grep -r of the mount"

note "mkdir takes a snapshot; later edits stay out of it"
before=$(date +%s)
mkdir "$S/first" || fail "mkdir .snapshots/first"
printf 'name: review\ndescription: new and longer\n' > "$M/prompts/coding/review.yaml"
rm "$M/workflows/release/ship.yaml"
check_file "$S/first/prompts/coding/review.yaml" "$(printf 'name: review\ndescription: old')"
check_file "$M/prompts/coding/review.yaml" "$(printf 'name: review\ndescription: new and longer')"
check_file "$S/first/workflows/release/ship.yaml" "name: ship"
[ -e "$M/workflows/release/ship.yaml" ] && fail "live file not removed"
[ -e "$S/first/prompts/coding/notes.txt" ] && fail "side file shown in a snapshot"
check_eq "$(ls "$S/first")" "$(printf 'agents\nprompts\nworkflows')" "snapshot root"
check_eq "$(stat -c %s "$S/first/prompts/coding/review.yaml")" 30 "size in the snapshot"
check_eq "$(stat -c %A "$S/first/prompts/coding/review.yaml")" "-r--r--r--" "mode in the snapshot"
mt=$(stat -c %Y "$S/first")
[ "$mt" -ge "$before" ] && [ "$mt" -le "$(date +%s)" ] || fail "snapshot folder mtime $mt is not its creation time"
"$CCCFS" snapshot "$DB" list | grep -q '^first ' || fail "snapshot list does not show 'first'"

note "EROFS for every change inside a snapshot"
expect_erofs() { # what, command...
	local what=$1; shift
	if "$@" 2>"$T/erofs.err"; then fail "$what inside a snapshot succeeded"; fi
	grep -q 'Read-only file system' "$T/erofs.err" ||
		fail "$what inside a snapshot: $(cat "$T/erofs.err"), want EROFS"
}
F=$S/first/prompts/coding/review.yaml
expect_erofs create sh -c "echo 'name: x' > '$S/first/prompts/new.yaml'"
expect_erofs write sh -c "echo 'x: 1' >> '$F'"
expect_erofs truncate truncate -s 0 "$F"
expect_erofs rename mv "$F" "$S/first/prompts/coding/other.yaml"
expect_erofs "rename out" mv "$F" "$M/prompts/out.yaml"
expect_erofs "rename in" mv "$M/prompts/coding/review.yaml" "$S/first/prompts/in.yaml"
expect_erofs unlink rm -f "$F"
expect_erofs rmdir rmdir "$S/first/agents"
expect_erofs mkdir mkdir "$S/first/prompts/sub"
expect_erofs chmod chmod 666 "$F"
expect_erofs touch touch "$F"
expect_erofs setfattr setfattr -n user.k -v v "$F"
expect_erofs symlink ln -s x "$S/first/prompts/link"
check_file "$F" "$(printf 'name: review\ndescription: old')"
[ -f "$M/prompts/coding/review.yaml" ] || fail "failed rename into a snapshot lost the source"

note "a snapshot with the longest name shows the record at the longest path"
# 8 + 3 * 251 + 239 = 1000 bytes (PM_PATH_MAX), below .snapshots/<255 bytes>/
x250=$(printf 'x%.0s' $(seq 250))
LD=prompts/$x250/${x250//x/y}/${x250//x/w}
LF=$LD/$(printf 'z%.0s' $(seq 234)).yaml
check_eq "${#LF}" 1000 "length of the longest path"
mkdir -p "$M/$LD" || fail "mkdir of the longest folders"
printf 'name: long\n' > "$M/$LF" || fail "write at the longest path"
LS=$(printf 'S%.0s' $(seq 255))
mkdir "$S/$LS" || fail "mkdir of a snapshot with a 255-byte name"
check_file "$S/$LS/$LF" "name: long"
check_eq "$(find "$S/$LS" -type f | wc -l)" \
	"$(find "$M/agents" "$M/prompts" "$M/workflows" -type f -name '*.yaml' | wc -l)" \
	"records found in the snapshot"
cp -a "$S/$LS" "$T/longcopy" || fail "cp -a of the snapshot"
check_file "$T/longcopy/$LF" "name: long"
expect_erofs "create at the longest depth" sh -c "echo 'a: 1' > '$S/$LS/$LD/new.yaml'"
rmdir "$S/$LS" || fail "rmdir of the long snapshot"
rm -r "$M/prompts/$x250" || fail "rm of the longest folders"

note "mv renames a snapshot, rmdir deletes it"
mkdir "$S/second" || fail "mkdir second"
mkdir "$S/second" 2>/dev/null && fail "mkdir of an existing snapshot succeeded"
mv "$S/second" "$S/renamed" || fail "mv of a snapshot"
check_eq "$(ls "$S" | tr '\n' ' ')" "first renamed " "after mv"
"$CCCFS" snapshot "$DB" list | grep -q '^renamed ' || fail "list after mv"
rmdir "$S/renamed" || fail "rmdir of a snapshot"
[ -e "$S/renamed" ] && fail "snapshot still there after rmdir"
check_eq "$(ls "$S" | tr '\n' ' ')" "first " "after rmdir"

note "snapdir=visible lists .snapshots"
umount_fs
mount_fs -o commit_interval=0,snapshot_every=0,snapdir=visible
ls -a "$M" | grep -qx '.snapshots' || fail ".snapshots not listed with snapdir=visible"
note "snapshots survive a remount"
check_file "$S/first/prompts/coding/review.yaml" "$(printf 'name: review\ndescription: old')"
umount_fs
"$CCCFS" check "$DB" >/dev/null || fail "check after the first part"
# history_keep=off: the space a snapshot holds, measured below, alone
mount_fs -o commit_interval=0,snapshot_every=0,history_keep=off

note "rmdir frees space: create/overwrite/delete loop stays bounded"
big=$T/big.yaml
{ echo "name: big"; echo "steps:"; for i in $(seq 1 1500); do echo "  - step $i of the long workflow"; done; } > "$big"
for round in $(seq 1 120); do
	mkdir "$S/loop" || fail "mkdir loop $round"
	cp "$big" "$M/workflows/big.yaml" || fail "save $round"
	echo "# round $round" >> "$M/workflows/big.yaml" || fail "append $round"
	rmdir "$S/loop" || fail "rmdir loop $round"
	[ "$round" = 30 ] && size30=$(stat -c %s "$DB")
done
size120=$(stat -c %s "$DB")
note "store size after 30 rounds $size30, after 120 rounds $size120"
[ "$size120" -le $((size30 + 262144)) ] || fail "store grew from $size30 to $size120 bytes"
note "while snapshots are kept, the same loop holds their pages"
for round in $(seq 1 20); do
	mkdir "$S/keep$round" || fail "mkdir keep$round"
	echo "# kept round $round" >> "$M/workflows/big.yaml" || fail "append kept $round"
done
size_kept=$(stat -c %s "$DB")
[ "$size_kept" -gt $((size120 + 20 * 40000)) ] || fail "kept snapshots hold no space ($size120 -> $size_kept)"
for round in $(seq 1 20); do rmdir "$S/keep$round" || fail "rmdir keep$round"; done

note "cp -a of a snapshot taken while a writer rewrites files"
mkdir -p "$M/agents/load"
for i in $(seq -w 1 40); do printf 'name: a%s\nversion: "0"\n' "$i" > "$M/agents/load/a$i.yaml"; done
(
	v=1
	while [ ! -e "$T/stop" ]; do
		for i in $(seq -w 1 40); do
			printf 'name: a%s\nversion: "%d"\n' "$i" "$v" > "$M/agents/load/a$i.yaml" || exit 1
		done
		v=$((v + 1))
	done
) &
writer=$!
sleep 0.7
mkdir "$S/during" || fail "mkdir during the writes"
cp -a "$S/during" "$T/copy" || fail "cp -a of the snapshot"
sleep 0.3
touch "$T/stop"
wait $writer || fail "writer failed"
# one point in time: files 1..k hold version r, files k+1..40 version r-1
versions=$(for i in $(seq -w 1 40); do sed -n 's/^version: "\(.*\)"/\1/p' "$T/copy/agents/load/a$i.yaml"; done | tr '\n' ' ')
echo "$versions" | awk '{ hi = $1; lo = $NF; if (hi - lo > 1) exit 1;
	for (i = 2; i <= NF; i++) if ($i > $(i-1)) exit 1 }' ||
	fail "snapshot copy is not one point in time: versions $versions"
"$CCCFS" export "$DB" "$T/during-export" --snapshot during >/dev/null || fail "export --snapshot"
diff -r "$T/copy" "$T/during-export" >/dev/null || fail "cp -a of the snapshot differs from its export"
[ "$(stat -c %A "$T/copy/agents/load/a01.yaml")" = "-r--r--r--" ] || fail "cp -a kept no modes"

note "restore from the command line shows at once and keeps what it replaced"
printf 'name: back\n' > "$M/prompts/back.yaml"
mkdir "$S/good" || fail "mkdir good"
printf 'name: review\ndescription: a bad edit\n' > "$M/prompts/coding/review.yaml"
printf 'name: stray\n' > "$M/prompts/stray.yaml"
mkdir "$M/prompts/later" || fail "mkdir later"
printf 'name: later\n' > "$M/prompts/later/l.yaml"
rm "$M/prompts/back.yaml"
# the kernel now holds names, sizes and a "no such file" it was told
stat "$M/prompts/stray.yaml" "$M/prompts/coding/review.yaml" \
	"$M/prompts/later/l.yaml" >/dev/null
stat "$M/prompts/back.yaml" 2>/dev/null && fail "back.yaml not removed"
ls -l "$M/prompts" >/dev/null
# every commit so far was the daemon's own, the first after the mount
# (whose txnid skips ahead) included: nothing was taken for another
# process's change (that drops every cached name and page)
sleep 0.5 # a tick of the daemon's watcher
grep -q 'changed by another process' "$T/daemon.log" &&
	fail "the daemon took its own commits for another process's: $(grep 'another process' "$T/daemon.log" | head -3)"
# a process working inside a folder the restore touches
(cd "$M/prompts/coding" && while [ ! -e "$T/go" ]; do sleep 0.05; done &&
	python3 -c "import os; print(os.getcwd())" >"$T/cwd.out" &&
	ls >"$T/cwdls.out") &
cwd_pid=$!
out=$("$CCCFS" snapshot "$DB" restore good) || fail "restore failed: $out"
saved=$(echo "$out" | sed -n 's/.*snapshot \(before-restore-[^ ]*\)$/\1/p')
# once the daemon has dropped what the kernel cached (nothing else looks
# into prompts/coding meanwhile), the process working there still knows
# where it is
for i in $(seq 1 30); do
	[ -e "$M/prompts/stray.yaml" ] || break
	sleep 0.1
done
sleep 0.3
touch "$T/go"
wait $cwd_pid || fail "a process in a folder of the tree lost its way after the restore"
check_eq "$(cat "$T/cwd.out")" "$M/prompts/coding" "getcwd after the restore"
grep -qx review.yaml "$T/cwdls.out" || fail "ls in the working folder after the restore"
[ -n "$saved" ] || fail "restore did not name the snapshot it kept: $out"
ok=""
for i in $(seq 1 30); do
	if [ "$(cat "$M/prompts/coding/review.yaml")" = "$(printf 'name: review\ndescription: new and longer')" ] &&
	   [ ! -e "$M/prompts/stray.yaml" ]; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || fail "the mounted tree does not show the restored state"
want_size=$(printf 'name: review\ndescription: new and longer\n' | wc -c)
ok=""
for i in $(seq 1 30); do
	if [ "$(stat -c %s "$M/prompts/coding/review.yaml")" = "$want_size" ] &&
	   ! ls "$M/prompts" | grep -qx stray.yaml &&
	   [ ! -e "$M/prompts/later" ] && [ ! -e "$M/prompts/later/l.yaml" ] &&
	   [ "$(cat "$M/prompts/back.yaml" 2>/dev/null)" = "name: back" ]; then
		ok=1; break
	fi
	sleep 0.1
done
[ -n "$ok" ] || fail "sizes, listing or names after the restore are stale"
grep -q 'changed by another process' "$T/daemon.log" ||
	fail "the daemon did not notice the restore as another process's commit"
check_file "$S/$saved/prompts/coding/review.yaml" "$(printf 'name: review\ndescription: a bad edit')"
check_file "$S/$saved/prompts/stray.yaml" "name: stray"

note "backup, export and import round-trip while mounted"
"$CCCFS" backup "$DB" "$T/backup.db" >/dev/null || fail "backup"
"$CCCFS" backup "$DB" "$T/backup.db" 2>/dev/null && fail "backup over an existing file succeeded"
"$CCCFS" check "$T/backup.db" >/dev/null || fail "check of the backup"
note "the backup mounts as a store of its own"
mkdir "$T/bmnt"
"$CCCFS" mount -o snapshot_every=0 "$T/backup.db" "$T/bmnt" || fail "mount of the backup"
diff -r "$M/prompts" "$T/bmnt/prompts" >/dev/null; brc=$?
diff -r "$M/workflows" "$T/bmnt/workflows" >/dev/null || brc=1
fusermount3 -u "$T/bmnt" || fail "unmount of the backup"
for i in $(seq 1 50); do pgrep -f -- "$T/backup.db" >/dev/null || break; sleep 0.1; done
[ "$brc" = 0 ] || fail "the mounted backup differs from the live tree"
"$CCCFS" export "$DB" "$T/e1" >/dev/null || fail "export"
"$CCCFS" export "$T/backup.db" "$T/e-backup" >/dev/null || fail "export of the backup"
diff -r "$T/e1" "$T/e-backup" || fail "backup differs from the live state"
"$CCCFS" import "$T/new.db" "$T/e1" >/dev/null || fail "import"
"$CCCFS" export "$T/new.db" "$T/e2" >/dev/null || fail "second export"
diff -r "$T/e1" "$T/e2" || fail "export -> import -> export is not byte for byte"
check_eq "$(stat -c '%a %Y' "$T/e1/prompts/coding/review.yaml")" \
	"$(stat -c '%a %Y' "$T/e2/prompts/coding/review.yaml")" "mode and mtime after the round trip"
"$CCCFS" backup "$DB" "$T/snap.db" --snapshot first >/dev/null || fail "backup --snapshot"
"$CCCFS" export "$T/snap.db" "$T/e-snap" >/dev/null || fail "export of the snapshot backup"
check_file "$T/e-snap/prompts/coding/review.yaml" "$(printf 'name: review\ndescription: old')"
note "import of a cp -a of a snapshot folder, into the mounted store"
cp -a "$S/first" "$T/first-copy" || fail "cp -a first"
# a snapshot shows its files read-only and import keeps modes: made
# writable first, as import --help says
chmod -R u+w "$T/first-copy"
printf 'name: [unclosed\n' > "$T/first-copy/workflows/broken.yaml"
"$CCCFS" import "$DB" "$T/first-copy" 2>"$T/import.err" && fail "import with an invalid file succeeded"
grep -q 'broken.yaml: line 1, column' "$T/import.err" || fail "import error lacks path, line, column: $(cat "$T/import.err")"
[ -e "$M/workflows/release/ship.yaml" ] && fail "a refused import changed the store"
"$CCCFS" import "$DB" "$T/first-copy" --skip-invalid >/dev/null 2>&1 || fail "import --skip-invalid"
ok=""
for i in $(seq 1 30); do
	[ -f "$M/workflows/release/ship.yaml" ] && ok=1 && break
	sleep 0.1
done
[ -n "$ok" ] || fail "imported record not visible in the mount"
check_file "$M/workflows/release/ship.yaml" "name: ship"
check_eq "$(stat -c %A "$M/workflows/release/ship.yaml")" "-rw-r--r--" "mode of an imported record"
check_eq "$(stat -c %A "$M/workflows/release")" "drwxr-xr-x" "mode of an imported folder"
umount_fs
"$CCCFS" check "$DB" >/dev/null || fail "check after backup/export/import"

note "automatic snapshots: only after changes, trimmed by retention"
mkdir "$M" 2>/dev/null
mount_fs -o commit_interval=0,snapshot_every=1s,keep=1m
count_auto() { ls "$S" | grep -c '^auto-'; }
for i in $(seq 1 50); do [ "$(count_auto)" -ge 1 ] && break; sleep 0.1; done
[ "$(count_auto)" -ge 1 ] || fail "no automatic snapshot after mounting a changed store"
first_auto=$(ls "$S" | grep '^auto-' | tail -n1)
sleep 2.5
check_eq "$(ls "$S" | grep '^auto-' | tail -n1)" "$first_auto" "newest automatic snapshot without changes"
printf 'name: later\n' > "$M/workflows/later.yaml"
for i in $(seq 1 50); do
	[ "$(ls "$S" | grep '^auto-' | tail -n1)" != "$first_auto" ] && break
	sleep 0.1
done
newest=$(ls "$S" | grep '^auto-' | tail -n1)
[ "$newest" != "$first_auto" ] || fail "no automatic snapshot after a change"
[ -f "$S/$newest/workflows/later.yaml" ] || fail "automatic snapshot misses the change"
for n in 1 2 3; do
	printf 'name: later %s\n' "$n" > "$M/workflows/later.yaml"
	sleep 1.2
done
sleep 1
autos=$(count_auto)
[ "$autos" -le 2 ] || fail "keep=1m left $autos automatic snapshots: $(ls "$S" | tr '\n' ' ')"
for s in first good during "$saved"; do
	[ -d "$S/$s" ] || fail "retention deleted the snapshot '$s' made by hand"
done
umount_fs
"$CCCFS" check "$DB" >/dev/null || fail "final check"
