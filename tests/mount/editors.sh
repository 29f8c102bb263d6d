#!/usr/bin/env bash
# Saves by real editors and tools, as recorded in CLIENTS.md: vim (in -es
# mode, with its swap file and backup in the same folder, and with the
# default rename-based backup), sed -i, and Python's tempfile + os.replace.
. "$(dirname "$0")/lib.sh"
need vim
need sed
mount_setup
mount_fs

cd "$M/prompts" || fail "cd"
printf 'name: greet\ndescription: say hello\n' > p.yaml
chmod 640 p.yaml

note "vim -es (backupcopy=yes, swap file and backup beside the file)"
# swap and backup in the same folder as the file
vim -es -i NONE -u NONE --cmd 'set swapfile directory=. backup backupdir=. writebackup' \
	-c '%s/hello/hi/' -c "silent !ls -a > $T/during" -c 'wq' p.yaml </dev/null \
	|| fail "vim -es save failed ($?)"
grep -qx '.p.yaml.swp' "$T/during" || fail "vim had no swap file in the folder: $(cat "$T/during")"
check_file p.yaml "$(printf 'name: greet\ndescription: say hi')"
check_eq "$(stat -c %a p.yaml)" 640 "mode kept by vim"
check_file p.yaml~ "$(printf 'name: greet\ndescription: say hello')"
ls -a | grep -q '\.swp$' && fail "vim left its swap file"
rm -f p.yaml~

note "vim with its default rename-based backup (backupcopy=no)"
vim -es -i NONE -u NONE --cmd 'set nocompatible backupcopy=no writebackup nobackup' \
	-c 'normal Gostatus: ok' -c 'wq' p.yaml </dev/null || fail "vim backupcopy=no failed ($?)"
check_file p.yaml "$(printf 'name: greet\ndescription: say hi\nstatus: ok')"
[ -e p.yaml~ ] && fail "writebackup file left behind"
check_eq "$(stat -c %a p.yaml)" 640 "mode kept by rename-style save"

note "vim creating a new file"
vim -es -i NONE -u NONE -c 'normal iname: fresh' -c 'wq' new.yaml </dev/null || fail "vim new file"
check_file new.yaml "name: fresh"

note "sed -i"
sed -i 's/greet/greeting/' p.yaml || fail "sed -i failed"
check_file p.yaml "$(printf 'name: greeting\ndescription: say hi\nstatus: ok')"
ls -a | grep -q '^sed' && fail "sed left a temp file"
sed -i 's/name: greeting/name: [broken/' p.yaml 2>"$T/sed.err" && fail "sed -i with a bad result succeeded"
grep -q "Invalid argument" "$T/sed.err" || fail "sed did not report EINVAL: $(cat "$T/sed.err")"
check_file p.yaml "$(printf 'name: greeting\ndescription: say hi\nstatus: ok')"
ls -a | grep -q '^sed' && fail "refused sed -i left a temp file"

note "python tempfile + os.replace (+ fsync of file and folder)"
python3 - "$M/prompts" <<'PY' || fail "python atomic save"
import os, sys, tempfile
d = sys.argv[1]
target = os.path.join(d, "p.yaml")
fd, tmp = tempfile.mkstemp(dir=d, prefix=".p.yaml.", suffix=".tmp")
os.write(fd, b"name: replaced\ntags: [a, b]\n")
os.fsync(fd)
os.close(fd)
os.replace(tmp, target)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd)
os.close(dfd)
assert open(target, "rb").read() == b"name: replaced\ntags: [a, b]\n"
assert not [n for n in os.listdir(d) if n.endswith(".tmp")], os.listdir(d)
# a refused replace raises and keeps the old content
fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
os.write(fd, b"tags: nope\n")
os.close(fd)
try:
    os.replace(tmp, target)
    sys.exit("bad replace succeeded")
except OSError as e:
    import errno
    assert e.errno == errno.EINVAL, e
os.unlink(tmp)
assert open(target, "rb").read() == b"name: replaced\ntags: [a, b]\n"
PY

note "git: init, commit, checkout of a record"
need git
cd "$M/agents" || fail cd
git init -q repo && cd repo || fail "git init"
printf 'name: g1\n' > a.yaml
git add a.yaml && git -c user.email=t@t -c user.name=t commit -qm one || fail "git commit"
printf 'name: g2\n' > a.yaml
git -c user.email=t@t -c user.name=t commit -qam two || fail "second commit"
git checkout -q HEAD~1 -- a.yaml || fail "git checkout"
check_file a.yaml "name: g1"
git fsck --no-progress >/dev/null 2>&1 || fail "git fsck"
check_eq "$(git log --oneline | wc -l)" 2 "git log"

cd /
umount_fs
mount_fs
check_file "$M/prompts/p.yaml" "$(printf 'name: replaced\ntags: [a, b]')"
check_file "$M/prompts/new.yaml" "name: fresh"
umount_fs
