#!/usr/bin/env bash
# kill -9 of the daemon at random moments while three writers save.
#
# Each round mounts the store, starts three writer processes and kills the
# daemon with SIGKILL after a random delay (5..600 ms; 1,500 under
# AddressSanitizer), counted from the mount in half the rounds and from
# the first completed save in the other half.  Writer 0 saves
# with write() + close(), writer 1 with write() + fsync() + close(), and
# writer 2 like an editor: a temp side file, then rename() onto the record,
# then fsync() of the folder on every other save.  Every record is
# self-checking (its first line is a SHA-1 of the rest, which names the
# writer, the file and a sequence number that only grows).  A writer logs a
# save once every call of it returned success, and stops at its first error.
#
# What is asserted after each kill (unmount of the dead mount, `cccfs
# check` clean, remount):
#   - every save a writer logged is there: the file holds that version or
#     a later one of the same writer and file.  This holds for plain closes
#     too, in both modes: README's guarantee is that a close hands the
#     commit to the kernel before it returns, so it survives kill -9 of the
#     daemon (only a power loss may take back non-durable commits, which a
#     kill cannot simulate);
#   - no record is torn: every *.yaml under the writers' folders is one
#     whole version (its checksum holds) and not newer than the writer
#     ever attempted; or empty, if no save of it was ever acknowledged
#     (creating a new file is a commit of its own, and the kill may come
#     between it and the first save);
#   - the store checks clean, offline, before the remount.
# Rounds alternate the default commit_interval (plain closes non-durable)
# and commit_interval=0 (every close durable).
#
# Rounds: 50 (CCC_LONG=1: 1000; KILL_ROUNDS=N overrides); under
# AddressSanitizer 20 (CCC_LONG=1: 300), said in the output.  A round
# takes about 2 s; 100 rounds made this one test 4 of the suite's 10
# minutes.
. "$(dirname "$0")/lib.sh"
mount_setup
need python3

rounds=50
delay_ms=600 # the kill comes 5..delay_ms ms after the clock starts
if is_asan; then
	rounds=20
	delay_ms=1500
fi
if is_long; then
	rounds=1000
	is_asan && rounds=300
fi
rounds=${KILL_ROUNDS:-$rounds}
is_asan && note "AddressSanitizer build: $rounds rounds, kills within $delay_ms ms"

WRITER_PIDS=""
test_cleanup() {
	local p
	for p in $WRITER_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
}

cat >"$T/writer.py" <<'PY'
import hashlib, os, random, sys

root, w, round_no, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(round_no * 10 + w)
d = os.path.join(root, "workflows", "w%d" % w)
logf = open(log, "a", buffering=1)
seq = round_no * 1000000

def body(k, seq):
    rest = "name: w%d-f%d\ndescription: seq %d\nsteps:\n" % (w, k, seq)
    rest += "".join("  - s%d-%d\n" % (seq, i) for i in range(rnd.randrange(1, 2000)))
    return ("# %s\n" % hashlib.sha1(rest.encode()).hexdigest() + rest).encode()

def write_all(fd, data):
    # several write() calls per save
    step = max(1, len(data) // 3)
    for i in range(0, len(data), step):
        os.write(fd, data[i:i + step])

try:
    os.makedirs(d, exist_ok=True)
    while True:
        seq += 1
        k = seq % 8
        path = os.path.join(d, "f%d.yaml" % k)
        data = body(k, seq)
        logf.write("try %d %d\n" % (k, seq))
        if w == 2:
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            write_all(fd, data)
            os.close(fd)
            os.rename(tmp, path)
            if seq % 2:
                dfd = os.open(d, os.O_RDONLY)
                os.fsync(dfd)
                os.close(dfd)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            write_all(fd, data)
            if w == 1:
                os.fsync(fd)
            os.close(fd)
        logf.write("ok %d %d\n" % (k, seq))
except OSError as e:
    logf.write("stop %s\n" % e)
PY

cat >"$T/verify.py" <<'PY'
import hashlib, os, re, sys

root, logdir = sys.argv[1], sys.argv[2]
errs = []
for w in range(3):
    acked, tried = {}, {}
    try:
        lines = open(os.path.join(logdir, "w%d.log" % w)).read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        f = line.split()
        if f and f[0] in ("ok", "try") and len(f) == 3:
            (acked if f[0] == "ok" else tried)[int(f[1])] = int(f[2])
    d = os.path.join(root, "workflows", "w%d" % w)
    names = os.listdir(d) if os.path.isdir(d) else []
    for name in names:
        if not name.endswith(".yaml"):
            continue
        data = open(os.path.join(d, name), "rb").read()
        k = int(name[1:-5])
        if data == b"" and k not in acked:
            continue  # created (one commit), killed before its first save
        head, _, rest = data.partition(b"\n")
        if head != b"# " + hashlib.sha1(rest).hexdigest().encode():
            errs.append("w%d/%s torn (%d bytes)" % (w, name, len(data)))
            continue
        m = re.match(rb"name: w(\d+)-f(\d+)\ndescription: seq (\d+)\n", rest)
        if not m or int(m.group(1)) != w or int(m.group(2)) != k:
            errs.append("w%d/%s holds another file's record" % (w, name))
            continue
        seq = int(m.group(3))
        if seq > tried.get(k, -1):
            errs.append("w%d/%s holds seq %d, never attempted" % (w, name, seq))
        if seq < acked.get(k, -1):
            errs.append("w%d/%s holds seq %d, acked %d was lost"
                        % (w, name, seq, acked[k]))
    for k, seq in acked.items():
        if "f%d.yaml" % k not in names:
            errs.append("w%d/f%d.yaml missing, acked seq %d" % (w, k, seq))
if errs:
    sys.exit("; ".join(errs[:5]) + (" (+%d more)" % (len(errs) - 5) if len(errs) > 5 else ""))
PY

# Wait for a killed daemon to be gone.  A daemon thread inside a kernel
# call that waits on a lock a client's request holds (a cache
# invalidation of a name in a folder being renamed in) cannot die, and
# the request waits for the daemon: the mount would hang for good.  After
# 20 s the FUSE connection is aborted (fusectl), which fails the request
# and frees both, and the round fails instead of hanging.
reap_killed() {
	local pid=$1 i conn
	for i in $(seq 1 200); do
		if [ ! -d "/proc/$pid" ] ||
		   { [ "$(ls "/proc/$pid/task" 2>/dev/null | wc -l)" -le 1 ] &&
		     grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; }; then
			wait "$pid" 2>/dev/null
			return 0
		fi
		sleep 0.1
	done
	STUCK_AT=$(cat /proc/"$pid"/task/*/wchan 2>/dev/null | tr '\0' ' ')
	conn=$(awk -v m="$M" '$5 == m { split($3, d, ":"); print d[2] }' \
		/proc/self/mountinfo)
	[ -d /sys/fs/fuse/connections/"$conn" ] ||
		mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
	echo 1 >/sys/fs/fuse/connections/"$conn"/abort 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

start=$(date +%s)
saved_rounds=0
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 0 ]; then mode=commit_interval=0; else mode=default; fi
	if [ $mode = default ]; then mount_fs; else mount_fs -o $mode; fi
	before=$(cat "$T"/w?.log 2>/dev/null | grep -c '^ok ')
	WRITER_PIDS=""
	for w in 0 1 2; do
		python3 "$T/writer.py" "$M" $w $r "$T/w$w.log" &
		WRITER_PIDS="$WRITER_PIDS $!"
	done
	# every other pair of rounds the clock starts at the first save, so
	# that at least half the kills land in a stream of saves
	if [ $(((r / 2) % 2)) -eq 1 ]; then
		for i in $(seq 1 200); do
			[ "$(cat "$T"/w?.log 2>/dev/null | grep -c '^ok ')" -gt "$before" ] && break
			sleep 0.05
		done
	fi
	ms=$((5 + RANDOM % (delay_ms - 4)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -9 "$DAEMON_PID"
	reap_killed "$DAEMON_PID" || fail "round $r: the daemon did not exit" \
		"within 20 s of kill -9 (a thread stuck in the kernel at" \
		"$STUCK_AT); its connection was aborted so nothing hangs"
	DAEMON_PID=""
	for p in $WRITER_PIDS; do
		wait "$p" || fail "round $r: writer exited with $?"
	done
	WRITER_PIDS=""
	fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" ||
		fail "round $r: cannot unmount the dead mount"
	is_mounted "$M" && fail "round $r: dead mount still listed"
	"$CCCFS" check "$DB" >"$T/check.out" 2>&1 ||
		fail "round $r ($mode): check after kill -9: $(tail -5 "$T/check.out")"
	n=$(($(cat "$T"/w?.log | grep -c '^ok ') - before))
	[ $n -gt 0 ] && saved_rounds=$((saved_rounds + 1))
	mount_fs
	python3 "$T/verify.py" "$M" "$T" ||
		fail "round $r ($mode, $n acked saves): lost or torn saves"
	umount_fs
done
"$CCCFS" check "$DB" >"$T/check.out" 2>&1 || fail "final check: $(tail -5 "$T/check.out")"
acked=$(cat "$T"/w?.log | grep -c '^ok ')
note "$rounds rounds ($saved_rounds with saves), $acked acknowledged saves" \
	"(plain $(grep -c '^ok' "$T/w0.log"), fsync $(grep -c '^ok' "$T/w1.log")," \
	"rename $(grep -c '^ok' "$T/w2.log")), $(($(date +%s) - start)) s"
# the kills must have hit saves in flight, not idle writers
[ "$(cat "$T"/w?.log | grep -c '^stop')" -ge "$rounds" ] ||
	fail "writers were not interrupted by the kills"
[ $saved_rounds -ge $((rounds / 2)) ] ||
	fail "only $saved_rounds of $rounds rounds completed a save before the kill"
