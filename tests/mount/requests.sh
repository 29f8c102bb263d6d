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
#     folder's own.
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
for i in 1 2 3 4 5 6 7 8; do
	printf 'name: r%s\ndescription: read after write\n' "$i" >"$M/prompts/r/f$i.yaml" ||
		fail "write f$i"
done

note "a read right after a write: OPEN and RELEASE only"
mark a
cat "$M"/prompts/r/*.yaml >"$T/out" || fail "cat after write"
mark b
check_eq "$(grep -c '^name: r' "$T/out")" 8 "records read"
check_eq "$(count "$a" OPEN)" 8 "OPENs for 8 reads"
check_eq "$(count "$a" READ)" 0 "READs after a write"
check_eq "$(count "$a" FLUSH)" 0 "FLUSHes on read-only closes"

note "the same reads again: still no READ"
cat "$M"/prompts/r/*.yaml >/dev/null || fail "cat again"
mark c
check_eq "$(count "$b" READ)" 0 "READs of cached files"

note "rewrite the files that were read, then read them: no READ"
for i in 1 2 3 4 5 6 7 8; do
	printf 'name: r%s\ndescription: rewritten, longer than before\n' "$i" \
		>"$M/prompts/r/f$i.yaml" || fail "rewrite f$i"
done
mark d
cat "$M"/prompts/r/*.yaml >"$T/out" || fail "cat after rewrite"
mark e
check_eq "$(grep -c 'rewritten, longer' "$T/out")" 8 "rewritten records read"
check_eq "$(count "$d" READ)" 0 "READs after a rewrite of read files"

note "ls -l asks no file for its security label"
ls -l "$M/prompts/r" >/dev/null || fail "ls -l"
mark f
# the folder itself is asked (label, ACL), then ls stops asking
[ "$(count "$e" GETXATTR)" -le 2 ] ||
	fail "ls -l of 8 files sent $(count "$e" GETXATTR) GETXATTRs"

umount_fs
note ok
