#!/usr/bin/env bash
# Readers under load.  One writer rewrites 1,000 records at random while
# four readers run flat out for a bounded time (20 s; CCC_LONG=1: 120 s;
# LOAD_SECONDS=N overrides):
#   1. grep -r over the folder,
#   2. a cat loop over every file,
#   3. find, listing every file with its size,
#   4. grep -r for the first and last lines of every record.
# Every record is self-checking: its description names its version and
# line count, every step line carries the version, and the last line
# repeats both.  Asserted: every read returns one whole version (1, 2) or
# a matching first and last line (4); every find pass lists all 1,000
# records (3); no tool reports an error; each reader finishes
# passes; the writer is never starved (a floor on saves, a ceiling on the
# slowest save); the daemon's peak RSS (VmHWM) stays under a generous
# bound; the store checks clean afterwards.
. "$(dirname "$0")/lib.sh"
mount_setup
need python3

secs=${LOAD_SECONDS:-$(is_long && echo 120 || echo 20)}
if is_asan; then
	min_rate=5       # saves per second
	max_hwm_mb=1024
else
	min_rate=25
	max_hwm_mb=256
fi
max_save_s=5

BG_PIDS=""
test_cleanup() {
	local p
	touch "$T/stop" 2>/dev/null
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $BG_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
}

mount_fs
D=$M/workflows/load
mkdir "$D" || fail "mkdir $D"

cat >"$T/writer.py" <<'PY'
import os, random, sys, time

d, secs, stats = sys.argv[1], float(sys.argv[2]), sys.argv[3]
N = 1000

def body(k, v):
    n = 20 + (v * 7919) % 200
    out = ["name: f%04d" % k, "description: v=%d lines=%d" % (v, n), "steps:"]
    out += ["  - s%d-%d" % (v, i) for i in range(n)]
    out.append("# end v=%d lines=%d" % (v, n))
    return ("\n".join(out) + "\n").encode()

def save(k, v):
    data = body(k, v)
    fd = os.open(os.path.join(d, "f%04d.yaml" % k),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        half = len(data) // 2
        os.write(fd, data[:half])
        os.write(fd, data[half:])
    finally:
        os.close(fd)

if secs == 0:
    for k in range(N):
        save(k, k)
    sys.exit(0)
rnd = random.Random(1)
v = N
saves, slowest = 0, 0.0
end = time.time() + secs
while time.time() < end:
    t = time.time()
    save(rnd.randrange(N), v)
    slowest = max(slowest, time.time() - t)
    v += 1
    saves += 1
with open(stats, "w") as f:
    f.write("%d %.3f\n" % (saves, slowest))
PY

cat >"$T/verify.py" <<'PY'
# Reads a reader's output on stdin.  Modes:
#   lines  "PATH:LINE" for every line of every file (grep -r .)
#   cat    "@@ PATH" then the file's content
#   find   "SIZE PATH" per file, "@@ pass" after each pass
#   ends   "PATH:LINE" for the name, description and end lines
# "@@ pass" ends a pass; any other stray line is an error (tool stderr).
import re, sys

mode, d = sys.argv[1], sys.argv[2]
errs, files, passes = [], 0, 0
DESC = re.compile(r"description: v=(\d+) lines=(\d+)$")

def whole(path, lines):
    if len(lines) < 3:
        return "%d lines" % len(lines)
    m = DESC.match(lines[1])
    if not lines[0].startswith("name: f") or not m or lines[2] != "steps:":
        return "bad head %r" % lines[:3]
    v, n = int(m.group(1)), int(m.group(2))
    want = ["  - s%d-%d" % (v, i) for i in range(n)]
    want.append("# end v=%d lines=%d" % (v, n))
    if lines[3:] != want:
        return "v=%d: the body is not that version's (%d lines, want %d)" % (
            v, len(lines) - 3, n + 1)
    return None

def check(path, lines):
    global files
    files += 1
    if mode == "ends":
        m = DESC.match(lines[1]) if len(lines) == 3 else None
        e = None if m and lines[2] == "# end v=%s lines=%s" % m.groups() \
            else "first and last lines differ: %r" % lines
    else:
        e = whole(path, lines)
    if e:
        errs.append("%s: %s" % (path, e))

cur, buf, listed = None, [], 0
for raw in sys.stdin:
    line = raw.rstrip("\n")
    if line == "@@ pass":
        if cur is not None:
            check(cur, buf)
        cur, buf = None, []
        if mode == "find" and listed != 1000:
            errs.append("find pass listed %d records" % listed)
        listed = 0
        passes += 1
        continue
    if mode == "find":
        size, _, path = line.partition(" ")
        # the size is not checked: stat during an in-place rewrite may see
        # the writer's size of the moment, as on a local disk (contents
        # are checked by the other readers: always one whole version)
        if not path.startswith(d + "/") or not size.isdigit():
            errs.append("find: %r" % line)
        listed += path.endswith(".yaml")
        continue
    if mode == "cat":
        if line.startswith("@@ "):
            if cur is not None:
                check(cur, buf)
            cur, buf = line[3:], []
        elif cur is None:
            errs.append("stray: %r" % line)
        else:
            buf.append(line)
        continue
    path, sep, rest = line.partition(".yaml:")
    if not sep or not path.startswith(d + "/"):
        errs.append("stray: %r" % line)
        continue
    path += ".yaml"
    if path != cur:
        if cur is not None:
            check(cur, buf)
        cur, buf = path, []
    buf.append(rest)
if cur is not None and mode != "cat":
    check(cur, buf)  # a cat cut off by the stop is not checked
print("%s: %d passes, %d files read, %d errors" % (mode, passes, files, len(errs)))
if errs:
    sys.exit("first errors: " + "; ".join(errs[:3]))
if (mode != "cat" and passes < 1) or files < {"find": 0, "cat": 100}.get(mode, 1000):
    sys.exit("%s: too little reading done" % mode)
PY

python3 "$T/writer.py" "$D" 0 /dev/null || fail "creating 1,000 records"

running() { [ ! -e "$T/stop" ]; }
(while running; do grep -r . "$D" 2>&1; echo "@@ pass"; done |
	python3 "$T/verify.py" lines "$D" >"$T/r1.out" 2>&1) &
BG_PIDS="$BG_PIDS $!"
(while running; do
	for f in "$D"/*.yaml; do echo "@@ $f"; cat "$f" 2>&1; running || break; done
	running && echo "@@ pass"
done | python3 "$T/verify.py" cat "$D" >"$T/r2.out" 2>&1) &
BG_PIDS="$BG_PIDS $!"
(while running; do find "$D" -type f -printf '%s %p\n' 2>&1; echo "@@ pass"; done |
	python3 "$T/verify.py" find "$D" >"$T/r3.out" 2>&1) &
BG_PIDS="$BG_PIDS $!"
(while running; do
	grep -r -e '^name: ' -e '^description: ' -e '^# end ' "$D" 2>&1; echo "@@ pass"
done | python3 "$T/verify.py" ends "$D" >"$T/r4.out" 2>&1) &
BG_PIDS="$BG_PIDS $!"

note "one writer, four readers, $secs s"
python3 "$T/writer.py" "$D" "$secs" "$T/writer.stats" || fail "writer failed"
touch "$T/stop"
readers_ok=1
for p in $BG_PIDS; do
	wait "$p" || readers_ok=""
done
BG_PIDS=""
cat "$T"/r?.out
[ -n "$readers_ok" ] || fail "a reader saw a torn record or an error"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon died"

read -r saves slowest <"$T/writer.stats"
hwm=$(daemon_kb "$DAEMON_PID" VmHWM)
rss=$(daemon_kb "$DAEMON_PID" VmRSS)
note "writer: $saves saves ($((saves / secs))/s), slowest ${slowest} s;" \
	"daemon VmHWM $((hwm / 1024)) MiB, VmRSS $((rss / 1024)) MiB;" \
	"store $(($(stat -c %s "$DB") / 1024)) KiB"
[ "$saves" -ge $((min_rate * secs)) ] ||
	fail "writer starved: $saves saves in $secs s (floor $((min_rate * secs)))"
python3 -c "import sys; sys.exit(float(sys.argv[1]) > $max_save_s)" "$slowest" ||
	fail "slowest save took $slowest s (ceiling $max_save_s s)"
[ "$hwm" -le $((max_hwm_mb * 1024)) ] ||
	fail "daemon peak RSS $((hwm / 1024)) MiB over $max_hwm_mb MiB"
umount_fs
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
