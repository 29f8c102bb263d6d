#!/usr/bin/env bash
# The bash completion (scripts/cccfs-completion.bash), called as readline
# calls it: COMP_WORDS split the way bash splits them (= is a word of its
# own), COMP_CWORD, then _cccfs, then COMPREPLY compared, in any order.
# Commands, options, -o mount options, file and folder names, and the
# snapshot names of a real store made with the built cccfs; a missing or
# broken store completes no names and prints nothing.
#
#   completion.sh COMPLETION-FILE PATH-TO-CCCFS
set -u
comp=${1:?usage: completion.sh COMPLETION-FILE PATH-TO-CCCFS}
CCCFS=${2:?usage: completion.sh COMPLETION-FILE PATH-TO-CCCFS}
case $comp in /*) ;; *) comp=$(pwd)/$comp ;; esac
case $CCCFS in /*) ;; *) CCCFS=$(pwd)/$CCCFS ;; esac

T=""
fail() {
	echo "FAIL [completion]: $*" >&2
	exit 1
}
cleanup() {
	local rc=$?
	cd /
	[ -n "$T" ] && rm -rf "$T"
	[ $rc -eq 0 ] && echo "[completion] PASS"
	exit $rc
}
trap cleanup EXIT
T=$(mktemp -d /tmp/cccfs-completion.XXXXXX) || fail "mktemp"

# no helpers of the bash-completion package may be needed
unset -f _init_completion _get_comp_words_by_ref 2>/dev/null
. "$comp" || fail "cannot source $comp"
[ "$(complete -p cccfs 2>/dev/null)" = "complete -F _cccfs cccfs" ] ||
	fail "cccfs is not bound to _cccfs: $(complete -p cccfs 2>&1)"
COMP_WORDBREAKS=$' \t\n"\'@><=;|&(:'

# want WORD... -- the command line's words, the last being completed (or
# the one CWORD indexes): COMPREPLY must hold exactly the WORDs before --,
# and nothing may be printed.
want() {
	local exp=() w
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		exp+=("$1")
		shift
	done
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=${CWORD:-$(($# - 1))}
	COMPREPLY=()
	_cccfs >"$T/out" 2>&1
	[ -s "$T/out" ] && fail "'$*' printed: $(cat "$T/out")"
	# the same words, in any order (no subshells: this runs often)
	local -A got=()
	local same=1
	for w in ${COMPREPLY[@]+"${COMPREPLY[@]}"}; do
		got[$w]=1
	done
	[ ${#COMPREPLY[@]} -eq ${#exp[@]} ] || same=0
	for w in ${exp[@]+"${exp[@]}"}; do
		[ -n "${got[$w]-}" ] || same=0
	done
	[ $same = 1 ] || fail "'$*': got [${COMPREPLY[*]}], want [${exp[*]}]"
}

cd "$T" || fail "cd $T"
# the default store, where a command with DB left out looks: none here
# unless a case says otherwise, and never the user's
export XDG_DATA_HOME=$T/nodata

# commands and their options
want mount umount init check stat snapshot log diff restore label refs mv \
	prune render ls send receive backup export import -- cccfs ""
want stat snapshot send -- cccfs s
want export -- cccfs ex
want --help --version -- cccfs -
want -f -d -o --help -- cccfs mount -
want -v --refs --help -- cccfs check -
want --snapshot --help -- cccfs backup --
want --snapshot -- cccfs export db dir --s
want --skip-invalid --help -- cccfs import --
want --help -- cccfs stat -
want --from -o --help -- cccfs send db s1 -
want -i --force --help -- cccfs receive -
want -n --help -- cccfs log -
want set rm list -- cccfs label db ""
want --version --help -- cccfs label db set prod prompts/x.yaml -
want --version --snapshot --help -- cccfs restore db prompts/x.yaml -
want --patch --yaml --help -- cccfs diff db s1 -
want -- cccfs restore db prompts/x.yaml --version ""
want -- cccfs log db -n ""
want -v --label --help -- cccfs render db prompts/x.yaml -
want -v --label --help -- cccfs render db prompts/x.yaml -v a=1 -
want -- cccfs render db prompts/x.yaml -v ""
want -- cccfs render db prompts/x.yaml --label ""
want -- cccfs render db ""
want create list delete restore -- cccfs snapshot db ""
want delete -- cccfs snapshot db d
# mount takes its options after its operands too
want -f -d -o --help -- cccfs mount db -
want -f -d -o --help -- cccfs mount db mnt -

# -o: option names after the last comma, values of snapdir
want max_record= commit_interval= spin= snapdir= snapshot_every= keep= \
	history_keep= nonempty allow_other -- cccfs mount -o ""
want max_record= -- cccfs mount -f -o ma
want 10,snapdir= 10,snapshot_every= -- \
	cccfs mount -o commit_interval = 10,sn
want hidden visible -- cccfs mount -o snapdir = ""
want visible -- cccfs mount -d -o keep = 1,snapdir=v
want -- cccfs mount -o keep = 1

# file names for DB, DEST; folders for MOUNTPOINT, DIR
mkdir mnt mnt2 || fail mkdir
: >notes.txt
"$CCCFS" init store.db >/dev/null 2>&1 || fail "cccfs init"
want store.db store.db-lock -- cccfs stat s
want store.db store.db-lock -- cccfs diff s
want store.db store.db-lock -- cccfs render s
want mnt mnt2 -- cccfs mount store.db m
# after the -o value come the operands
want store.db store.db-lock -- cccfs mount -o keep = 1 sto
want mnt mnt2 -- cccfs mount -o keep = 1 store.db m
want mnt mnt2 -- cccfs umount ""
want mnt mnt2 -- cccfs export store.db m
want mnt mnt2 -- cccfs import store.db ""
want notes.txt -- cccfs backup store.db no
want notes.txt -- cccfs init n
want mnt mnt2 -- cccfs store.db m

# snapshot names, from `cccfs snapshot DB list` run by the completion
want -- "$CCCFS" snapshot store.db delete ""
long=a-name-longer-than-the-thirty-two-column-name-field
ctl=$'red\e[31m\\x'
for s in monday tuesday "with space" NAME "$long" "$ctl"; do
	"$CCCFS" snapshot store.db create "$s" >/dev/null 2>&1 ||
		fail "cccfs snapshot create $s"
done
"$CCCFS" snapshot store.db list >"$T/list" 2>&1 || fail "snapshot list"
grep -q "^$long [0-9]" "$T/list" ||
	fail "the long name does not run into the next column: $(cat "$T/list")"
all=(monday tuesday 'with\ space' NAME "$long" "$(printf %q "$ctl")")
want "${all[@]}" -- "$CCCFS" snapshot store.db delete ""
want "${all[@]}" -- "$CCCFS" snapshot store.db restore ""
want monday -- "$CCCFS" snapshot store.db restore mo
want 'with\ space' -- "$CCCFS" snapshot store.db delete 'with\ s'
want -- "$CCCFS" snapshot store.db create ""
want live "${all[@]}" -- "$CCCFS" diff store.db ""
want monday -- "$CCCFS" diff store.db live m
want "${all[@]}" -- "$CCCFS" restore store.db prompts/x.yaml --snapshot ""
want "${all[@]}" -- "$CCCFS" send store.db ""
want monday -- "$CCCFS" send store.db tuesday --from mo
want store.db store.db-lock -- "$CCCFS" receive sto
want store.db store.db-lock -- "$CCCFS" log s
want "${all[@]}" -- "$CCCFS" backup store.db out.db --snapshot ""
want tuesday -- "$CCCFS" export store.db dir --snapshot t
# the store may come after the cursor
CWORD=3 want tuesday -- "$CCCFS" export --snapshot t store.db dir
CWORD=4 want tuesday -- "$CCCFS" backup --snapshot = t store.db out.db
want NAME -- "$CCCFS" backup store.db out.db --snapshot = N
want "$long" -- "$CCCFS" export store.db dir --snapshot = a
# a name with an escape and a backslash, listed escaped, completed whole
want "$(printf %q "$ctl")" -- "$CCCFS" snapshot store.db delete re
# a path given with ~ is the user's home
HOME=$T want monday -- "$CCCFS" snapshot '~/store.db' delete m

# DB left out: the actions first, and the default store's snapshot names
# (cccfs's default: $XDG_DATA_HOME/cccfs/ccc.db)
want create -- cccfs snapshot cr
want delete -- cccfs snapshot de
want -- cccfs snapshot list ""
XDG_DATA_HOME=$T/data "$CCCFS" init >/dev/null 2>&1 || fail "cccfs init (default)"
XDG_DATA_HOME=$T/data "$CCCFS" snapshot create dflt >/dev/null 2>&1 ||
	fail "cccfs snapshot create (default)"
XDG_DATA_HOME=$T/data want dflt -- "$CCCFS" snapshot delete ""
XDG_DATA_HOME=$T/data want dflt -- "$CCCFS" snapshot restore d
XDG_DATA_HOME=$T/data want data dflt -- "$CCCFS" send d
XDG_DATA_HOME=$T/data want dflt -- "$CCCFS" export dir --snapshot ""
XDG_DATA_HOME=$T/data CWORD=4 want dflt -- "$CCCFS" backup --snapshot = d out.db
XDG_DATA_HOME="" HOME=$T/nohome want -- "$CCCFS" snapshot delete ""
# a lone operand that is a file is the store, not DEST
XDG_DATA_HOME=$T/data want monday -- "$CCCFS" backup store.db --snapshot mo

# paths inside the store, a folder at a time from `cccfs ls`
mkdir -p src/prompts/coding src/agents src/workflows || fail mkdir
printf 'name: r\n' >src/prompts/coding/review.yaml
printf 'name: s\n' >"src/prompts/with space.yaml"
printf 'name: e\n' >"src/prompts/$ctl.yaml"
printf 'name: a\n' >src/agents/reviewer.yaml
"$CCCFS" import store.db src >/dev/null 2>&1 || fail "cccfs import"
want agents/ prompts/ workflows/ -- "$CCCFS" log store.db ""
want prompts/ -- "$CCCFS" refs store.db pr
want prompts/coding/ 'prompts/with\ space.yaml' \
	"$(printf %q "prompts/$ctl.yaml")" -- "$CCCFS" render store.db prompts/
want 'prompts/with\ space.yaml' -- "$CCCFS" log store.db 'prompts/with\ '
want prompts/coding/review.yaml -- "$CCCFS" restore store.db prompts/coding/r
want prompts/coding/review.yaml -- "$CCCFS" mv store.db prompts/coding/r
want prompts/coding/review.yaml -- \
	"$CCCFS" mv store.db prompts/x.yaml prompts/coding/
want prompts/coding/review.yaml -- \
	"$CCCFS" label store.db set prod prompts/coding/
want agents/reviewer.yaml -- "$CCCFS" label store.db rm prod agents/r
want agents/ -- "$CCCFS" label store.db rm prod a
want -- "$CCCFS" label store.db set pr
want set -- "$CCCFS" label store.db s
want prompts/coding/ -- "$CCCFS" ls store.db prompts/
want --deleted --help -- "$CCCFS" ls store.db -
want -- "$CCCFS" log store.db nosuch/
want -- "$CCCFS" log store.db prompts/coding/review.yaml/
want -- "$CCCFS" refs notes.txt pr
# DB left out: the default store's paths, beside the files at that place
XDG_DATA_HOME=$T/data "$CCCFS" import src >/dev/null 2>&1 ||
	fail "cccfs import (default)"
XDG_DATA_HOME=$T/data want prompts/ -- "$CCCFS" log pr
XDG_DATA_HOME=$T/data want agents/reviewer.yaml -- "$CCCFS" refs agents/r
XDG_DATA_HOME=$T/data want notes.txt -- "$CCCFS" render no
XDG_DATA_HOME=$T/data want agents/reviewer.yaml -- \
	"$CCCFS" label set prod agents/
XDG_DATA_HOME=$T/data want agents/ -- "$CCCFS" ls a
XDG_DATA_HOME=$T/data want agents/reviewer.yaml -- \
	"$CCCFS" mv prompts/x.yaml agents/

# no names, and quietly, from what is not a store
want -- "$CCCFS" snapshot gone.db delete ""
want -- "$CCCFS" snapshot notes.txt delete ""
want -- "$CCCFS" backup notes.txt out.db --snapshot ""
want -- "$T/no-such-cccfs" snapshot store.db delete ""
exit 0
