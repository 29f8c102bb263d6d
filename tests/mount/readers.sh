#!/usr/bin/env bash
# Readers never see a mix of versions: a writer rewrites a record in a loop
# (several write() calls per version, sizes changing every time) while
# readers re-read it, each read checked to be one whole version.  A file
# kept open for reading keeps the version it opened, even across rewrites
# and an unlink.
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
os.close(fd)
assert not os.path.exists(path)
PY

cd /
umount_fs
