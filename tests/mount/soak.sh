#!/usr/bin/env bash
# Soak: many saves over a fixed working set of 200 records, with snapshots
# taken (mkdir MNT/.snapshots/NAME) and deleted (rmdir) along the way, at
# most three alive at a time.  Saves: 40,000 (CCC_LONG=1: 100,000;
# SOAK_SAVES=N overrides; a quarter under AddressSanitizer, said in the
# output).  Asserted:
#   - every save succeeds, and each snapshot, just before it is deleted,
#     still holds the records it was taken with (byte for byte);
#   - the store file stops growing once warmed up: its smallest size in
#     the last quarter of the saves is within one growth step (1/8, at
#     least 1 MiB) of its largest in the second quarter.  Sizes are taken
#     after each snapshot is taken and deleted (each a checkpoint, which
#     sets the file to the pages it needs); a single sample could fall
#     anywhere in a growth step and its free pages not yet reusable;
#   - the daemon's VmRSS does not grow: at the end within 25% + 16 MiB of
#     its value at a quarter of the way;
#   - `cccfs check` is clean after unmount.
# Needs snapshots in the mount (.snapshots); fails without them.  With
# history_keep=off: every save would otherwise be kept as a version for
# 30 days, and the store grow with them, by design (mount-history tests
# what history keeps and prunes).
. "$(dirname "$0")/lib.sh"
mount_setup
need python3

if [ -n "${SOAK_SAVES:-}" ]; then
	saves=$SOAK_SAVES
elif is_long; then
	saves=100000
else
	saves=40000
fi
if is_asan && [ -z "${SOAK_SAVES:-}" ]; then
	saves=$((saves / 4))
	note "AddressSanitizer build: $saves saves"
fi

mount_fs -o history_keep=off
[ -d "$M/.snapshots" ] || fail "no $M/.snapshots: snapshots are not available"
start=$(date +%s)
python3 - "$M" "$DB" "$DAEMON_PID" "$saves" <<'PY' || fail "soak"
import hashlib, os, random, shutil, sys

root, db, pid, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = os.path.join(root, "agents", "soak")
snaps = os.path.join(root, ".snapshots")
os.makedirs(d, exist_ok=True)
rnd = random.Random(7)
FILES, KEEP = 200, 3
every = max(1, total // 50)

def body(k, v):
    rest = "name: a%03d\ndescription: v%d\ntags:\n" % (k, v)
    rest += "".join("  - t%d-%d\n" % (v, i) for i in range(rnd.randrange(10, 400)))
    return "# %s\n" % hashlib.sha1(rest.encode()).hexdigest() + rest

def status(field):
    for line in open("/proc/%s/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    sys.exit("daemon %s gone" % pid)

def mib(kb):
    return "%.1f MiB" % (kb / 1024.0)

current = {}
alive = []  # (name, {file: content}) oldest first
marks = {}
sizes = []  # (saves, KiB) after each round of snapshots
for n in range(1, total + 1):
    k = rnd.randrange(FILES)
    p = os.path.join(d, "a%03d.yaml" % k)
    data = body(k, n)
    with open(p, "w") as f:
        f.write(data)
    current[p] = data
    if n % every == 0:
        name = "soak-%06d" % n
        os.mkdir(os.path.join(snaps, name))
        sample = dict(rnd.sample(sorted(current.items()), min(5, len(current))))
        alive.append((name, sample))
        while len(alive) > KEEP:
            old, sample = alive.pop(0)
            for p, want in sample.items():
                sp = os.path.join(snaps, old, os.path.relpath(p, root))
                got = open(sp).read()
                if got != want:
                    sys.exit("snapshot %s: %s changed (%d bytes, want %d)"
                             % (old, sp, len(got), len(want)))
            os.rmdir(os.path.join(snaps, old))
        sizes.append((n, os.stat(db).st_size // 1024))
    for frac in (4, 2, 1):
        if n == total // frac:
            marks[frac] = (os.stat(db).st_size // 1024, status("VmRSS"),
                           status("VmHWM"))
            print("[soak] %d saves: store %s, daemon VmRSS %s, VmHWM %s"
                  % ((n,) + tuple(mib(x) for x in marks[frac])), flush=True)
left = sorted(os.listdir(snaps))
soak_left = [x for x in left if x.startswith("soak-")]
if soak_left != [a[0] for a in alive]:
    sys.exit("snapshots listed %s, want %s" % (soak_left, [a[0] for a in alive]))
for p, want in current.items():
    if open(p).read() != want:
        sys.exit("%s does not hold its last save" % p)

ceiling = max(s for n, s in sizes if total // 4 < n <= total // 2)
floor = min(s for n, s in sizes if n > total * 3 // 4)
step = max(1024, ceiling // 8)
if floor > ceiling + step:
    sys.exit("store grew: at most %s in the second quarter, at least %s "
             "in the last" % (mib(ceiling), mib(floor)))
rss_q, rss_end = marks[4][1], marks[1][1]
if rss_end > rss_q * 1.25 + 16 * 1024:
    sys.exit("daemon VmRSS grew from %s at a quarter to %s at the end"
             % (mib(rss_q), mib(rss_end)))
PY
kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon died"
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
note "$saves saves in $(($(date +%s) - start)) s; store $(($(stat -c %s "$DB") / 1024)) KiB"
