#!/usr/bin/env bash
# Eight threads hammer one mount for a few seconds with creates, rewrites,
# reads, renames away and back, unlinks, listings, folder churn, chmods
# and truncates (by path, and through a handle that then writes).  No
# operation may fail with anything but the expected races (ENOENT, EEXIST,
# ENOTEMPTY), no read may see a torn record, the daemon must survive, and
# the store must check clean afterwards.  Then concurrent appends, which
# must all land, and threads that each change their own records in every
# way, reading each change back exactly at once.
. "$(dirname "$0")/lib.sh"
mount_setup
mount_fs

python3 - "$M" <<'PY' || fail "concurrent operations failed"
import errno, os, random, sys, threading, time
root = sys.argv[1]
stop = time.time() + 5
errs = []
ops = [0]

def worker(k):
    r = random.Random(k)
    d = os.path.join(root, ["workflows", "agents", "prompts"][k % 3], "w%d" % k)
    os.makedirs(d, exist_ok=True)
    n = 0
    while time.time() < stop:
        n += 1
        f = os.path.join(d, "f%d.yaml" % r.randrange(20))
        op = r.randrange(11)
        try:
            if op < 3:
                with open(f, "w") as fh:
                    fh.write("name: n%d\nsteps: [%s]\n" % (n, ",".join(["x"] * r.randrange(100))))
            elif op == 3:
                with open(f) as fh:
                    data = fh.read()
                if data and not (data.startswith("name: n") and data.endswith("]\n")):
                    errs.append("torn read %r" % data[:40])
            elif op == 4:
                os.rename(f, f + "~")
                os.rename(f + "~", f)
            elif op == 5:
                os.unlink(f)
            elif op == 6:
                os.listdir(d)
            elif op == 8:
                os.chmod(f, 0o600 if r.randrange(2) else 0o644)
            elif op == 9:
                os.truncate(f, 0)
            elif op == 10:
                with open(f, "r+") as fh:
                    fh.truncate(0)
                    fh.write("name: n%d\nsteps: [x]\n" % n)
            else:
                sub = os.path.join(d, "sub")
                os.mkdir(sub)
                os.rename(sub, sub + "2")
                os.rmdir(sub + "2")
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY):
                errs.append("%s op %d: %s" % (f, op, e))
        ops[0] += 1

ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("operations: %d" % ops[0])
if errs:
    sys.exit("%d errors, first: %s" % (len(errs), errs[:3]))
if ops[0] < 500:
    sys.exit("too few operations ran: %d" % ops[0])
PY

note "cached listings stay exact while a folder changes under listers"
python3 - "$M/agents/listed" <<'PY' || fail "a listing missed a change"
import os, subprocess, sys, threading
d = sys.argv[1]
os.mkdir(d)
stop = threading.Event()
def lister():
    # listings run through the kernel's cache of the folder all along
    while not stop.is_set():
        os.listdir(d)
        subprocess.run(["ls", "-l", d], capture_output=True)
ls = [threading.Thread(target=lister, daemon=True) for _ in range(3)]
for t in ls:
    t.start()
def fail(msg):
    stop.set()
    sys.exit(msg)
want = set()
for i in range(400):
    name = "r%03d.yaml" % i
    open(os.path.join(d, name), "w").write("name: r%d\n" % i)
    want.add(name)
    if i % 3 == 0:
        os.rename(os.path.join(d, name), os.path.join(d, "m" + name))
        want.discard(name)
        want.add("m" + name)
    if i % 5 == 0:
        victim = sorted(want)[0]
        os.unlink(os.path.join(d, victim))
        want.discard(victim)
    if i % 50 == 0:
        got = set(os.listdir(d))
        if got != want:
            fail("listing after %d changes: %d names, want %d" %
                 (i, len(got), len(want)))
stop.set()
for t in ls:
    t.join()
for k in range(3):
    got = set(os.listdir(d))
    if got != want:
        sys.exit("final listing: missing %s, extra %s" %
                 (sorted(want - got)[:3], sorted(got - want)[:3]))
out = subprocess.run(["find", d, "-type", "f"], capture_output=True,
                     text=True).stdout.split()
if len(out) != len(want):
    sys.exit("find lists %d files, want %d" % (len(out), len(want)))
PY

note "renames between the reads of one listing leave no stale name or size"
python3 - "$M/workflows/spans" <<'PY' || fail "a listing kept a stale name or size"
import ctypes, os, sys
d = sys.argv[1]
os.mkdir(d)
libc = ctypes.CDLL(None, use_errno=True)
def body(i, n):
    return ("name: s%d\nsteps:\n" % i + "  - x\n" * n).encode()
for i in range(900):
    open(os.path.join(d, "s%03d.yaml" % i), "wb").write(body(i, 1 + i % 7))
for rnd in range(5):
    # a listing far longer than one READDIRPLUS reply, changed mid-way
    with os.scandir(d) as it:
        next(it)
        a, b = os.path.join(d, "s898.yaml"), os.path.join(d, "s899.yaml")
        if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
            sys.exit("renameat2: errno %d" % ctypes.get_errno())
        os.rename(os.path.join(d, "s%03d.yaml" % (800 + rnd)),
                  os.path.join(d, "moved%d.yaml" % rnd))
        rest = [e.name for e in it]
    for name in ("s898.yaml", "s899.yaml"):
        p = os.path.join(d, name)
        data = open(p, "rb").read()
        if os.stat(p).st_size != len(data):
            sys.exit("round %d: %s stat size %d, content %d" %
                     (rnd, name, os.stat(p).st_size, len(data)))
    gone = os.path.join(d, "s%03d.yaml" % (800 + rnd))
    if os.path.exists(gone):
        sys.exit("round %d: renamed-away name still there" % rnd)
    open(gone, "wb").write(body(800 + rnd, 3))  # the name is free again
    if open(gone, "rb").read() != body(800 + rnd, 3):
        sys.exit("round %d: recreated file" % rnd)
    if len(os.listdir(d)) != 900 + rnd + 1:
        sys.exit("round %d: %d names" % (rnd, len(os.listdir(d))))
PY

note "appends (O_APPEND) from concurrent processes and handles all land"
# each >> is open, write, close: a commit that adds its bytes to whatever
# content the file has by then, not to what it had at the open
: > "$M/prompts/log.txt" || fail "create log.txt"
: > "$M/prompts/log.yaml" || fail "create log.yaml"
for p in 1 2 3 4; do
	(for i in $(seq 150); do
		echo "p$p $i" >> "$M/prompts/log.txt" || exit 1
		echo "p${p}_$i: $i" >> "$M/prompts/log.yaml" || exit 1
	done) &
done
for p in 1 2 3 4; do wait -n || fail "an append failed"; done
check_eq "$(wc -l < "$M/prompts/log.txt")" 600 "lines appended to a side file"
check_eq "$(sort -u "$M/prompts/log.txt" | wc -l)" 600 "distinct lines"
check_eq "$(wc -l < "$M/prompts/log.yaml")" 600 "lines appended to a record"
for p in 1 2 3 4; do
	check_eq "$(grep "^p$p " "$M/prompts/log.txt" | cut -d' ' -f2 | tr '\n' ' ')" \
		"$(seq -s ' ' 150) " "order of p$p's appends"
done
python3 - "$M/prompts/two.txt" <<'PY' || fail "two appending handles"
import os, sys
p = sys.argv[1]
# a handle's appends commit at its close, after what is there by then
a = open(p, "a"); b = open(p, "a")
a.write("A1\n"); a.flush()
b.write("B1\n"); b.flush()
a.write("A2\n"); a.flush()
b.write("B2\n"); b.close(); a.close()
got = open(p).read()
if got != "B1\nB2\nA1\nA2\n":
    sys.exit("two handles appending: %r" % got)
c = open(p, "a"); c.write("C\n"); c.flush(); os.fsync(c.fileno())
d = open(p, "a"); d.write("D\n"); d.close()
c.write("C2\n"); c.close()
got = open(p).read()
if got != "B1\nB2\nA1\nA2\nC\nD\nC2\n":
    sys.exit("appends after an fsync: %r" % got)
PY
# a handle that truncated, then committed, appends after others again
python3 - "$M/prompts/trunc.txt" <<'PY' || fail "appends after an ftruncate"
import os, sys
p = sys.argv[1]
open(p, "w").write("base\n")
a = os.open(p, os.O_RDWR | os.O_APPEND)
b = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(a, b"a1\n"); os.ftruncate(a, 2); os.fsync(a)   # "ba"
os.write(b, b"b1\n"); os.fsync(b)                       # "bab1\n"
os.write(a, b"a2\n"); os.close(a); os.close(b)
got = open(p).read()
if got != "bab1\na2\n":
    sys.exit("after ftruncate and fsync: %r" % got)
PY
# an append that makes the record invalid is refused, the others kept
printf 'a: 1\n' > "$M/prompts/app.yaml"
python3 - "$M/prompts/app.yaml" <<'PY' || fail "refused append"
import errno, os, sys
p = sys.argv[1]
a = open(p, "a"); b = open(p, "a")
a.write("b: 3\n"); a.flush()   # valid on what a loaded
b.write("b: 2\n"); b.close()   # commits first
try:
    a.close()
    sys.exit("a duplicate key appended by a second handle was accepted")
except OSError as e:
    if e.errno != errno.EINVAL:
        raise
if open(p).read() != "a: 1\nb: 2\n":
    sys.exit("after a refused append: %r" % open(p).read())
# the refused bytes go: the same handle's next append is judged alone
c = os.open(p, os.O_WRONLY | os.O_APPEND)
d = open(p, "a"); d.write("d: 4\n"); d.close()
os.write(c, b"d: 5\n")
try:
    os.fsync(c)
    sys.exit("a duplicate key appended after a commit was accepted")
except OSError as e:
    if e.errno != errno.EINVAL:
        raise
os.write(c, b"e: 6\n")
os.close(c)
if open(p).read() != "a: 1\nb: 2\nd: 4\ne: 6\n":
    sys.exit("after a refused append and a good one: %r" % open(p).read())
PY

note "every change reads back exactly at once, while other threads change theirs"
# Each thread owns three records and knows what each must hold: after a
# rewrite, a save by rename, an append, a shrinking ftruncate, an in-place
# pwrite or a refused save, a new open must read exactly that (read, stat
# and a shared mapping), and a descriptor opened before the change must
# still read the version it opened.  Sizes cross the 64 and 128 KiB marks
# where saves and the kernel's cache change course.
python3 - "$M/workflows/own" <<'PY' || fail "a read after a change saw another version"
import errno, mmap, os, random, sys, threading, time
d = sys.argv[1]
os.mkdir(d)
stop = time.time() + 5
errs, counts, lock = [], {}, threading.Lock()

def body(r, tag):
    size = r.choice([r.randrange(40, 3000), r.randrange(3000, 60000),
                     r.randrange(60000, 200000)])
    out, i = ["name: %s\nsteps:\n" % tag], 0
    n = len(out[0])
    while n < size:
        line = "  - %s-%d-%06x\n" % (tag, i, r.randrange(1 << 24))
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out).encode()

def read_back(path, want, held):
    with open(path, "rb") as f:
        got = f.read()
    if got != want:
        return "read %d bytes, want %d" % (len(got), len(want))
    if os.stat(path).st_size != len(want):
        return "stat size %d, want %d" % (os.stat(path).st_size, len(want))
    if held is None and want:
        fd = os.open(path, os.O_RDONLY)
        try:
            with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
                if m[:] != want:
                    return "mapped content differs"
        finally:
            os.close(fd)
    return None

def worker(k):
    r = random.Random(k)
    paths = [os.path.join(d, "t%d-%d.yaml" % (k, i)) for i in range(3)]
    have = {}
    for n, p in enumerate(paths):
        have[p] = body(r, "t%d-v%d" % (k, n))
        open(p, "wb").write(have[p])
    v = 100
    while time.time() < stop and not errs:
        p = r.choice(paths)
        old = have[p]
        held = os.open(p, os.O_RDONLY) if r.random() < 0.3 else None
        if held is not None and r.random() < 0.5:
            os.pread(held, 1, 0)
        op = r.choice(["rewrite", "rename", "append", "truncate", "pwrite",
                       "refused"])
        v += 1
        tag = "t%d-v%d" % (k, v)
        try:
            if op == "rewrite":
                new = body(r, tag)
                fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
                for i in range(0, len(new), 50000):
                    os.write(fd, new[i:i + 50000])
                if r.random() < 0.3:
                    os.fsync(fd)
                os.close(fd)
            elif op == "rename":
                new = body(r, tag)
                tmp = p + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(new)
                    if r.random() < 0.5:
                        f.flush()
                        os.fsync(f.fileno())
                os.rename(tmp, p)
            elif op == "append":
                line = ("  - %s\n" % tag).encode()
                with open(p, "ab") as f:
                    f.write(line)
                new = old + line
            elif op == "truncate":
                cut = old.find(b"\n", r.randrange(len(old))) + 1
                new = old[:cut] if cut > old.find(b"steps:") + 7 else old
                fd = os.open(p, os.O_WRONLY)
                os.ftruncate(fd, len(new))
                os.close(fd)
            elif op == "pwrite":
                at = old.find(b"steps:") + 7 + r.randrange(len(old) // 2)
                at = old.find(b"-", at) + 1
                if at <= 0 or not old[at:at + 1].isalnum():
                    new = old
                else:
                    new = old[:at] + b"x" + old[at + 1:]
                    fd = os.open(p, os.O_WRONLY)
                    os.pwrite(fd, b"x", at)
                    os.close(fd)
            else:
                new = old
                fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
                os.write(fd, b"name: [" + b"x" * r.randrange(len(old) + 9000))
                try:
                    os.close(fd)
                    raise RuntimeError("an invalid record was accepted")
                except OSError as e:
                    if e.errno != errno.EINVAL:
                        raise
        except Exception as e:
            with lock:
                errs.append("%s %s: %r" % (p, op, e))
            break
        have[p] = new
        why = read_back(p, new, held)
        if held is not None:
            got = os.pread(held, len(old) + 10, 0)
            if why is None and got != old:
                why = "a reader opened before got %d bytes, want %d" % (
                    len(got), len(old))
            os.close(held)
        with lock:
            counts[op] = counts.get(op, 0) + 1
            if why:
                errs.append("%s after %s: %s" % (p, op, why))

ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("changes: %s" % sorted(counts.items()))
if errs:
    sys.exit("%d failures, first: %s" % (len(errs), errs[0]))
if min(counts.get(op, 0) for op in ("rewrite", "rename", "append", "truncate",
                                    "pwrite", "refused")) < 10:
    sys.exit("too few changes of some kind ran: %s" % counts)
PY

kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon died"
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" || fail "check: $(cat "$T/check.out")"
