#!/usr/bin/env bash
# The requests the kernel sends the daemon for what users do most, counted
# in the daemon's debug log (-d): a count, not a time, so it does not
# depend on the machine.  Each round trip saved here is one a user no
# longer waits for.
#
#   - a read right after a write (edit, then grep): OPEN and RELEASE, the
#     content handed to the kernel with the open: no READ, no FLUSH;
#   - the same read again: no READ;
#   - a read after a file that was read before is rewritten: no READ
#     (the invalidation leaves the kernel no page, so the open hands it the
#     new content);
#   - ls -l of a folder: no GETXATTR per file (security labels), only the
#     folder's own;
#   - a path walked again after a pause: no LOOKUP of its folders;
#   - a file saved: its pages handed to the kernel once its writer is
#     gone, so that its first read stores nothing and sends no READ;
#   - commits while a file is open (fsync), its release, and a save's
#     temporary file renamed over a file that was read: every invalidation
#     made at once by the handler, none by the notify thread; but a file
#     still open elsewhere when its writer goes is left to that thread.
#
# The kernel's cache of a file whose last writer goes while another handle
# still has it open (a reader's RELEASE that comes late) is invalidated
# from a thread of the daemon of its own; on a loaded machine that
# invalidation can reach the kernel after the next read stored the file's
# pages, and the read after that is then a READ (right, and a round trip
# more).  So each pass reads 16 files and may see at most 2 READs: what
# each check guards against is a READ for every file.
. "$(dirname "$0")/lib.sh"
mount_setup
mount_fs -d -o commit_interval=0,snapshot_every=0

# Requests the kernel sends after it answered are still in flight when a
# command returns (RELEASE is sent after close): the log settles first.
mark() { # VAR: the log's length, once it has stopped growing
	local n m i
	n=$(wc -l <"$T/daemon.log")
	for i in $(seq 1 50); do
		sleep 0.1
		m=$(wc -l <"$T/daemon.log")
		[ "$m" = "$n" ] && break
		n=$m
	done
	printf -v "$1" '%s' "$n"
}
# count FROM OPCODE: requests of that kind logged after line FROM
count() {
	tail -n +"$(($1 + 1))" "$T/daemon.log" | grep -c "opcode: $2 "
}

mkdir "$M/prompts/r" || fail mkdir
N=16
for i in $(seq 1 $N); do
	printf 'name: r%s\ndescription: read after write\n' "$i" >"$M/prompts/r/f$i.yaml" ||
		fail "write f$i"
done
# at most 2 READs in a pass of N reads (see above)
few_reads() { # from what
	local n
	n=$(count "$1" READ)
	[ "$n" -le 2 ] || fail "$2: $n READs for $N reads"
}

note "a read right after a write: OPEN and RELEASE only"
mark a
cat "$M"/prompts/r/*.yaml >"$T/out" || fail "cat after write"
mark b
check_eq "$(grep -c '^name: r' "$T/out")" $N "records read"
check_eq "$(count "$a" OPEN)" $N "OPENs for $N reads"
few_reads "$a" "reads after a write"
check_eq "$(count "$a" FLUSH)" 0 "FLUSHes on read-only closes"

note "the same reads again: still no READ"
cat "$M"/prompts/r/*.yaml >/dev/null || fail "cat again"
mark c
few_reads "$b" "reads of cached files"

note "rewrite the files that were read, then read them: no READ"
for i in $(seq 1 $N); do
	printf 'name: r%s\ndescription: rewritten, longer than before\n' "$i" \
		>"$M/prompts/r/f$i.yaml" || fail "rewrite f$i"
done
mark d
cat "$M"/prompts/r/*.yaml >"$T/out" || fail "cat after rewrite"
mark e
check_eq "$(grep -c 'rewritten, longer' "$T/out")" $N "rewritten records read"
few_reads "$d" "reads after a rewrite of files read before"

note "ls -l asks no file for its security label"
ls -l "$M/prompts/r" >/dev/null || fail "ls -l"
mark f
# the folder itself is asked (label, ACL), then ls stops asking
[ "$(count "$e" GETXATTR)" -le 2 ] ||
	fail "ls -l of $N files sent $(count "$e" GETXATTR) GETXATTRs"

note "a path walked again after two idle seconds: no LOOKUP of its folders"
# Folder names last as long as file names where the kernel can expire
# them after another process's change (FUSE 7.38, Linux 6.2); before,
# a second, and every walk after a pause looked each folder up again.
kernel=$(uname -r)
kmaj=${kernel%%.*}
kmin=${kernel#*.}
kmin=${kmin%%[!0-9]*}
if [ "$kmaj" -gt 6 ] || { [ "$kmaj" = 6 ] && [ "$kmin" -ge 2 ]; }; then
	stat "$M/prompts/r/f1.yaml" >/dev/null || fail "stat f1"
	sleep 2
	mark g
	cat "$M/prompts/r/f1.yaml" >/dev/null || fail "cat f1 after a pause"
	mark h
	check_eq "$(count "$g" LOOKUP)" 0 "LOOKUPs for a walk of prompts/r after a pause"
else
	note "kernel $kernel cannot expire names: folder names last a second there"
fi

note "a file saved is handed to the kernel after the save, not at the open"
# Once its writer is gone the daemon stores the saved content in the
# kernel's page cache (cache_warm); the first read then costs an OPEN that
# stores nothing.  Nothing else runs here, so the store is never put off.
msgs() { # FROM TEXT: debug messages with TEXT logged after line FROM
	tail -n +"$(($1 + 1))" "$T/daemon.log" | grep -cF "$2"
}
wait_msg() { # FROM TEXT: until TEXT is logged after line FROM (10 s)
	local i
	for i in $(seq 1 100); do
		[ "$(msgs "$1" "$2")" -ge 1 ] && return 0
		sleep 0.1
	done
	return 1
}
mark w0
printf 'name: w\ndescription: saved, then read\n' >"$M/prompts/r/w.yaml" ||
	fail "save w"
# The RELEASE, and the store after it, come after close() returned: a
# quiet log says nothing of when (a busy machine may not run the daemon
# for longer than mark waits).  Wait for the store itself.
wait_msg "$w0" "/prompts/r/w.yaml: pages handed to the kernel after the save" ||
	fail "no store after the save of w.yaml"
mark w1
check_eq "$(msgs "$w0" "/prompts/r/w.yaml: pages handed to the kernel after the save")" \
	1 "stores after the save of w.yaml"
check_eq "$(cat "$M/prompts/r/w.yaml")" "$(printf 'name: w\ndescription: saved, then read')" \
	"w.yaml read after its save"
mark w2
check_eq "$(count "$w1" READ)" 0 "READs for a file read after its save"
check_eq "$(msgs "$w1" "/prompts/r/w.yaml: pages handed to the kernel with an open")" \
	0 "stores at the open of a file stored after its save"

note "commits while a file is open, and saves, leave the notify thread nothing"
# While a writer has a file open, a commit invalidates only the kernel's
# attributes, at once; its pages are invalidated by the last writer's
# release, itself, before it hands the kernel the saved ones.  A save's
# rename invalidates the file it replaced, which no handle has open, at
# once too.  None of that wakes the notify thread (cache.c).
printf 'name: a\ndescription: before\n' >"$M/prompts/r/a.yaml" || fail "write a"
printf 'name: b\ndescription: before\n' >"$M/prompts/r/b.yaml" || fail "write b"
cat "$M/prompts/r/a.yaml" "$M/prompts/r/b.yaml" >/dev/null || fail "read a, b"
mark n0
python3 - "$M/prompts/r" <<'PY' || fail "rewrite a, save b"
import os, sys
d = sys.argv[1]
fd = os.open(d + "/a.yaml", os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"name: a\n")
os.fsync(fd)
os.write(fd, b"description: rewritten in place\n")
os.fsync(fd)
os.close(fd)
fd = os.open(d + "/.b.yaml.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b"name: b\ndescription: saved over\n")
os.fsync(fd)
os.close(fd)
os.rename(d + "/.b.yaml.tmp", d + "/b.yaml")
PY
wait_msg "$n0" "/prompts/r/a.yaml: pages handed to the kernel after the save" ||
	fail "no store after the rewrite of a.yaml"
# b.yaml's pages are logged under the temporary file's name or b.yaml's,
# as its release comes before or after the rename
for i in $(seq 1 100); do
	[ "$(msgs "$n0" "pages handed to the kernel after the save")" -ge 2 ] && break
	sleep 0.1
done
mark n1
check_eq "$(msgs "$n0" "pages handed to the kernel after the save")" 2 \
	"stores after the saves of a.yaml and b.yaml"
check_eq "$(msgs "$n0" "invalidated by the notify thread")" 0 \
	"invalidations left to the notify thread"
check_eq "$(msgs "$n0" "/prompts/r/a.yaml: the kernel's view invalidated at once")" 1 \
	"invalidations of a.yaml at its release"
check_eq "$(cat "$M/prompts/r/a.yaml" "$M/prompts/r/b.yaml")" \
	"$(printf 'name: a\ndescription: rewritten in place\nname: b\ndescription: saved over')" \
	"a.yaml and b.yaml read after their saves"
check_eq "$(count "$n1" READ)" 0 "READs for files read after their saves"

note "a file another handle has open when its writer goes: the notify thread"
printf 'name: c\ndescription: before\n' >"$M/prompts/r/c.yaml" || fail "write c"
mark o0
python3 - "$M/prompts/r/c.yaml" <<'PY' || fail "rewrite c with a reader open"
import os, sys
w = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(w, b"name: c\ndescription: rewritten while read\n")
os.fsync(w)
r = os.open(sys.argv[1], os.O_RDONLY)
os.close(w)
got = os.read(r, 4096)
os.close(r)
assert got == b"name: c\ndescription: rewritten while read\n", got
PY
wait_msg "$o0" "/prompts/r/c.yaml: the kernel's view invalidated by the notify thread" ||
	fail "c.yaml not invalidated by the notify thread"
check_eq "$(msgs "$o0" "/prompts/r/c.yaml: the kernel's view invalidated at once")" 0 \
	"invalidations of c.yaml by a handler while a reader had it open"
check_eq "$(cat "$M/prompts/r/c.yaml")" \
	"$(printf 'name: c\ndescription: rewritten while read')" "c.yaml read after"

umount_fs
note ok
