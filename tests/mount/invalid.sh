#!/usr/bin/env bash
# Invalid YAML is refused with EINVAL at the commit point (close, fsync,
# rename), nothing is committed, the old content stays, and the reason is
# readable as user.cccfs.error.  Also: a flush before any write commits
# nothing (the shell's `echo x > T`), an open+close without writes changes
# nothing (emacs), and records over max_record get EFBIG.
. "$(dirname "$0")/lib.sh"
need vim
need getfattr
mount_setup
mount_fs -o max_record=65536

cd "$M/workflows" || fail "cd"
GOOD=$(printf 'name: good\nsteps:\n  - a\n')
printf '%s\n' "$GOOD" > t.yaml || fail "initial save"
txn0=$(getfattr --only-values -n user.cccfs.txn t.yaml)

errno_of() { # python: run a save and print the errno name of the failure
	python3 - "$@" <<'PY'
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else b""
try:
    if op == "close":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
    elif op == "fsync":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.ftruncate(fd, 0)
        os.write(fd, data)
        try:
            os.fsync(fd)
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
    elif op == "rename":
        os.rename(path, sys.argv[3])
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

note "shell redirection: echo 'bad' > T keeps T"
echo 'name: [' > t.yaml   # builtin echo: the error is dropped by dup2
check_file t.yaml "$GOOD"
err=$(getfattr --only-values -n user.cccfs.error t.yaml 2>/dev/null)
case $err in "line "*", column "*) ;; *) fail "user.cccfs.error after '>': '$err'" ;; esac
/bin/echo 'name: [' > t.yaml 2>/dev/null && fail "/bin/echo > T with bad YAML succeeded"
check_file t.yaml "$GOOD"
check_eq "$(getfattr --only-values -n user.cccfs.txn t.yaml)" "$txn0" "txn unchanged by refused saves"

note "close and fsync return EINVAL"
check_eq "$(errno_of close t.yaml 'tags: notalist')" EINVAL "close of bad record"
check_file t.yaml "$GOOD"
err=$(getfattr --only-values -n user.cccfs.error t.yaml)
case $err in *"'tags' must be a sequence"*) ;; *) fail "error message: '$err'" ;; esac
check_eq "$(errno_of fsync t.yaml 'a: 1
a: 2')" EINVAL "fsync of bad record"
check_file t.yaml "$GOOD"
case $(getfattr --only-values -n user.cccfs.error t.yaml) in
*"line 2, column 1: duplicate key 'a'"*) ;; *) fail "duplicate key message" ;; esac
grep -q "t.yaml: .*refused: line 2, column 1" "$T/daemon.log" || fail "refusal not logged"

note "a refused longer save: reads within its size end at the old content"
# The writer's writes grew the kernel's size of t.yaml past the content
# that stays; reads that stay below that size, with no stat first, must
# still end where the content does (no zeros after it).
python3 - t.yaml "$GOOD" <<'PY' || fail "reads after a refused longer save"
import errno, os, sys
path, good = sys.argv[1], (sys.argv[2] + "\n").encode()
bad = b"tags: notalist\n" + b"# padding\n" * 200
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
os.write(fd, bad)
try:
    os.close(fd)
    sys.exit("the bad save was accepted")
except OSError as e:
    assert e.errno == errno.EINVAL, e
for attempt in range(3):
    fd = os.open(path, os.O_RDONLY)
    got = os.pread(fd, len(bad), 0)
    tail = os.pread(fd, 64, len(good))
    os.close(fd)
    assert got == good, "round %d: read %r" % (attempt, got[:80])
    assert tail == b"", "round %d: %d bytes after the end" % (attempt, len(tail))
assert os.stat(path).st_size == len(good)
PY
check_file t.yaml "$GOOD"

note "a flush with no write commits nothing (emacs reopen, echo x > T)"
python3 - t.yaml <<'PY' || fail "reopen without write"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY); os.close(fd)
fd = os.open(sys.argv[1], os.O_RDWR); os.close(fd)
PY
check_eq "$(getfattr --only-values -n user.cccfs.txn t.yaml)" "$txn0" "txn after reopen"
check_file t.yaml "$GOOD"
# O_TRUNC then flush (close of a dup) before the write, as bash does
python3 - t.yaml <<'PY' || fail "trunc-flush-write"
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
fd2 = os.dup(fd)
os.close(fd)                      # FLUSH #1, nothing written yet
seen = subprocess.run(["cat", sys.argv[1]], capture_output=True).stdout
assert seen.startswith(b"name: good"), "empty version visible: %r" % seen
os.write(fd2, b"name: later\n")
os.close(fd2)                     # FLUSH #2 commits
PY
check_file t.yaml "name: later"
printf '%s\n' "$GOOD" > t.yaml
# a good save clears the error
getfattr -n user.cccfs.error t.yaml 2>/dev/null && fail "error kept after a good save"

note "rename of a bad temp file onto the record (sed -i / rsync pattern)"
printf 'name: {a: 1}\n' > .t.yaml.tmp || fail "side file with bad YAML is fine"
check_eq "$(errno_of rename .t.yaml.tmp t.yaml)" EINVAL "rename onto record"
check_file t.yaml "$GOOD"
[ -e .t.yaml.tmp ] || fail "temp file lost by refused rename"
case $(getfattr --only-values -n user.cccfs.error t.yaml) in
*"'name' must be a string"*) ;; *) fail "error after refused rename" ;; esac
check_eq "$(errno_of rename .t.yaml.tmp new.yaml)" EINVAL "rename onto new record name"
[ -e new.yaml ] && fail "new.yaml created by a refused rename"
rm .t.yaml.tmp
printf 'name: fine\n' > .ok.tmp && mv .ok.tmp t.yaml || fail "good rename"
check_file t.yaml "name: fine"
getfattr -n user.cccfs.error t.yaml 2>/dev/null && fail "error kept after good rename"
printf '%s\n' "$GOOD" > t.yaml

note "rename of a still-open temp file carries its unflushed writes"
python3 - "$M/workflows" <<'PY' || fail "rename with open writer"
import errno, os, sys
d = sys.argv[1]
tmp, dst = os.path.join(d, ".w.tmp"), os.path.join(d, "w.yaml")
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b"name: written-before-rename\n")
os.rename(tmp, dst)              # no close, no fsync yet
assert open(dst, "rb").read() == b"name: written-before-rename\n"
os.close(fd)
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b"name: [\n")
try:
    os.rename(tmp, dst)
    sys.exit("rename of unflushed bad YAML succeeded")
except OSError as e:
    assert e.errno == errno.EINVAL, e
os.close(fd)
os.unlink(tmp)
assert open(dst, "rb").read() == b"name: written-before-rename\n"
PY

note "vim -es save of invalid YAML: refused, old content restored"
cp t.yaml "$T/before"
vim -es -i NONE -u NONE -c 'normal Gofoo: [' -c 'wq' t.yaml </dev/null >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] || fail "vim exited 0 after a refused save"
check_file t.yaml "$GOOD"
case $(getfattr --only-values -n user.cccfs.error t.yaml 2>/dev/null) in
"line "*) ;; *) fail "user.cccfs.error not set after vim's refused save" ;; esac
rm -f t.yaml~ .t.yaml.sw?

note "vim with rename-style backup (T -> T~, new T refused, T~ renamed back)"
vim -es -i NONE -u NONE --cmd 'set nocompatible backupcopy=no writebackup' \
	-c 'normal Gotags: oops' -c 'wq' t.yaml </dev/null >/dev/null 2>&1
[ $? -ne 0 ] || fail "vim (backupcopy=no) exited 0 after a refused save"
check_file t.yaml "$GOOD"
[ -e t.yaml~ ] && fail "backup left behind by vim's restore"
grep -q "t.yaml: fsync refused: .*'tags' must be a sequence" "$T/daemon.log" ||
	fail "refused fsync of vim's new file not logged"

note "vim -es save of valid YAML"
vim -es -i NONE -u NONE -c 'normal Godescription: edited' -c 'wq' t.yaml </dev/null >/dev/null 2>&1 \
	|| fail "vim save of valid YAML failed ($?)"
check_file t.yaml "$(printf '%s\ndescription: edited' "$GOOD")"

note "EFBIG over max_record"
python3 - big.yaml <<'PY' || fail "EFBIG"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
try:
    os.write(fd, b"a: " + b"x" * 70000 + b"\n")
    sys.exit("write over max_record succeeded")
except OSError as e:
    assert e.errno == errno.EFBIG, e
os.close(fd)
PY
head -c 100000 /dev/zero > big.bin || fail "side files are not limited by max_record"
truncate -s 70000 t.yaml 2>/dev/null && fail "truncate of a record over max_record succeeded"
check_file t.yaml "$(printf '%s\ndescription: edited' "$GOOD")"
python3 -c 'import os,sys,errno
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.ftruncate(fd, 1 << 40); sys.exit("ftruncate to 1 TiB succeeded")
except OSError as e:
    assert e.errno == errno.EFBIG, e
os.close(fd)' t.yaml || fail "ftruncate over the limit"

cd /
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" || fail "check: $(cat "$T/check.out")"
