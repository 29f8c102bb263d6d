#!/usr/bin/env bash
# Safety: file modes, privacy of the mount, symlinks and limits.
#   - the store and its lock file are created 0600, by `cccfs init` and by
#     a mount of a new path, whatever the umask;
#   - the mount is private: without -o allow_other another user (nobody)
#     cannot even list it; with allow_other file modes apply to them
#     (default_permissions);
#   - a symlink is stored as a link, never followed by the daemon: its
#     target is kept verbatim (absolute, dangling, a loop, 3,000 bytes),
#     a .yaml link to invalid YAML is not validated, writing through a
#     link changes its target outside the mount and not the store;
#   - limits fail cleanly: a name of 256 bytes and a path over 1,000 bytes
#     give ENAMETOOLONG (also a rename whose subtree would get too deep,
#     which must leave the subtree in place); a record over max_record
#     gives EFBIG from write() (and from close() once earlier writes
#     fit), keeps the old content, even after O_TRUNC, and names
#     max_record in user.cccfs.error.
# All symlink targets point inside this test's own directory.
. "$(dirname "$0")/lib.sh"
mount_setup
need python3
need setpriv

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

note "the store and its lock file are 0600"
for mask in 022 000 077; do
	(umask $mask && "$CCCFS" init "$T/m$mask.db") || fail "init, umask $mask"
	check_eq "$(stat -c %a "$T/m$mask.db" "$T/m$mask.db-lock" | tr '\n' ' ')" \
		"600 600 " "modes of a store made by init, umask $mask"
done
note "a planted lock-file symlink is not followed"
printf 'precious\n' > "$T/precious"
chmod 0644 "$T/precious"
ln -s "$T/precious" "$T/trap.db-lock"
"$CCCFS" init "$T/trap.db" 2>"$T/err" && fail "init went through a lock-file symlink"
check_file "$T/precious" "precious"
check_eq "$(stat -c %a "$T/precious")" 644 "mode of the symlink's target"
umask 000
mount_fs
umask 022
check_eq "$(stat -c %a "$DB" "$DB-lock" | tr '\n' ' ')" "600 600 " \
	"modes of a store made by mount, umask 000"

note "the mount is private"
chmod 0711 "$T"
grep " $M fuse" /proc/mounts | grep -q allow_other &&
	fail "allow_other without -o allow_other"
printf 'name: open\n' >"$M/prompts/open.yaml" && chmod 0644 "$M/prompts/open.yaml"
as_nobody ls "$M/prompts" >/dev/null 2>"$T/err" &&
	fail "another user can list a private mount"
grep -q 'Permission denied' "$T/err" || fail "private mount: $(cat "$T/err")"
as_nobody cat "$M/prompts/open.yaml" >/dev/null 2>&1 &&
	fail "another user can read a private mount"
umount_fs
mount_fs -o allow_other
grep " $M fuse" /proc/mounts | grep -q allow_other || fail "allow_other not in /proc/mounts"
printf 'name: secret\n' >"$M/prompts/secret.yaml" && chmod 0600 "$M/prompts/secret.yaml"
check_eq "$(as_nobody cat "$M/prompts/open.yaml")" "name: open" "allow_other: a 0644 record"
as_nobody cat "$M/prompts/secret.yaml" >/dev/null 2>&1 &&
	fail "allow_other: another user reads a 0600 record"
as_nobody sh -c "echo 'name: x' > '$M/prompts/open.yaml'" 2>/dev/null &&
	fail "allow_other: another user writes a root-owned 0644 record"
as_nobody touch "$M/prompts/new.yaml" 2>/dev/null &&
	fail "allow_other: another user creates a file in a root-owned folder"
check_file "$M/prompts/open.yaml" "name: open"
umount_fs
chmod 0700 "$T"

note "symlinks are stored, never followed"
mount_fs
O=$T/outside
mkdir "$O" && printf 'not: [yaml\n' >"$O/bad.txt" && printf 'kept\n' >"$O/target.txt"
L=$M/prompts/links
mkdir "$L" || fail "mkdir $L"
long=$O/$(printf 'x%.0s' $(seq 1 3000))
ln -s "$O/bad.txt" "$L/bad.yaml" || fail "symlink to invalid YAML"
ln -s "$O/target.txt" "$L/out.txt" || fail "symlink outside"
ln -s "$O/missing" "$L/dangling" || fail "dangling symlink"
ln -s loop-b "$L/loop-a" && ln -s loop-a "$L/loop-b" || fail "symlink loop"
ln -s "$long" "$L/long" || fail "3,000-byte symlink target"
ln -s ../open.yaml "$L/rel.yaml" || fail "relative symlink"
expect_links() {
	check_eq "$(readlink "$L/bad.yaml")" "$O/bad.txt" "link to invalid YAML"
	check_eq "$(readlink "$L/out.txt")" "$O/target.txt" "link outside"
	check_eq "$(readlink "$L/dangling")" "$O/missing" "dangling link"
	check_eq "$(readlink "$L/loop-a")" loop-b "loop link"
	check_eq "$(readlink "$L/long")" "$long" "long link"
	check_eq "$(readlink "$L/rel.yaml")" ../open.yaml "relative link"
	check_eq "$(find "$L" -maxdepth 1 -type l | wc -l)" 7 "links are links"
}
expect_links
getfattr -n user.cccfs.error "$L/bad.yaml" >/dev/null 2>&1 &&
	fail "a symlink was validated as a record"
check_eq "$(cat "$L/rel.yaml")" "name: open" "reading through a relative link"
cat "$L/loop-a" >/dev/null 2>"$T/err" && fail "reading a symlink loop"
grep -q 'Too many levels' "$T/err" || fail "symlink loop: $(cat "$T/err")"
echo changed >"$L/out.txt" || fail "writing through a link"
check_eq "$(cat "$O/target.txt")" changed "the link's target outside"
ln -s "$O/$(printf 'y%.0s' $(seq 1 5000))" "$L/toolong" 2>/dev/null &&
	fail "a 5,000-byte symlink target was accepted"
umount_fs
mount_fs
expect_links
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 || fail "check with symlinks: $(cat "$T/check.out")"

note "limits"
mount_fs -o max_record=1000
python3 - "$M/workflows" <<'PY' || fail "limits"
import errno, os, sys

d = sys.argv[1]
def expect(errno_, what, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != errno_:
            sys.exit("%s: %s, want %s" % (what, e, errno.errorcode[errno_]))
        return
    sys.exit("%s succeeded" % what)

def save(path, data):
    with open(path, "w") as f:
        f.write(data)

# names: 255 bytes fit, 256 do not
open(os.path.join(d, "n" * 255), "w").close()
expect(errno.ENAMETOOLONG, "256-byte name", save, os.path.join(d, "n" * 256), "")
expect(errno.ENAMETOOLONG, "256-byte folder name", os.mkdir, os.path.join(d, "n" * 256))

# paths: folders of 200-byte names nest until the path passes 1,000 bytes
p, depth = d, 0
while True:
    q = os.path.join(p, "d%d" % depth + "d" * 198)
    try:
        os.mkdir(q)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            sys.exit("mkdir at depth %d: %s" % (depth, e))
        break
    p, depth = q, depth + 1
if not 3 <= depth <= 5:
    sys.exit("nesting stopped at depth %d" % depth)
rel = os.path.relpath(p, os.path.dirname(d))
if len(rel) > 1000:
    sys.exit("a %d-byte path was accepted" % len(rel))
# a record whose path ends a few bytes short of the limit
leaf = os.path.join(p, "l" * (1000 - len(rel) - 1 - 5 - 20) + ".yaml")
save(leaf, "name: deep\n")
# moving the deep tree under a name 50 bytes longer would push it past
top = os.path.join(d, "d0" + "d" * 198)
expect(errno.ENAMETOOLONG, "rename of a deep tree", os.rename, top,
       os.path.join(d, "x" * 250))
if open(leaf).read() != "name: deep\n":
    sys.exit("the deep record changed after the refused rename")

# max_record=1000: 1000 bytes fit, 1001 give EFBIG and keep the old version
r = os.path.join(d, "big.yaml")
body = "name: " + "a" * 993 + "\n"
save(r, body)
if os.path.getsize(r) != 1000:
    sys.exit("a 1000-byte record is %d bytes" % os.path.getsize(r))
expect(errno.EFBIG, "a 1001-byte record", save, r, "name: " + "b" * 994 + "\n")
if open(r).read() != body:
    sys.exit("the old version is gone after EFBIG")
# the save is refused as a whole: the O_TRUNC before it commits nothing
msg = os.getxattr(r, "user.cccfs.error").decode()
if "max_record" not in msg:
    sys.exit("user.cccfs.error does not explain: %r" % msg)
# in pieces: the first writes fit, a later one does not; close fails too
fd = os.open(r, os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"name: " + b"c" * 600)
expect(errno.EFBIG, "a write past max_record", os.write, fd, b"c" * 600)
expect(errno.EFBIG, "close after a write past max_record", os.close, fd)
if open(r).read() != body:
    sys.exit("the old version is gone after a save in pieces hit EFBIG")
print("nesting depth %d; user.cccfs.error after EFBIG: %s" % (depth, msg.strip()))
PY
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 || fail "final check: $(cat "$T/check.out")"
