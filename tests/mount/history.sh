#!/usr/bin/env bash
# Every save a version: real saves (vim, sed -i, a rename save) each make
# exactly one version; .history is hidden from the root, read-only, and
# shows every version of live and deleted records with its commit time;
# history follows renames of records and folders, survives a delete and a
# remount; cccfs log and restore work on a mounted store; side files and
# empty records have none; -o history_keep prunes in the background.
. "$(dirname "$0")/lib.sh"
need vim
need sed
need python3
mount_setup
H=$M/.history
mount_fs -o commit_interval=0,snapshot_every=0

versions() { # record path below the mount: its version files, one a line
	ls "$H/$1" 2>/dev/null
}

# wait_file PATH CONTENT: a commit by another process (cccfs restore)
# shows once the daemon's watch notices it (a 200 ms tick)
wait_file() {
	local i
	for i in $(seq 1 30); do
		[ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	check_file "$1" "$2"
}

note "one version per save: create, vim, sed -i, rename save"
start=$(date +%s)
cd "$M/prompts" || fail cd
printf 'name: review\ndescription: one\n' > review.yaml || fail create
vim -es -i NONE -u NONE --cmd 'set nocompatible backupcopy=no writebackup nobackup' \
	-c '%s/one/two/' -c wq review.yaml </dev/null || fail "vim save"
sed -i 's/two/three/' review.yaml || fail "sed -i"
python3 - review.yaml <<'PY' || fail "rename save"
import os, sys
open(".review.yaml.tmp", "w").write("name: review\ndescription: four\n")
os.replace(".review.yaml.tmp", sys.argv[1])
PY
cd / || fail cd
check_eq "$(versions prompts/review.yaml | wc -l)" 4 "versions after create and three saves"
n=0
for f in $(versions prompts/review.yaml); do
	n=$((n + 1))
	case $f in
	$(printf '%06d' $n)-[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9][0-5][0-9][0-5][0-9]Z.yaml) ;;
	*) fail "version file name '$f'" ;;
	esac
	mt=$(stat -c %Y "$H/prompts/review.yaml/$f")
	[ "$mt" -ge "$start" ] && [ "$mt" -le "$(date +%s)" ] ||
		fail "$f: mtime $mt is not its commit time"
	[ "$(date -u -d "@$mt" +%Y-%m-%dT%H%M%SZ)" = "$(echo "$f" | cut -c8-25)" ] ||
		fail "$f: name and mtime disagree ($(date -u -d "@$mt"))"
done
set -- $(versions prompts/review.yaml)
check_file "$H/prompts/review.yaml/$1" "$(printf 'name: review\ndescription: one')"
check_file "$H/prompts/review.yaml/$2" "$(printf 'name: review\ndescription: two')"
check_file "$H/prompts/review.yaml/$3" "$(printf 'name: review\ndescription: three')"
check_file "$H/prompts/review.yaml/$4" "$(printf 'name: review\ndescription: four')"
diff -q "$H/prompts/review.yaml/$4" "$M/prompts/review.yaml" >/dev/null ||
	fail "the newest version is not the live content"
diff "$H/prompts/review.yaml/$1" "$M/prompts/review.yaml" >/dev/null &&
	fail "diff of version 1 and the live record found no change"
check_eq "$(stat -c %A "$H/prompts/review.yaml/$1")" "-r--r--r--" "version file mode"

note "an identical save, a side file and an empty record make no version"
printf 'name: review\ndescription: four\n' > "$M/prompts/review.yaml"
check_eq "$(versions prompts/review.yaml | wc -l)" 4 "versions after an identical save"
echo notes > "$M/prompts/notes.txt"
echo more >> "$M/prompts/notes.txt"
[ -e "$H/prompts/notes.txt" ] && fail "a side file has history"
touch "$M/prompts/empty.yaml"
[ -e "$H/prompts/empty.yaml" ] && fail "an empty record has a version"
echo "name: e" > "$M/prompts/empty.yaml"
check_eq "$(versions prompts/empty.yaml | wc -l)" 1 "versions of a record created empty, then written"

note "hidden from the root, grep -r and find; read-only inside"
ls -a "$M" | grep -qx '.history' && fail ".history listed in the root"
[ -d "$H" ] || fail ".history not reachable by name"
check_eq "$(ls "$H")" "$(printf 'agents\nprompts\nworkflows')" ".history's top"
check_eq "$(grep -rl 'description: one' "$M" | wc -l)" 0 "grep -r walked .history"
find "$M" | grep -q '\.history' && fail "find walked .history"
expect_erofs() { # what, command...
	local what=$1 err
	shift
	err=$("$@" 2>&1) && fail "$what succeeded inside .history"
	echo "$err" | grep -q "Read-only file system" || fail "$what: '$err', want EROFS"
}
v1=$H/prompts/review.yaml/$1
expect_erofs "write" sh -c "echo x >> '$v1'"
expect_erofs "truncate" truncate -s 0 "$v1"
expect_erofs "rm" rm -f "$v1"
expect_erofs "chmod" chmod 644 "$v1"
expect_erofs "touch" touch "$v1"
expect_erofs "create" sh -c "echo x > '$H/prompts/review.yaml/new.yaml'"
expect_erofs "mkdir" mkdir "$H/prompts/d"
expect_erofs "mv" mv "$v1" "$H/prompts/review.yaml/x.yaml"
expect_erofs "rmdir" rmdir "$H/prompts/review.yaml"
check_file "$v1" "$(printf 'name: review\ndescription: one')"

note "rename keeps the history; log shows the rename"
mv "$M/prompts/review.yaml" "$M/prompts/check.yaml" || fail mv
[ -e "$H/prompts/review.yaml" ] && fail "history left at the old path"
check_eq "$(versions prompts/check.yaml | wc -l)" 4 "versions after the rename"
"$CCCFS" log "$DB" prompts/check.yaml > "$T/log" || fail "cccfs log"
grep -q 'renamed prompts/review.yaml -> prompts/check.yaml' "$T/log" ||
	fail "log does not show the rename: $(cat "$T/log")"
check_eq "$(awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }' "$T/log" | tr '\n' ' ')" "4 3 2 1 " "versions in the log, newest first"
grep -q '^ *4 .*+1 -1  (live)' "$T/log" || fail "log line of the live version: $(cat "$T/log")"

note "folder rename moves every record's history"
mkdir -p "$M/agents/team" || fail mkdir
echo "name: a1" > "$M/agents/team/a.yaml"
echo "name: a2" > "$M/agents/team/a.yaml"
mv "$M/agents/team" "$M/agents/crew" || fail "mv folder"
check_eq "$(versions agents/crew/a.yaml | wc -l)" 2 "versions after the folder moved"
[ -e "$H/agents/team" ] && fail "history left in the old folder"

note "delete keeps the history; restore brings a version back as a new one"
rm "$M/prompts/check.yaml" || fail rm
[ -e "$M/prompts/check.yaml" ] && fail "not deleted"
check_eq "$(versions prompts/check.yaml | wc -l)" 4 "versions of the deleted record"
ls "$H/prompts" | grep -qx check.yaml || fail ".history/prompts does not list the deleted record"
"$CCCFS" log "$DB" prompts/check.yaml | grep -q ' deleted' || fail "log does not show the deletion"
"$CCCFS" ls "$DB" prompts > "$T/ls" || fail "cccfs ls"
grep -qx prompts/check.yaml "$T/ls" && fail "cccfs ls lists the deleted record"
"$CCCFS" ls "$DB" prompts --deleted > "$T/ls" || fail "cccfs ls --deleted"
check_eq "$(grep -cx prompts/check.yaml "$T/ls")" 1 "cccfs ls --deleted: the deleted record, once"
"$CCCFS" restore "$DB" prompts/check.yaml --version 2 > "$T/out" || fail "cccfs restore --version 2"
grep -q 'as version 5' "$T/out" || fail "restore said: $(cat "$T/out")"
wait_file "$M/prompts/check.yaml" "$(printf 'name: review\ndescription: two')"
check_eq "$(versions prompts/check.yaml | wc -l)" 5 "versions after the restore"
"$CCCFS" restore "$DB" prompts/check.yaml --version 9 2>"$T/err" && fail "restore of a missing version succeeded"
grep -q 'no version 9' "$T/err" || fail "restore's message: $(cat "$T/err")"
rm -r "$M/agents/crew" || fail "rm -r"
ls "$H/agents" | grep -qx crew || fail "a deleted folder's records are not listed"
"$CCCFS" ls "$DB" agents --deleted | grep -qx agents/crew/ || fail "cccfs ls --deleted lacks the deleted folder"
check_eq "$("$CCCFS" ls "$DB" agents/crew --deleted)" agents/crew/a.yaml "cccfs ls --deleted in a deleted folder"
"$CCCFS" ls "$DB" agents/crew 2>/dev/null && fail "cccfs ls of a deleted folder without --deleted succeeded"
check_eq "$(versions agents/crew/a.yaml | wc -l)" 2 "versions below a deleted folder"
"$CCCFS" restore "$DB" agents/crew/a.yaml --version 1 >/dev/null || fail "restore into a deleted folder"
wait_file "$M/agents/crew/a.yaml" "name: a1"

note "the store's log lists the commits"
echo "name: gone" > "$M/workflows/gone.yaml"
rm "$M/workflows/gone.yaml"
"$CCCFS" log "$DB" -n 100 > "$T/slog" || fail "cccfs log DB"
grep -qP '^R\tprompts/review.yaml\tprompts/check.yaml$' "$T/slog" || fail "store log lacks the rename: $(cat "$T/slog")"
grep -qP '^-\tworkflows/gone.yaml$' "$T/slog" || fail "store log lacks the deletion"
grep -qP '^\+\tprompts/review.yaml$' "$T/slog" || fail "store log lacks the creation at the old path"
"$CCCFS" stat "$DB" | grep -q '^history  *[0-9]* records, [1-9][0-9]* older versions' ||
	fail "stat does not show history: $("$CCCFS" stat "$DB" | tail -2)"

note "cccfs diff between trees, with renames, patches and key paths"
printf 'name: w\nsteps:\n  - agent: reviewer\n    do: x\ntags: [a, b]\n' > "$M/workflows/w.yaml"
echo "name: p" > "$M/prompts/p.yaml"
echo "name: old" > "$M/prompts/old.yaml"
mkdir "$M/.snapshots/s1" || fail "mkdir .snapshots/s1"
printf 'name: w\nsteps:\n  - agent: triager\n    do: x\ntags: [a, b, weekly]\n' > "$M/workflows/w.yaml"
mv "$M/prompts/p.yaml" "$M/prompts/q.yaml"
rm "$M/prompts/old.yaml"
echo "name: n" > "$M/agents/n.yaml"
"$CCCFS" diff "$DB" s1 > "$T/diff" || fail "cccfs diff s1"
check_eq "$(cat "$T/diff")" "$(printf '+\tagents/n.yaml\n-\tprompts/old.yaml\nR\tprompts/p.yaml\tprompts/q.yaml\nM\tworkflows/w.yaml')" "diff s1 live"
"$CCCFS" diff "$DB" s1 live workflows --yaml > "$T/diff" || fail "cccfs diff --yaml"
check_eq "$(cat "$T/diff")" "$(printf 'M\tworkflows/w.yaml\n\tsteps[0].agent: reviewer -> triager\n\t+ tags[2]: weekly')" "diff --yaml"
"$CCCFS" diff "$DB" s1 live prompts/old.yaml --patch > "$T/diff" || fail "cccfs diff --patch"
check_eq "$(cat "$T/diff")" "$(printf -- '-\tprompts/old.yaml\n--- a/prompts/old.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-name: old')" "diff --patch of a deletion"
"$CCCFS" diff "$DB" workflows/w.yaml@1 --patch > "$T/diff" || fail "cccfs diff PATH@1"
diff -u "$H/workflows/w.yaml/$(ls "$H/workflows/w.yaml" | head -1)" "$M/workflows/w.yaml" | tail -n +3 > "$T/gnu"
check_eq "$(tail -n +4 "$T/diff")" "$(cat "$T/gnu")" "diff PATH@1 --patch against diff -u"
"$CCCFS" diff "$DB" nosuch 2>"$T/err" && fail "diff against a missing snapshot succeeded"
grep -q "no snapshot named 'nosuch'" "$T/err" || fail "diff's message: $(cat "$T/err")"

note "restoring a whole snapshot keeps the history and adds to it"
nw=$(versions workflows/w.yaml | wc -l)
nq=$(versions prompts/q.yaml | wc -l)
"$CCCFS" snapshot "$DB" restore s1 >/dev/null || fail "snapshot restore s1"
wait_file "$M/workflows/w.yaml" "$(printf 'name: w\nsteps:\n  - agent: reviewer\n    do: x\ntags: [a, b]')"
check_eq "$(versions workflows/w.yaml | wc -l)" $((nw + 1)) "versions of a record the restore changed"
set -- $(versions workflows/w.yaml)
check_file "$H/workflows/w.yaml/${@: -2:1}" "$(printf 'name: w\nsteps:\n  - agent: triager\n    do: x\ntags: [a, b, weekly]')"
check_eq "$(versions prompts/q.yaml | wc -l)" "$nq" "versions of a record the restore removed"
"$CCCFS" log "$DB" prompts/q.yaml | grep -q ' deleted' || fail "the restore's removal is not in the log"
check_eq "$("$CCCFS" diff "$DB" s1)" "" "diff s1 live after restoring s1"
rmdir "$M/.snapshots/s1"
for s in $(ls "$M/.snapshots"); do rmdir "$M/.snapshots/$s"; done

note "cccfs check finds the history sound, emptied and re-created records too"
echo "name: t" > "$M/prompts/t.yaml"
truncate -s 0 "$M/prompts/t.yaml"
echo "name: u" > "$M/prompts/u.yaml"
rm "$M/prompts/u.yaml"
touch "$M/prompts/u.yaml"
check_eq "$(versions prompts/t.yaml | wc -l)" 2 "versions of a record emptied"
"$CCCFS" check "$DB" > "$T/check" || fail "cccfs check: $(cat "$T/check")"

note "history survives a remount"
before=$(ls -R "$H")
umount_fs
mount_fs -o commit_interval=0,snapshot_every=0,history_keep=1s,2
check_eq "$(ls -R "$H")" "$before" ".history after a remount"

note "labels pin versions: .labels, renames, log"
L=$M/.labels
for i in 1 2 3 4 5; do echo "name: p$i" > "$M/workflows/p.yaml"; done
"$CCCFS" label "$DB" set production workflows/p.yaml --version 2 >/dev/null || fail "label set --version 2"
"$CCCFS" label "$DB" set staging workflows/p.yaml >/dev/null || fail "label set"
"$CCCFS" label "$DB" set production agents/crew/a.yaml >/dev/null || fail "label set a second record"
"$CCCFS" label "$DB" set production workflows/p.yaml --version 99 2>"$T/err" && fail "label set of a missing version"
grep -q 'has no version 99' "$T/err" || fail "label set's message: $(cat "$T/err")"
ls -a "$M" | grep -qx '.labels' && fail ".labels listed in the root"
check_eq "$(cd "$L" && find . | sort | tr '\n' ' ')" ". ./production ./production/agents ./production/agents/crew ./production/agents/crew/a.yaml ./production/workflows ./production/workflows/p.yaml ./staging ./staging/workflows ./staging/workflows/p.yaml " ".labels tree"
check_file "$L/production/workflows/p.yaml" "name: p2"
check_file "$L/staging/workflows/p.yaml" "name: p5"
echo "name: p6" > "$M/workflows/p.yaml"
check_file "$L/staging/workflows/p.yaml" "name: p5"
expect_erofs "write in .labels" sh -c "echo x > '$L/production/workflows/p.yaml'"
mv "$M/workflows/p.yaml" "$M/workflows/q.yaml"
check_file "$L/production/workflows/q.yaml" "name: p2"
[ -e "$L/production/workflows/p.yaml" ] && fail "a label stayed at the old path"
tar -C "$L/production" -cf "$T/release.tar" . || fail "tar of a label"
check_eq "$(tar -tf "$T/release.tar" | grep -c 'yaml$')" 2 "records in the label's tar"
"$CCCFS" log "$DB" -n 20 | grep -qP '^L\tproduction\tworkflows/p.yaml@2$' || fail "log lacks the label"
"$CCCFS" label "$DB" rm staging >/dev/null || fail "label rm"
[ -e "$L/staging" ] && fail "a removed label is still shown"
check_eq "$("$CCCFS" label "$DB" list | cut -f1-3 | tr '\t\n' ' |')" "production agents/crew/a.yaml 3|production workflows/q.yaml 2|" "label list"

note "history_keep=1s,2 (a comma inside -o) prunes to the newest two, in the background, never a labelled one"
for i in $(seq 1 150); do
	[ "$(versions workflows/q.yaml | wc -l)" = 3 ] && break
	sleep 0.2
done
check_eq "$(versions workflows/q.yaml | wc -l)" 3 "versions after pruning"
set -- $(versions workflows/q.yaml)
check_file "$H/workflows/q.yaml/$1" "name: p2"
check_file "$H/workflows/q.yaml/$2" "name: p5"
case $2 in 000005-*) ;; *) fail "pruning renumbered: $2" ;; esac
grep -q 'history retention (history_keep=1s:2) deleted' "$T/daemon.log" || fail "pruning not logged"
"$CCCFS" check "$DB" > "$T/check" || fail "cccfs check after pruning: $(cat "$T/check")"
umount_fs

note "a bad history_keep is refused"
"$CCCFS" mount -f -o history_keep=fortnight "$DB" "$M" 2>"$T/err" && fail "history_keep=fortnight accepted"
grep -q 'history_keep=fortnight' "$T/err" || fail "message: $(cat "$T/err")"
if is_mounted "$M"; then fail "mounted with a bad history_keep"; fi
