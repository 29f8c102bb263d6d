#!/usr/bin/env bash
# Basic file operations on a fresh mount: create/read/overwrite/append/
# truncate, stat sizes, ls -l, find, grep -r, folders (mkdir, rmdir with
# ENOTEMPTY, mv, times that move with the entries), the fixed top level,
# symlinks, xattrs, name limits and a 1 MiB record.
. "$(dirname "$0")/lib.sh"
mount_setup
mount_fs

cd "$M" || fail "cd $M"

note "top level"
check_eq "$(ls | tr '\n' ' ')" "agents prompts workflows " "root listing"
mkdir other 2>/dev/null && fail "mkdir at the top level succeeded"
touch toplevel.yaml 2>/dev/null && fail "file at the top level created"
out=$(mkdir other 2>&1); case $out in *"Operation not permitted"*) ;; *) fail "top-level mkdir: '$out', want EPERM" ;; esac
rmdir workflows 2>/dev/null && fail "rmdir of a top folder succeeded"
mv agents agents2 2>/dev/null && fail "rename of a top folder succeeded"
[ -d agents ] || fail "agents vanished"

note "create, read, overwrite, append, truncate"
printf 'name: one\n' > workflows/a.yaml || fail "create"
check_file workflows/a.yaml "name: one"
printf 'name: two\ndescription: second\n' > workflows/a.yaml || fail "overwrite"
check_file workflows/a.yaml "$(printf 'name: two\ndescription: second')"
printf 'status: draft\n' >> workflows/a.yaml || fail "append"
check_file workflows/a.yaml "$(printf 'name: two\ndescription: second\nstatus: draft')"
check_eq "$(stat -c %s workflows/a.yaml)" 44 "size after append"
truncate -s 10 workflows/a.yaml || fail "truncate"
check_eq "$(stat -c %s workflows/a.yaml)" 10 "size after truncate"
check_file workflows/a.yaml "name: two"
: > workflows/a.yaml || fail "truncate by redirection"
check_eq "$(stat -c %s workflows/a.yaml)" 0 "size after : >"
printf '# comment\nname:   spaced   # kept\n\n' > workflows/c.yaml
check_eq "$(md5sum < workflows/c.yaml)" "$(printf '# comment\nname:   spaced   # kept\n\n' | md5sum)" "bytes kept exactly"

note "side files"
printf 'any bytes: [ not yaml\n' > workflows/notes.txt || fail "side file"
check_file workflows/notes.txt "any bytes: [ not yaml"
head -c 3000 /dev/urandom > prompts/blob.bin
check_eq "$(stat -c %s prompts/blob.bin)" 3000 "binary side file size"

note "random-offset writes (swap-file style)"
python3 - prompts/.swap.swp <<'PY' || fail "offset writes"
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
os.pwrite(fd, b"B" * 4096, 8192)
os.pwrite(fd, b"A" * 4096, 0)
assert os.pread(fd, 4, 8192) == b"BBBB", "read back own write"
assert os.fstat(fd).st_size == 12288, os.fstat(fd).st_size
os.fsync(fd)
os.close(fd)
data = open(p, "rb").read()
assert data == b"A" * 4096 + b"\0" * 4096 + b"B" * 4096
PY

note "stat, ls -l, find, grep -r"
mkdir -p agents/team/deep || fail "mkdir -p"
printf 'name: alice\ntags: [x]\n' > agents/team/alice.yaml
printf 'name: bob\n' > agents/team/deep/bob.yml
check_eq "$(stat -c %s agents/team/alice.yaml)" 22 "stat size"
ls -l agents/team | grep -q '^-rw-r--r-- .* 22 .* alice.yaml$' || fail "ls -l: $(ls -l agents/team)"
check_eq "$(find . -name '*.y*ml' | sort | tr '\n' ' ')" "./agents/team/alice.yaml ./agents/team/deep/bob.yml ./workflows/a.yaml ./workflows/c.yaml " "find"
check_eq "$(grep -rl 'name: bob' . )" "./agents/team/deep/bob.yml" "grep -r"
check_eq "$(find . -type d | wc -l)" 6 "folder count"

note "folders: rmdir ENOTEMPTY, mv, cross-kind mv"
out=$(rmdir agents/team 2>&1) && fail "rmdir of a full folder succeeded"
case $out in *"not empty"*) ;; *) fail "rmdir: '$out', want ENOTEMPTY" ;; esac
mv agents/team agents/crew || fail "mv folder"
[ -e agents/team ] && fail "old folder name still there"
check_file agents/crew/deep/bob.yml "name: bob"
mv agents/crew prompts/crew || fail "mv folder across kinds"
check_file prompts/crew/alice.yaml "$(printf 'name: alice\ntags: [x]')"
check_eq "$(ls agents)" "" "agents after move"
rm -r prompts/crew || fail "rm -r"
[ -e prompts/crew ] && fail "rm -r left the folder"
mkdir workflows/empty && rmdir workflows/empty || fail "mkdir+rmdir"

note "a folder's mtime and ctime move when its entries change"
mt() { stat -c '%.9Y %.9Z' "$1"; }
newer() { # what before after: both fields later
	[[ "${3% *}" > "${2% *}" && "${3#* }" > "${2#* }" ]] ||
		fail "$1: times $3 not after $2"
}
mkdir -p workflows/ta workflows/tb || fail "mkdir ta tb"
t0=$(mt workflows/ta); sleep 0.02
printf 'a: 1\n' > workflows/ta/x.yaml || fail "create in ta"
t1=$(mt workflows/ta); newer "create" "$t0" "$t1"; sleep 0.02
mkdir workflows/ta/sub || fail "mkdir in ta"
t2=$(mt workflows/ta); newer "mkdir" "$t1" "$t2"
u0=$(mt workflows/tb); sleep 0.02
mv workflows/ta/x.yaml workflows/tb/x.yaml || fail "mv ta -> tb"
t3=$(mt workflows/ta); u1=$(mt workflows/tb)
newer "rename out" "$t2" "$t3"; newer "rename in" "$u0" "$u1"; sleep 0.02
mv workflows/tb/x.yaml workflows/tb/y.yaml || fail "mv within tb"
u2=$(mt workflows/tb); newer "rename within" "$u1" "$u2"; sleep 0.02
rm workflows/tb/y.yaml || fail "rm in tb"
u3=$(mt workflows/tb); newer "unlink" "$u2" "$u3"; sleep 0.02
rmdir workflows/ta/sub || fail "rmdir in ta"
t4=$(mt workflows/ta); newer "rmdir" "$t3" "$t4"
ln -s nowhere workflows/tb/l && u4=$(mt workflows/tb) && newer "symlink" "$u3" "$u4"
rm workflows/tb/l && rmdir workflows/ta workflows/tb || fail "clean ta tb"

note "rename: replace, T -> T~ and back keeps content and metadata"
printf 'name: keep\n' > workflows/k.yaml
chmod 640 workflows/k.yaml
setfattr -n user.note -v hello workflows/k.yaml || fail "setfattr"
touch -d '2001-02-03 04:05:06' workflows/k.yaml
before=$(stat -c '%s %a %Y' workflows/k.yaml)
mv workflows/k.yaml workflows/k.yaml~ || fail "rename to backup"
mv workflows/k.yaml~ workflows/k.yaml || fail "rename back"
check_eq "$(stat -c '%s %a %Y' workflows/k.yaml)" "$before" "metadata after T->T~->T"
check_eq "$(getfattr --only-values -n user.note workflows/k.yaml)" hello "xattr after T->T~->T"
check_file workflows/k.yaml "name: keep"
printf 'name: new\n' > workflows/n.yaml
mv -f workflows/n.yaml workflows/k.yaml || fail "rename over"
check_file workflows/k.yaml "name: new"
[ -e workflows/n.yaml ] && fail "source still exists"
printf 'name: x\n' > workflows/x.yaml
mv -n workflows/x.yaml workflows/k.yaml
check_file workflows/k.yaml "name: new"
python3 - "$M/workflows" <<'PY' || fail "renameat2 flags"
import ctypes, os, sys, errno
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
def r2(a, b, flags):
    rc = libc.renameat2(AT_FDCWD, os.path.join(d, a).encode(), AT_FDCWD,
                        os.path.join(d, b).encode(), flags)
    return 0 if rc == 0 else ctypes.get_errno()
assert r2("x.yaml", "k.yaml", 1) == errno.EEXIST, "NOREPLACE onto existing"
assert r2("x.yaml", "k.yaml", 2) == 0, "EXCHANGE"
assert open(os.path.join(d, "k.yaml")).read() == "name: x\n"
assert open(os.path.join(d, "x.yaml")).read() == "name: new\n"
assert r2("x.yaml", "nothere.yaml", 2) == errno.ENOENT, "EXCHANGE with missing"
PY

note "symlinks"
ln -s a.yaml workflows/.#a.yaml || fail "symlink (emacs lock)"
check_eq "$(readlink workflows/.#a.yaml)" a.yaml "readlink"
# a symlink is a side file whatever its name (emacs' .#T.yaml lock)
ln -s x workflows/l.yaml || fail "symlink with a .yaml name"
[ -L workflows/l.yaml ] || fail "l.yaml is not a symlink"
rm workflows/l.yaml
rm workflows/.#a.yaml || fail "unlink symlink"
ln workflows/k.yaml workflows/hard.yaml 2>/dev/null && fail "hard link succeeded"

note "xattrs"
check_eq "$(getfattr --only-values -n user.cccfs.txn workflows/k.yaml | grep -c '^[0-9][0-9]*$')" 1 "user.cccfs.txn"
setfattr -n user.cccfs.txn -v 1 workflows/k.yaml 2>/dev/null && fail "user.cccfs.txn writable"
setfattr -x user.note workflows/k.yaml 2>/dev/null  # gone after exchange? either way
setfattr -n user.a -v 1 workflows/k.yaml && setfattr -x user.a workflows/k.yaml || fail "set/remove xattr"
getfattr -n user.a workflows/k.yaml 2>/dev/null && fail "removed xattr still there"
python3 - "$M/workflows/k.yaml" <<'PY' || fail "ACL xattr"
import os, sys, errno
try:
    os.setxattr(sys.argv[1], "system.posix_acl_access", b"\x02\0\0\0")
    sys.exit("ACL set succeeded")
except OSError as e:
    assert e.errno == errno.EOPNOTSUPP, e
PY
# only user.* exists: other namespaces are not supported (ls -l then stops
# asking for security.selinux after the first file); a missing user.* name
# is ENODATA
python3 - "$M/workflows/k.yaml" <<'PY' || fail "xattr namespaces"
import os, sys, errno
for name in ("security.selinux", "trusted.x", "system.posix_acl_access"):
    try:
        os.getxattr(sys.argv[1], name)
        sys.exit(name + " readable")
    except OSError as e:
        assert e.errno == errno.EOPNOTSUPP, (name, e)
try:
    os.getxattr(sys.argv[1], "user.missing")
    sys.exit("user.missing readable")
except OSError as e:
    assert e.errno == errno.ENODATA, e
PY
for i in 1 2 3; do echo "name: x$i" >"workflows/ls$i.yaml"; done
strace -f -e trace=lgetxattr -o "$T/ls.trace" ls -l workflows >/dev/null ||
	fail "strace ls -l"
check_eq "$(grep -c 'security.selinux' "$T/ls.trace")" 1 \
	"ls -l asks for security.selinux once"
rm workflows/ls1.yaml workflows/ls2.yaml workflows/ls3.yaml

note "setattr: chmod, chown to own ids, utimens with UTIME_OMIT/NOW"
chmod 600 workflows/k.yaml && check_eq "$(stat -c %a workflows/k.yaml)" 600 chmod
chown "$(id -u):$(id -g)" workflows/k.yaml || fail chown
touch -m -d '2010-01-01 00:00:00 UTC' workflows/k.yaml
touch -a -d '2011-01-01 00:00:00 UTC' workflows/k.yaml   # mtime omitted
check_eq "$(stat -c %Y workflows/k.yaml)" 1262304000 "mtime kept by UTIME_OMIT"
touch workflows/k.yaml
[ "$(stat -c %Y workflows/k.yaml)" -gt 1262304000 ] || fail "UTIME_NOW"
# times beyond 64-bit nanoseconds are clamped to 2262 and 1677, not wrapped
touch -m -d '2300-01-01 00:00:00 UTC' workflows/k.yaml || fail "touch 2300"
check_eq "$(stat -c %Y workflows/k.yaml)" 9223372036 "mtime of 2300 clamped"
touch -m -d '1600-01-01 00:00:00 UTC' workflows/k.yaml || fail "touch 1600"
check_eq "$(stat -c %Y workflows/k.yaml)" -9223372037 "mtime of 1600 clamped"
touch -m -d '1900-01-01 00:00:00.5 UTC' workflows/k.yaml || fail "touch 1900"
check_eq "$(stat -c %.9Y workflows/k.yaml)" -2208988799.500000000 "mtime of 1900"

note "names: 255-byte UTF-8 name, 256 bytes refused"
name=$(python3 -c 'print("é" * 125 + "x.yaml")')   # 250 + 6 = 256 bytes
short=$(python3 -c 'print("é" * 124 + "xyz.yaml")') # 248 + 8 = 256? adjust
short=$(python3 -c 'print("é" * 124 + "x.yaml" + "z")')
n255=$(python3 -c 'print("é" * 124 + "xy.yaml")')   # 248 + 7 = 255 bytes
check_eq "$(printf %s "$n255" | wc -c)" 255 "test name length"
printf 'name: long\n' > "workflows/$n255" || fail "255-byte name"
check_file "workflows/$n255" "name: long"
ls workflows | grep -qx "$n255" || fail "255-byte name not listed"
out=$(touch "workflows/$name" 2>&1) && fail "256-byte name accepted"
case $out in *"too long"*) ;; *) fail "256-byte name: '$out'" ;; esac
: "$short"

note "1 MiB record"
python3 -c '
import sys
lines = ["name: big", "steps:"]
size = len("\n".join(lines)) + 1
i = 0
while size < 1048576 - 40:
    l = "  - step-%07d: %s" % (i, "x" * 60)
    lines.append(l); size += len(l) + 1; i += 1
sys.stdout.write("\n".join(lines) + "\n")' > "$T/big.yaml"
cp "$T/big.yaml" prompts/big.yaml || fail "1 MiB record copy"
cmp "$T/big.yaml" prompts/big.yaml || fail "1 MiB record differs"
check_eq "$(stat -c %s prompts/big.yaml)" "$(stat -c %s "$T/big.yaml")" "1 MiB record size"
[ "$(stat -c %s prompts/big.yaml)" -gt 1000000 ] || fail "record not big enough"

note "statfs"
df "$M" >/dev/null || fail "df"
[ "$(stat -f -c %l "$M")" = 255 ] || fail "statfs namemax"
[ "$(stat -f -c %b "$M")" -gt 0 ] || fail "statfs blocks"

cd /
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" || fail "check after basic: $(cat "$T/check.out")"
