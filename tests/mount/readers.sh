#!/usr/bin/env bash
# Readers never see a mix of versions: a writer rewrites a record in a loop
# (several write() calls per version, sizes changing every time) while
# readers re-read it, each read checked to be one whole version.  A file
# kept open for reading keeps the version it opened, even across rewrites
# and an unlink; an open that races with a save by rename reads a whole
# version and never fails.
. "$(dirname "$0")/lib.sh"
mount_setup
mount_fs

F=$M/workflows/hot.yaml
python3 - "$F" <<'PY' || fail "concurrent readers saw a torn version"
import os, subprocess, sys, time

path = sys.argv[1]

def version(n):
    lines = ["name: v%d" % n, "steps:"]
    lines += ["  - v%d-%04d" % (n, i) for i in range(200 + (n * 37) % 300)]
    return ("\n".join(lines) + "\n").encode()

def whole(data):
    if not data.startswith(b"name: v"):
        return False
    n = int(data.split(b"\n", 1)[0][7:])
    return data == version(n), n

open(path, "wb").write(version(0))

writer = subprocess.Popen([sys.executable, "-c", r'''
import os, sys, time
sys.path.insert(0, "")
path = sys.argv[1]
def version(n):
    lines = ["name: v%d" % n, "steps:"]
    lines += ["  - v%d-%04d" % (n, i) for i in range(200 + (n * 37) % 300)]
    return ("\n".join(lines) + "\n").encode()
end = time.time() + 4
n = 1
while time.time() < end:
    data = version(n)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    third = len(data) // 3
    os.write(fd, data[:third]); os.write(fd, data[third:2 * third])
    os.write(fd, data[2 * third:])
    os.close(fd)
    n += 1
print(n)
''', path], stdout=subprocess.PIPE)

reads = 0
seen = set()
while writer.poll() is None:
    # a fresh process per read, as `cat` in a loop
    data = subprocess.run(["cat", path], capture_output=True).stdout
    ok, n = whole(data) if data.startswith(b"name: v") else (False, -1)
    if not ok:
        sys.exit("torn read after %d reads: %d bytes, starts %r" % (reads, len(data), data[:40]))
    seen.add(n)
    # and in-process reads through a new descriptor
    with open(path, "rb") as f:
        data = f.read()
    ok, n = whole(data) if data.startswith(b"name: v") else (False, -1)
    if not ok:
        sys.exit("torn in-process read: %d bytes" % len(data))
    reads += 2
writes = int(writer.stdout.read())
print("reads %d, writes %d, distinct versions seen %d" % (reads, writes, len(seen)))
if len(seen) < 3:
    sys.exit("reader saw too few versions (%d): test did not overlap" % len(seen))
PY

note "an open reader keeps its version across rewrites and unlink"
python3 - "$M/agents/keep.yaml" <<'PY' || fail "open reader lost its version"
import os, subprocess, sys
path = sys.argv[1]
big = ("name: first\nsteps:\n" + "".join("  - first-%06d\n" % i for i in range(60000))).encode()
open(path, "wb").write(big)
fd = os.open(path, os.O_RDONLY)
head = os.pread(fd, 4096, 0)
assert head == big[:4096]
# rewrite with a shorter version from another process
subprocess.run(["sh", "-c", "printf 'name: second\\n' > '%s'" % path], check=True)
assert subprocess.run(["cat", path], capture_output=True).stdout == b"name: second\n", "new readers see the new version"
rest = b""
off = 4096
while True:
    chunk = os.pread(fd, 65536, off)
    if not chunk:
        break
    rest += chunk
    off += len(chunk)
if head + rest != big:
    sys.exit("old reader got %d bytes, want %d" % (len(head + rest), len(big)))
os.close(fd)
# unlink while open
fd = os.open(path, os.O_RDONLY)
os.unlink(path)
assert os.pread(fd, 100, 0) == b"name: second\n"
st = os.fstat(fd)
assert st.st_size == 13 and st.st_nlink == 0, "fstat after unlink: %r" % (st,)
os.close(fd)
assert not os.path.exists(path)
PY

note "read-only opens share the page cache; a writer never cuts it"
python3 - "$M/prompts/cached.yaml" <<'PY' || fail "page-cache readers"
import mmap, os, subprocess, sys
path = sys.argv[1]
def body(tag, n):
    return ("name: %s\nsteps:\n" % tag + "".join("  - %s-%05d\n" % (tag, i)
            for i in range(n))).encode()
old, new = body("old", 3000), body("new", 40)
open(path, "wb").write(old)
# a read-only open can be mapped: it reads through the page cache
# (direct I/O opens cannot be mapped)
fd = os.open(path, os.O_RDONLY)
with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
    assert m[:] == old, "mapped content"
head = os.pread(fd, 8192, 0)
# rewrite in place, shorter, from another process, while fd is open
subprocess.run(["sh", "-c", "cat > '%s'" % path], input=new, check=True)
assert os.stat(path).st_size == len(new), "stat shows the new size at once"
assert open(path, "rb").read() == new, "a new open reads the new version"
# the open descriptor keeps the old version, size and content
assert os.fstat(fd).st_size == len(old), "fstat of the old descriptor"
rest, off = b"", len(head)
while True:
    chunk = os.pread(fd, 65536, off)
    if not chunk:
        break
    rest += chunk
    off += len(chunk)
assert head + rest == old, "old reader got %d bytes" % len(head + rest)
with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
    assert m[:] == old, "old mapping"
os.close(fd)
# truncate(2) by path while a cached reader is open
fd = os.open(path, os.O_RDONLY)
assert os.read(fd, 1 << 20) == new
os.truncate(path, 10)
assert open(path, "rb").read() == new[:10], "truncate by path"
assert os.pread(fd, 1 << 20, 0) == new, "reader across truncate"
os.close(fd)
# many short rewrites with a reader holding each version open
for i in range(50):
    v = body("v%d" % i, 5 + (i * 37) % 300)
    fd = os.open(path, os.O_RDONLY)
    before = os.read(fd, 1 << 20)
    with open(path, "r+b") as w:
        w.truncate(0)
        w.write(v)
    assert os.pread(fd, 1 << 20, 0) == before, "round %d: reader moved" % i
    os.close(fd)
    assert open(path, "rb").read() == v, "round %d: new content" % i
# a rewrite in place keeps the file's number, cached readers or not, as
# on a local disk: vim compares it after its open and refuses to write
# a file that was "replaced" under it
fd = os.open(path, os.O_RDONLY)
held = os.read(fd, 1 << 20)
ino = os.stat(path).st_ino
with open(path, "r+b") as w:
    assert os.fstat(w.fileno()).st_ino == ino, "writer's number changed"
    w.truncate(0)
    w.write(b"name: renumbered\n")
assert os.stat(path).st_ino == ino, "number changed by the rewrite"
assert os.fstat(fd).st_ino == ino, "reader's number changed"
assert os.pread(fd, 1 << 20, 0) == held, "reader lost its version"
os.close(fd)
PY

note "vim saves a record another process has open for reading"
f="$M/prompts/held.yaml"
printf 'name: held\n' > "$f"
cat "$f" >/dev/null # the kernel caches its pages
exec 5<"$f"
cat <&5 >/dev/null
vim -es -i NONE -u NONE -c 'normal Godescription: saved' -c 'wq' "$f" \
	</dev/null >/dev/null 2>&1 ||
	fail "vim could not save a file another process had open ($?)"
check_file "$f" "$(printf 'name: held\ndescription: saved')"
check_eq "$(stat -L -c %s /proc/self/fd/5)" 11 "the reader's size"
exec 5<&-

note "a file written and closed can be mapped at once"
# (a file of its own each round: the previous round's reader may not be
# released yet, and a reader of an older version keeps a newer open off
# the page cache)
mkdir "$M/prompts/mapped" || fail "mkdir mapped"
python3 - "$M/prompts/mapped" <<'PY' || fail "MAP_SHARED right after a save"
import mmap, os, sys
for i in range(200):
    path = os.path.join(sys.argv[1], "m%d.yaml" % i)
    with open(path, "wb") as f:
        f.write(b"k: 0\n")
    body = "".join("k%d: %d\n" % (j, i) for j in range(1 + i % 7)).encode()
    with open(path, "wb") as f:
        f.write(body)
    fd = os.open(path, os.O_RDONLY)
    try:
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
            assert m[:] == body, "round %d: mapped content" % i
    except OSError as e:
        sys.exit("round %d: mmap: %s" % (i, e.strerror))
    os.close(fd)
PY

note "a save right after a save: reads see the last one"
# The pages of the first save are handed to the kernel after its writer
# is gone (cache_warm), maybe while the second save commits: a read after
# the second must never see the first.
python3 - "$M/prompts/mapped" <<'PY' || fail "a read after two quick saves"
import os, sys
path = os.path.join(sys.argv[1], "twice.yaml")
for i in range(300):
    first = "".join("k%d: %d\n" % (j, i) for j in range(1 + i % 5))
    second = "".join("v%d: %d\n" % (j, i) for j in range(1 + (i * 7) % 11))
    first, second = first.encode(), second.encode()
    for body in (first, second):
        with open(path, "wb") as f:
            f.write(body)
    with open(path, "rb") as f:
        got = f.read()
    assert got == second, "round %d: read %r" % (i, got[:40])
    fd = os.open(path, os.O_RDONLY)
    try:
        got = os.pread(fd, len(first) + len(second), 0)
    finally:
        os.close(fd)
    assert got == second, "round %d: pread %r" % (i, got[:40])
PY

note "a file emptied by a close reads empty at once, and a write after it lands"
# `: > f` opens with O_TRUNC and closes without a write: the emptied file
# is committed at the RELEASE, which the kernel sends after close()
# returned.  The next open, a read or a write, must find it empty (and a
# write after it must not be overwritten by that commit).  Large files
# make that commit slow enough for the open to come first.  (The close of
# a dup before any write, as the shell's `cmd > f`: mount-invalid.)
python3 - "$M/prompts/emptied" <<'PY' || fail "an open after : > f"
import os, sys
d = sys.argv[1]
os.mkdir(d)
for i in range(150):
    p = os.path.join(d, "e%d.txt" % (i % 5))
    with open(p, "wb") as f:
        f.write(b"line %d\n" % i * 30000)
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    k = i % 3
    if k == 0:
        with open(p, "rb") as f:
            got = f.read()
        assert got == b"", "round %d: read %d bytes of an emptied file" % (i, len(got))
    elif k == 1:
        fd = os.open(p, os.O_RDWR)
        os.write(fd, b"ab")
        os.close(fd)
        got = open(p, "rb").read()
        assert got == b"ab", "round %d: a write after emptying: %d bytes" % (i, len(got))
    else:
        with open(p, "ab") as f:
            f.write(b"x\n")
        got = open(p, "rb").read()
        assert got == b"x\n", "round %d: an append after emptying: %d bytes" % (i, len(got))
PY

note "a held O_TRUNC descriptor closed after another save keeps that save"
# `exec 3>f`, another process saves f, then `exec 3>&-`: on a local file
# system the truncation came at the open, the save after it, and the save
# stays.  Here the truncation is pending until that descriptor's commit,
# which must then commit nothing: also after a save of the same content,
# and through an fsync.  Alone, it empties the file.
python3 - "$M/prompts/held" <<'PY' || fail "a held O_TRUNC descriptor"
import os, sys
d = sys.argv[1]
os.mkdir(d)
def put(p, data):
    with open(p, "wb") as f:
        f.write(data)
def get(p):
    with open(p, "rb") as f:
        return f.read()
for i, (other, end) in enumerate([(b"new: 2\n", "close"),
                                  (b"old: 1\n", "close"),
                                  (b"new: 3\n", "fsync"),
                                  (None, "close"), (None, "fsync")]):
    p = os.path.join(d, "h%d.txt" % i)
    put(p, b"old: 1\n")
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    if other is not None:
        put(p, other)
        assert get(p) == other, "case %d: the save reads %r" % (i, get(p))
    # the opener of fd sees its pending size, 0, and the kernel keeps it
    assert os.stat(p).st_size == 0, "case %d: size before the close" % i
    if end == "fsync":
        os.fsync(fd)
    os.close(fd)
    want = b"" if other is None else other
    got = get(p)
    assert got == want, "case %d (%s): %r, not %r" % (i, end, got, want)
    assert os.stat(p).st_size == len(want), "case %d: size after" % i
PY

note "a writer of a file renamed over or removed can still ftruncate it"
# As on ext4, where the inode lives on unlinked: ftruncate succeeds, fstat
# shows the writer its sizes, and nothing it does reaches the path.
python3 - "$M/prompts/gone" <<'PY' || fail "ftruncate of a detached file"
import os, sys
d = sys.argv[1]
os.mkdir(d)
for how in ("rename", "unlink"):
    p, t = os.path.join(d, "w.txt"), os.path.join(d, ".w.tmp")
    open(p, "wb").write(b"one\n")
    fd = os.open(p, os.O_RDWR)
    os.write(fd, b"abcdef")
    if how == "rename":
        open(t, "wb").write(b"two\n")
        os.rename(t, p)
    else:
        os.unlink(p)
    os.ftruncate(fd, 2)
    assert os.fstat(fd).st_size == 2, "%s: fstat after ftruncate" % how
    os.pwrite(fd, b"Z", 5)
    assert os.fstat(fd).st_size == 6, "%s: fstat after a write" % how
    assert os.pread(fd, 10, 0) == b"ab\0\0\0Z", "%s: read back" % how
    os.fsync(fd)
    os.close(fd)
    if how == "rename":
        assert open(p, "rb").read() == b"two\n", "the file there changed"
        os.unlink(p)
    else:
        assert not os.path.exists(p), "the removed file came back"
PY

note "opens racing with saves by rename never fail"
# A reader's lookup may find the version a rename is replacing: its open
# must read that version (or the new one), never fail with ESTALE.
python3 - "$M/agents" <<'PY' || fail "an open raced with a rename and failed"
import os, sys, threading, time
d = sys.argv[1]
f = os.path.join(d, "e.yaml")
open(f, "w").write("name: v0\n")
stop = False
errors, reads, saves = [], [0], [0]

def writer():
    i = 1
    while not stop:
        t = os.path.join(d, ".e.tmp")
        with open(t, "w") as fh:
            fh.write("name: v%d\n" % i)
        os.rename(t, f)
        i += 1
        saves[0] += 1

def reader():
    while not stop:
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError as e:
            errors.append("open: " + e.strerror)
            continue
        try:
            b = os.read(fd, 100)
            if not (b.startswith(b"name: v") and b.endswith(b"\n")):
                errors.append("read %r" % b)
            os.fstat(fd)
        except OSError as e:
            errors.append("read: " + e.strerror)
        os.close(fd)
        reads[0] += 1

ts = [threading.Thread(target=writer)] + \
     [threading.Thread(target=reader) for _ in range(3)]
for t in ts:
    t.start()
time.sleep(4)
stop = True
for t in ts:
    t.join()
print("%d saves, %d reads" % (saves[0], reads[0]))
if errors:
    sys.exit("%d failures, first: %s" % (len(errors), errors[0]))
if saves[0] < 100 or reads[0] < 1000:
    sys.exit("too little happened to tell")
PY

cd /
umount_fs
