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
#     gone, so that its first read stores nothing and sends no READ.
#
# The kernel's cache of a file is invalidated from a thread of the daemon
# of its own, after each commit; on a loaded machine that invalidation can
# reach the kernel after the next read stored the file's pages, and the
# read after that is then a READ (right, and a round trip more).  So each
# pass reads 16 files and may see at most 2 READs: what each check
# guards against is a READ for every file.
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

umount_fs
note ok
