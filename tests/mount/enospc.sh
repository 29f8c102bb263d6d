#!/usr/bin/env bash
# A full disk, for real: the store lives on an 8 MiB tmpfs.  Records are
# saved until a save fails; that save must fail with ENOSPC (not EIO) and
# leave the file as it was, every earlier save must read back byte for
# byte, and a rewrite of an existing record on the full disk must fail the
# same way and keep the old version.  Then deleting records must work at
# once (no ENOSPC from rm; the first deletions keep no last version, as
# there is no room for one, and say so), and `cccfs prune` of the versions
# they keep makes room: new saves succeed, the daemon
# never dies, the store checks clean after unmount and everything is still
# there after a remount.  Run once with the default commit_interval (plain
# closes are non-durable) and once with commit_interval=0.  Automatic
# snapshots are off: one would rightly keep the deleted records' pages.
. "$(dirname "$0")/lib.sh"
mount_setup
need python3

# fill MODE: save records until one fails; the checks run in python so
# that each save's errno is seen exactly.
fill() {
	python3 - "$M/prompts" "$1" "$T/expect.sha1" "$CCCFS" "$DB" <<'PY'
import errno, hashlib, os, re, subprocess, sys, time

d, mode, sums = sys.argv[1], sys.argv[2], sys.argv[3]

def body(tag, i, size=40000):
    # self-checking: the first line is a digest of the rest
    rest = "description: %s-%d\nsteps:\n" % (tag, i)
    rest += "".join("  - %s-%d-%05d\n" % (tag, i, k)
                    for k in range(size // 20))
    return "# %s\n" % hashlib.sha1(rest.encode()).hexdigest() + rest

def save(path, data):
    with open(path, "w") as f:
        f.write(data)

def must_fail(path, data, what):
    try:
        save(path, data)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            sys.exit("%s: %s, want ENOSPC" % (what, e))
        return
    sys.exit("%s succeeded on a full disk" % what)

saved = {}
n = 0
while True:
    p = os.path.join(d, "r%04d.yaml" % n)
    try:
        save(p, body("a", n))
    except OSError as e:
        if e.errno != errno.ENOSPC:
            sys.exit("save %d failed with %s, want ENOSPC" % (n, e))
        break
    saved[p] = body("a", n)
    n += 1
    if n > 1000:
        sys.exit("an 8 MiB disk took 1000 saves of 40 KB")
print("%s: %d saves before ENOSPC" % (mode, n))
if n < 50:
    sys.exit("only %d saves fit in 8 MiB" % n)
failed = os.path.join(d, "r%04d.yaml" % n)
if os.path.exists(failed) and open(failed).read() != "":
    sys.exit("the failed save left content in %s" % failed)
if os.path.exists(failed):
    os.unlink(failed)

# let the commit timer make everything durable: the pages earlier saves
# freed are then reusable and the store is as full as it gets
for i in range(100):
    st = subprocess.run([sys.argv[4], "stat", sys.argv[5]], check=True,
                        capture_output=True, text=True).stdout
    m = re.search(r"last txn +(\d+) \(durable (\d+)\)", st)
    if m and m.group(1) == m.group(2):
        break
    time.sleep(0.05)
else:
    sys.exit("commits not durable 5 s after ENOSPC: %s" % st)

# a rewrite on the full disk fails and keeps the old version; try a few,
# as a small save may still squeeze into the last free pages
victims = sorted(saved)[:5]
for p in victims:
    must_fail(p, body("b", 0, 60000), "rewrite of " + p)
for p, want in saved.items():
    got = open(p).read()
    if got != want:
        sys.exit("%s changed after ENOSPC (%d bytes, want %d)"
                 % (p, len(got), len(want)))

# deleting records works right away; their content is kept as versions
# (.history), and pruning them gives the room back
gone = sorted(saved)[::2]
for p in gone:
    try:
        os.unlink(p)
    except OSError as e:
        sys.exit("rm %s on a full disk: %s" % (p, e))
    del saved[p]
out = subprocess.run([sys.argv[4], "prune", sys.argv[5], "--keep", "1"],
                     capture_output=True, text=True)
if out.returncode != 0 or not re.match(r"pruned [1-9]", out.stdout):
    sys.exit("cccfs prune on a full disk: %s%s" % (out.stdout, out.stderr))
for i in range(len(gone) // 2):
    p = os.path.join(d, "new%04d.yaml" % i)
    try:
        save(p, body("c", i))
    except OSError as e:
        sys.exit("save %d after deleting %d records: %s" % (i, len(gone), e))
    saved[p] = body("c", i)
for p, want in saved.items():
    if open(p).read() != want:
        sys.exit("%s wrong after making room" % p)
names = set(os.path.join(d, x) for x in os.listdir(d))
if names != set(saved):
    sys.exit("listing differs: extra %s, missing %s"
             % (sorted(names - set(saved))[:3], sorted(set(saved) - names)[:3]))
with open(sums, "w") as f:
    for p in sorted(saved):
        f.write("%s  %s\n" % (hashlib.sha1(saved[p].encode()).hexdigest(), p))
PY
}

# an automatic snapshot would keep the deleted records' pages: turn it off
autosnap=""
"$CCCFS" --help | grep -q 'snapshot_every=' && autosnap=snapshot_every=0

for mode in default commit_interval=0; do
	note "full disk, $mode"
	L=$T/lim-${mode%%=*}
	scratch_mount "$L" 8m
	DB=$L/store.db
	"$CCCFS" init "$DB" || fail "init on the small tmpfs"
	opts=$autosnap
	[ $mode = default ] || opts=$mode${autosnap:+,$autosnap}
	mount_fs ${opts:+-o "$opts"}
	fill $mode || fail "$mode: full-disk saves"
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "$mode: daemon died"
	grep -q 'No space left' "$T/daemon.log" ||
		fail "$mode: the daemon did not log the ENOSPC"
	grep -q 'deleted on a full disk without keeping' "$T/daemon.log" ||
		fail "$mode: no word of a deletion that kept no version"
	umount_fs
	"$CCCFS" check "$DB" >"$T/check.out" 2>&1 ||
		fail "$mode: check after ENOSPC: $(cat "$T/check.out")"
	mount_fs ${autosnap:+-o "$autosnap"}
	sha1sum --quiet -c "$T/expect.sha1" >"$T/sum.out" 2>&1 ||
		fail "$mode: records differ after remount: $(head -3 "$T/sum.out")"
	umount_fs
	"$CCCFS" check "$DB" >"$T/check.out" 2>&1 ||
		fail "$mode: final check: $(cat "$T/check.out")"
	note "$mode: store $(stat -c %s "$DB") bytes, $(wc -l <"$T/expect.sha1") records"
done
