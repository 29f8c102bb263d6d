#!/usr/bin/env bash
# Bulk tools into the mount and back out, compared with diff -r:
# cp, cp -a, rsync -a, tar -x (in), tar -c (out).  Also checks that cp -a,
# rsync -a and tar keep modes and mtimes, and the three onto the root (its
# times, mode and xattrs are kept like any folder's).
. "$(dirname "$0")/lib.sh"
need rsync
need tar
need setfattr
mount_setup
mount_fs

SRC=$T/src
mkdir -p "$SRC/team/deep" "$SRC/empty" || fail "mkdir src"
for i in 1 2 3 4 5; do
	printf 'name: agent-%d\ndescription: "number %d"\ntags: [t%d]\n' "$i" "$i" "$i" > "$SRC/team/a$i.yaml"
done
printf 'name: deep\nsteps:\n  - one\n  - two\n' > "$SRC/team/deep/d.yml"
printf 'plain side file\n' > "$SRC/team/README"
head -c 10000 /dev/urandom > "$SRC/team/deep/blob.bin"
printf '# only a comment\n' > "$SRC/c.yaml"
: > "$SRC/empty.yaml"
chmod 600 "$SRC/team/a2.yaml"
chmod 755 "$SRC/team/deep"
touch -d '2020-05-06 07:08:09' "$SRC/team/a1.yaml" "$SRC/team/README"

mtime() { stat -c %Y "$1"; }

note "cp -r"
cp -r "$SRC" "$M/agents/cp" || fail "cp -r into the mount"
diff -r "$SRC" "$M/agents/cp" || fail "diff after cp -r"
note "cp over existing files (O_TRUNC)"
cp -r "$SRC/." "$M/agents/cp/" || fail "cp over existing"
diff -r "$SRC" "$M/agents/cp" || fail "diff after cp over"

note "cp -a"
cp -a "$SRC" "$M/agents/cpa" || fail "cp -a into the mount"
diff -r "$SRC" "$M/agents/cpa" || fail "diff after cp -a"
check_eq "$(stat -c %a "$M/agents/cpa/team/a2.yaml")" 600 "cp -a mode"
check_eq "$(mtime "$M/agents/cpa/team/a1.yaml")" "$(mtime "$SRC/team/a1.yaml")" "cp -a mtime"
check_eq "$(mtime "$M/agents/cpa/team/README")" "$(mtime "$SRC/team/README")" "cp -a side-file mtime"

note "rsync -a"
rsync -a "$SRC/" "$M/workflows/rs/" || fail "rsync -a into the mount"
diff -r "$SRC" "$M/workflows/rs" || fail "diff after rsync -a"
check_eq "$(mtime "$M/workflows/rs/team/a1.yaml")" "$(mtime "$SRC/team/a1.yaml")" "rsync -a mtime"
check_eq "$(stat -c %a "$M/workflows/rs/team/a2.yaml")" 600 "rsync -a mode"
# second run with changes: rsync's temp file + rename onto records
printf 'name: changed\n' > "$SRC/team/a3.yaml"
touch -d '2021-01-01' "$SRC/team/a3.yaml"
rsync -a "$SRC/" "$M/workflows/rs/" || fail "second rsync"
diff -r "$SRC" "$M/workflows/rs" || fail "diff after second rsync"
ls -a "$M/workflows/rs/team" | grep -q '^\.a3' && fail "rsync temp file left"

note "rsync of an invalid record: refused, others copied"
mkdir "$T/bad" && printf 'name: ok\n' > "$T/bad/ok.yaml" && printf 'name: [\n' > "$T/bad/bad.yaml"
rsync -a "$T/bad/" "$M/workflows/bad/" 2>"$T/rsync.err"
rc=$?
[ $rc -ne 0 ] || fail "rsync of a bad record reported success"
[ -f "$M/workflows/bad/ok.yaml" ] || fail "ok.yaml missing; rsync said: $(cat "$T/rsync.err")"
check_file "$M/workflows/bad/ok.yaml" "name: ok"
[ -e "$M/workflows/bad/bad.yaml" ] && fail "bad record stored by rsync"
grep -q "Invalid argument" "$T/rsync.err" || fail "rsync error not EINVAL: $(cat "$T/rsync.err")"

note "tar -x into the mount, tar -c out of it"
(cd "$T" && tar -cf src.tar src) || fail "tar -c source"
mkdir "$M/prompts/tar" && (cd "$M/prompts/tar" && tar -xf "$T/src.tar") || fail "tar -x into the mount"
diff -r "$SRC" "$M/prompts/tar/src" || fail "diff after tar -x"
check_eq "$(mtime "$M/prompts/tar/src/team/a1.yaml")" "$(mtime "$SRC/team/a1.yaml")" "tar -x mtime"
# again over existing files (tar unlinks and re-creates)
(cd "$M/prompts/tar" && tar -xf "$T/src.tar") || fail "tar -x over existing"
diff -r "$SRC" "$M/prompts/tar/src" || fail "diff after second tar -x"
mkdir "$T/out" && (cd "$M/prompts/tar" && tar -cf - src) | (cd "$T/out" && tar -xf -) || fail "tar out of the mount"
diff -r "$SRC" "$T/out/src" || fail "diff after tar out"

note "cp -a and rsync -a out of the mount"
cp -a "$M/agents/cpa" "$T/cpa-out" || fail "cp -a out"
diff -r "$M/agents/cpa" "$T/cpa-out" || fail "diff cp -a out"
check_eq "$(mtime "$T/cpa-out/team/a1.yaml")" "$(mtime "$SRC/team/a1.yaml")" "cp -a out mtime"
rsync -a "$M/workflows/rs/" "$T/rs-out/" || fail "rsync out"
diff -r "$SRC" "$T/rs-out" || fail "diff rsync out"

note "rsync -a, cp -a and tar -x of a whole tree onto the root"
# the shape of an export: the three kinds at the top; the tools also set
# the root's times and owner, which must work as on any folder
TREE=$T/tree
mkdir -p "$TREE/agents/r" "$TREE/prompts" "$TREE/workflows" || fail "mkdir tree"
printf 'name: root-copy\n' > "$TREE/agents/r/a.yaml"
touch -d '2021-02-03 04:05:06' "$TREE"
rsync -a "$TREE/" "$M/" 2>"$T/root.err" || fail "rsync -a onto the root: $(cat "$T/root.err")"
check_eq "$(mtime "$M")" "$(mtime "$TREE")" "root mtime after rsync -a"
touch -d '2022-02-03 04:05:06' "$TREE"
cp -a "$TREE/." "$M/" 2>"$T/root.err" || fail "cp -a onto the root: $(cat "$T/root.err")"
check_eq "$(mtime "$M")" "$(mtime "$TREE")" "root mtime after cp -a"
(cd "$TREE" && tar -cf "$T/tree.tar" .) || fail "tar -c tree"
tar -C "$M" -xf "$T/tree.tar" 2>"$T/root.err" || fail "tar -x onto the root: $(cat "$T/root.err")"
check_file "$M/agents/r/a.yaml" "name: root-copy"
chmod 750 "$M" || fail "chmod of the root"
setfattr -n user.where -v root "$M" || fail "setfattr on the root"
umount_fs
mount_fs
check_eq "$(mtime "$M")" "$(mtime "$TREE")" "root mtime after a remount"
check_eq "$(stat -c %a "$M")" 750 "root mode after a remount"
check_eq "$(getfattr -n user.where --only-values "$M")" root "root xattr after a remount"
chmod 755 "$M" || fail "chmod of the root back"

cd /
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" || fail "check: $(cat "$T/check.out")"
