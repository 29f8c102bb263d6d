#!/usr/bin/env bash
# send and receive: a full stream, then an incremental one, piped from
# `cccfs send` into `cccfs receive` of a mounted store, shows in the mount
# at once; the receiver's snapshots export byte for byte as the sender's;
# receiving again changes nothing; a damaged stream, a missing base and a
# live tree changed since the base are refused (exit 1) with nothing
# changed, and --force takes the stream; a sender that stalls holds up no
# save in the mount; no stream goes to a terminal.
. "$(dirname "$0")/lib.sh"
mount_setup

# the daemon drops what the kernel cached within its watch tick
eventually() { # command...
	local i
	for i in $(seq 1 30); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

A=$T/sender.db
"$CCCFS" init "$A" >/dev/null || fail "init sender"
mkdir -p "$T/src/prompts/coding" "$T/src/agents"
printf 'name: review\n' > "$T/src/prompts/coding/review.yaml"
printf 'name: helper\n' > "$T/src/agents/helper.yaml"
"$CCCFS" import "$A" "$T/src" >/dev/null || fail "import"
"$CCCFS" snapshot "$A" create s1 >/dev/null || fail "snapshot s1"

# the receiver is mounted
mount_fs -o commit_interval=0,snapshot_every=0

note "a full stream through a pipe shows in the mount at once"
"$CCCFS" send "$A" s1 2>/dev/null | "$CCCFS" receive "$DB" >"$T/out" 2>&1 ||
	fail "send | receive: $(cat "$T/out")"
eventually [ -f "$M/agents/helper.yaml" ] || fail "received records not shown"
check_file "$M/prompts/coding/review.yaml" 'name: review'
check_file "$M/agents/helper.yaml" 'name: helper'

note "an incremental stream, from a file"
printf 'name: review\nversion: 2\n' > "$T/src/prompts/coding/review.yaml"
printf 'name: new\n' > "$T/src/prompts/new.yaml"
"$CCCFS" import "$A" "$T/src" >/dev/null || fail "import again"
"$CCCFS" snapshot "$A" create s2 >/dev/null || fail "snapshot s2"
"$CCCFS" send "$A" s2 --from s1 -o "$T/inc.stream" 2>/dev/null ||
	fail "send --from"
"$CCCFS" receive "$DB" -i "$T/inc.stream" >/dev/null || fail "receive -i"
eventually grep -q 'version: 2' "$M/prompts/coding/review.yaml" ||
	fail "changed record not shown"
check_file "$M/prompts/new.yaml" 'name: new'

note "the received snapshots are the sender's, ids and exports"
for s in s1 s2; do
	"$CCCFS" export "$A" "$T/ea-$s" --snapshot "$s" >/dev/null || fail "export A $s"
	"$CCCFS" export "$DB" "$T/eb-$s" --snapshot "$s" >/dev/null || fail "export B $s"
	diff -r "$T/ea-$s" "$T/eb-$s" >/dev/null || fail "snapshot $s differs"
	ida=$("$CCCFS" snapshot "$A" list | awk -v s="$s" '$1 == s {print $NF}')
	idb=$("$CCCFS" snapshot "$DB" list | awk -v s="$s" '$1 == s {print $NF}')
	[ ${#ida} -eq 32 ] || fail "no id listed for $s"
	check_eq "$idb" "$ida" "id of $s"
done

note "the same stream again: nothing to do"
out=$("$CCCFS" receive "$DB" -i "$T/inc.stream") || fail "receive twice: $out"
echo "$out" | grep -q 'nothing to do' || fail "second receive said: $out"

note "a damaged stream is refused, nothing changed"
cp "$T/inc.stream" "$T/bad.stream"
printf '\x55' | dd of="$T/bad.stream" bs=1 seek=120 conv=notrunc 2>/dev/null
before=$("$CCCFS" stat "$DB" | grep -i txn)
"$CCCFS" receive "$DB" -i "$T/bad.stream" 2>"$T/err" && fail "a damaged stream was received"
grep -q 'damaged' "$T/err" || fail "damaged stream: $(cat "$T/err")"
printf 'name: third\n' > "$T/src/prompts/third.yaml"
"$CCCFS" import "$A" "$T/src" >/dev/null || fail "import a third time"
"$CCCFS" snapshot "$A" create s3 >/dev/null
"$CCCFS" send "$A" s3 --from s2 -o "$T/s3.stream" 2>/dev/null || fail "send s3"
head -c $(($(stat -c %s "$T/s3.stream") - 10)) "$T/s3.stream" > "$T/cut.stream"
"$CCCFS" receive "$DB" -i "$T/cut.stream" 2>"$T/err" && fail "a cut stream was received"
grep -q 'cut short' "$T/err" || fail "cut stream: $(cat "$T/err")"
check_eq "$("$CCCFS" stat "$DB" | grep -i txn)" "$before" "commit after a refused stream"

note "a missing base is refused, naming it"
"$CCCFS" init "$T/other.db" >/dev/null
"$CCCFS" receive "$T/other.db" -i "$T/inc.stream" 2>"$T/err" && fail "received without its base"
grep -q "'s1'" "$T/err" || fail "missing base: $(cat "$T/err")"

note "a live tree changed since the base: refused, then --force"
printf 'name: local\n' > "$M/prompts/local.yaml"
"$CCCFS" receive "$DB" -i "$T/s3.stream" 2>"$T/err" && fail "received over a changed tree"
grep -q -- '--force' "$T/err" || fail "changed tree: $(cat "$T/err")"
[ -f "$M/prompts/local.yaml" ] || fail "the refused receive changed the tree"
"$CCCFS" receive "$DB" -i "$T/s3.stream" --force >/dev/null || fail "receive --force"
eventually [ ! -e "$M/prompts/local.yaml" ] ||
	fail "forced receive left the local change"

note "a slow sender holds up no save in the mount"
# receive reads a pipe whole before it takes the store's write lock; the
# sender here stops short of its last 10 bytes until a save has gone
# through (a save that waited on the receive would hang: timeout turns
# that into a failure)
mkfifo "$T/fifo"
"$CCCFS" receive "$DB" -i "$T/fifo" >"$T/fifo.out" 2>&1 &
rpid=$!
exec 7>"$T/fifo"
size=$(stat -c %s "$T/s3.stream")
head -c $((size - 10)) "$T/s3.stream" >&7
sleep 0.5 # time for a receive that does not wait to take the lock
timeout 30 sh -c "printf 'name: meanwhile\n' > '$M/prompts/meanwhile.yaml'" ||
	fail "a save waited for a receive still reading its stream"
timeout 30 "$CCCFS" log "$DB" prompts/meanwhile.yaml >/dev/null ||
	fail "the save made while receiving is not committed"
tail -c 10 "$T/s3.stream" >&7
exec 7>&-
wait "$rpid" || fail "receive from a fifo: $(cat "$T/fifo.out")"
grep -q 'nothing to do' "$T/fifo.out" || fail "fifo receive said: $(cat "$T/fifo.out")"
rm "$M/prompts/meanwhile.yaml"

note "no stream to a terminal; usage errors exit 2"
if command -v script >/dev/null; then
	script -qec "$CCCFS send $A s1" /dev/null >"$T/tty" 2>&1
	grep -q 'terminal' "$T/tty" || fail "send wrote to a terminal"
fi
"$CCCFS" send "$A" 2>/dev/null; check_eq $? 2 "send without SNAP"
"$CCCFS" receive "$DB" --bogus </dev/null 2>/dev/null; check_eq $? 2 "receive --bogus"

umount_fs
note ok
