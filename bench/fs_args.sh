#!/usr/bin/env bash
# scripts/bench-fs refuses bad arguments before it installs, builds,
# mounts or changes anything: each case must exit 2 at once and say what
# was wrong, and must not have made the benchmark's work folder.  A case
# the script took for a good one would start the whole benchmark, so
# each gets 60 seconds.
#
#   fs_args.sh SOURCEDIR
set -u
src=${1:?usage: fs_args.sh SOURCEDIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

# refused ARGS... -- MESSAGE: bench-fs ARGS exits 2 with MESSAGE on stderr
refused() {
	local args=() msg out rc
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	msg=$2
	rm -rf "$T/work"
	out=$(timeout 60 "$src/scripts/bench-fs" --dir "$T/work" "${args[@]}" \
		2>&1 </dev/null)
	rc=$?
	if [ $rc -ne 2 ]; then
		echo "FAIL: bench-fs ${args[*]}: exit $rc, not 2: $out" >&2
		fails=$((fails + 1))
	elif [[ "$out" != *"$msg"* ]]; then
		echo "FAIL: bench-fs ${args[*]}: said '$out', not '$msg'" >&2
		fails=$((fails + 1))
	elif [ -e "$T/work" ]; then
		echo "FAIL: bench-fs ${args[*]}: left $T/work" >&2
		fails=$((fails + 1))
	else
		echo "ok: bench-fs ${args[*]}: $out"
	fi
}

refused --halt-poll 20us -- "--halt-poll takes nanoseconds, not 20us"
refused --halt-poll -5 -- "--halt-poll takes nanoseconds, not -5"
refused --halt-poll "" -- "--halt-poll takes nanoseconds, not "
refused --runs 0 -- "0 is not a positive count"
refused --files 1e4 -- "1e4 is not a positive count"
refused --targets plain,ext4 -- "unknown target ext4"
refused --fast -- "unknown argument --fast"
[ $fails -eq 0 ] || exit 1
echo "fs_args: every bad argument refused"
