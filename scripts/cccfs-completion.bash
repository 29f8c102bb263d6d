# bash completion for cccfs.  Plain bash: needs neither the bash-completion
# package nor its helpers, though that package loads it by itself from
#   ${XDG_DATA_HOME:-~/.local/share}/bash-completion/completions/cccfs
# or the system's completions folder.  Without it: `. THIS-FILE` in
# ~/.bashrc.
#
# Completes the commands, each command's options, the -o mount options,
# store files (DB, DEST), folders (DIR, MOUNTPOINT), the snapshot sub-words
# and snapshot names, read with `cccfs snapshot DB list` (of the default
# store, as cccfs finds it, when DB is left out; for diff, with live
# beside them), and the paths inside the store that log, restore, label,
# refs, mv, render and ls take, read with `cccfs ls DB DIR` a folder at a
# time (deleted records too for log and restore).

# The helpers set variables rather than print: no subshell per TAB.

# _cccfs_path VAR WORD: WORD as a path into VAR: a leading ~ expanded,
# quotes and backslashes taken off (no eval: the word is the user's text).
_cccfs_path() {
	local _p=$2
	case $_p in
	\'*\') _p=${_p:1:${#_p}-2} ;;
	\"*\") _p=${_p:1:${#_p}-2} ;;
	*) _p=${_p//\\/} ;;
	esac
	case $_p in
	"~") _p=$HOME ;;
	"~/"*) _p=$HOME/${_p:2} ;;
	esac
	printf -v "$1" '%s' "$_p"
}

# _cccfs_keep VAR CUR: into VAR, the part of CUR that readline leaves in
# place, up to and including its last word-break character (= and :
# break words by default).
_cccfs_keep() {
	local _brk=${COMP_WORDBREAKS-} _set="" _k=""
	[[ $_brk == *=* ]] && _set+="="
	[[ $_brk == *:* ]] && _set+=":"
	if [ -n "$_set" ] && [[ $2 == *["$_set"]* ]]; then
		_k=${2%"${2##*["$_set"]}"}
	fi
	printf -v "$1" '%s' "$_k"
}

# _cccfs_add CUR QUOTE WORD...: the WORDs that start with CUR into
# COMPREPLY, less what readline keeps of CUR; QUOTE 1 escapes them for the
# command line (names that are not file names).
_cccfs_add() {
	local cur=$1 quote=$2 keep w r
	shift 2
	_cccfs_keep keep "$cur"
	for w; do
		[[ $w == "$cur"* ]] || continue
		r=${w#"$keep"}
		if [ "$quote" = 1 ]; then
			printf -v r '%q' "$r"
		fi
		COMPREPLY+=("$r")
	done
}

# _cccfs_files CUR [-d]: file names (folders only with -d) starting with
# CUR.
_cccfs_files() {
	local cur w keep
	_cccfs_path cur "$1"
	compopt -o filenames 2>/dev/null
	_cccfs_keep keep "$cur"
	while IFS= read -r w; do
		COMPREPLY+=("${w#"$keep"}")
	done < <(compgen "${2:--f}" -- "$cur")
}

# _cccfs_names PROGRAM DB CUR: the snapshot names in DB that start with
# CUR, from `PROGRAM snapshot DB list`; none, quietly, when DB is no store
# or cannot be read.  Its rows are NAME CREATED(date time) TXN RECORDS
# SPACE(number unit) ID, the name padded with blanks and possibly holding
# some; the header and the "no snapshots" line are no such rows.  The
# list prints control bytes and backslashes in a name as C escapes
# (\x1b, \n, \\), which printf %b turns back into the name's bytes.
_cccfs_names() {
	local prog db cur line name names=() to=()
	local re='^(.*[^ ]) +[0-9]+-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}Z'
	re+=' +[0-9]+ +[0-9]+ +[0-9.]+ [A-Za-z]+( +[0-9a-f]{32})?$'
	_cccfs_path prog "$1"
	_cccfs_path db "$2"
	_cccfs_path cur "$3"
	[ -f "$db" ] || return 0
	command -v timeout >/dev/null 2>&1 && to=(timeout 5)
	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		printf -v name '%b' "${BASH_REMATCH[1]}"
		names+=("$name")
	done < <(${to[@]+"${to[@]}"} "$prog" snapshot "$db" list 2>/dev/null)
	_cccfs_add "$cur" 1 ${names[@]+"${names[@]}"}
}

# _cccfs_store PROGRAM DB CUR QUOTE [--deleted]: the paths in the store
# DB that start with CUR, from `PROGRAM ls DB DIR [--deleted]`, DIR being
# CUR up to its last '/' (the top without one); folders end in '/' and
# take no space after them.  None, quietly, when DB is no store or DIR no
# folder of it.  QUOTE as for _cccfs_add (0 where readline quotes file
# names itself).  ls prints names escaped as snapshot list does.
_cccfs_store() {
	local prog db cur dir line p paths=() to=() before=${#COMPREPLY[@]}
	_cccfs_path prog "$1"
	_cccfs_path db "$2"
	_cccfs_path cur "$3"
	[ -f "$db" ] || return 0
	dir=""
	[[ $cur == */* ]] && dir=${cur%/*}
	command -v timeout >/dev/null 2>&1 && to=(timeout 5)
	while IFS= read -r line; do
		printf -v p '%b' "$line"
		paths+=("$p")
	done < <(${to[@]+"${to[@]}"} "$prog" ls "$db" ${dir:+"$dir"} \
		${5:+"$5"} 2>/dev/null)
	_cccfs_add "$cur" "$4" ${paths[@]+"${paths[@]}"}
	if ((${#COMPREPLY[@]} == before + 1)) &&
	   [[ ${COMPREPLY[before]} == */ ]]; then
		compopt -o nospace 2>/dev/null
	fi
}

# _cccfs_paths PROGRAM POS CUR [--deleted]: the PATH of a command whose
# DB may be left out, with POS operands before it: the first operand
# (DB, when it is a file) or else the default store's paths, and at the
# first operand the store files too.
_cccfs_paths() {
	local db
	_cccfs_default db
	if (($2 == 0)); then
		_cccfs_files "$3"
		_cccfs_store "$1" "$db" "$3" 0 ${4:+"$4"}
		return 0
	fi
	_cccfs_path db "${pos[0]}"
	[ -f "$db" ] || _cccfs_default db
	_cccfs_store "$1" "$db" "$3" 1 ${4:+"$4"}
}

# _cccfs_default VAR: into VAR, the store a command uses when DB is left
# out, as cccfs finds it.
_cccfs_default() {
	printf -v "$1" '%s' "${XDG_DATA_HOME:-$HOME/.local/share}/cccfs/ccc.db"
}

# _cccfs_mount_opts CUR: the -o list: option names after its last comma,
# snapdir's values after snapdir=.
_cccfs_mount_opts() {
	local cur=$1 head tail c cand=()
	head=${cur%"${cur##*,}"}
	tail=${cur##*,}
	case $tail in
	snapdir=*)
		for c in hidden visible; do
			cand+=("${head}snapdir=$c")
		done
		;;
	*=*) ;;
	*)
		for c in max_record= commit_interval= spin= snapdir= \
		         snapshot_every= keep= history_keep= nonempty allow_other; do
			cand+=("$head$c")
		done
		;;
	esac
	_cccfs_add "$cur" 0 "${cand[@]}"
	if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
		compopt -o nospace 2>/dev/null
	fi
}

_cccfs() {
	local words=() w i join=0 cur prev cmd prog n db skip
	local pos=() ops=() arg=0 optend=0

	COMPREPLY=()
	# The words cccfs will see: bash splits at = and : (COMP_WORDBREAKS)
	# and keeps those as words of their own; join them back.  n: the
	# words up to the one being completed, the rest follow.
	for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		if ((i > 1 && i != COMP_CWORD + 1)) && [[ $w =~ ^[=:]+$ ]]
		then
			words[${#words[@]}-1]+=$w
			join=1
		elif ((join && i != COMP_CWORD + 1)); then
			words[${#words[@]}-1]+=$w
			join=0
		else
			words+=("$w")
			join=0
		fi
		((i == COMP_CWORD)) && n=${#words[@]}
	done
	if [ -z "${n:-}" ]; then
		words+=("")
		n=${#words[@]}
	fi
	cur=${words[n-1]}
	prev=""
	((n > 2)) && prev=${words[n-2]}
	prog=${words[0]}
	cmd=${words[1]-}

	if ((n == 2)); then
		if [[ $cur == -* ]]; then
			_cccfs_add "$cur" 0 --help --version
		else
			_cccfs_add "$cur" 0 mount umount init check stat \
				snapshot log diff restore label refs mv prune \
				render ls send receive \
				backup export import
			# no command: `cccfs DB MOUNTPOINT`, mount(8)'s form
			((${#COMPREPLY[@]})) || _cccfs_files "$cur"
		fi
		return 0
	fi

	# the words between the command and the one being completed:
	# positional arguments into pos; arg=1 when the last one wants a
	# value (-o, --snapshot, render's -v and --label)
	for w in "${words[@]:2:n-3}"; do
		if ((arg)); then
			arg=0
		elif ((optend)) || [[ $w != -?* ]]; then
			pos+=("$w")
		elif [ "$w" = -- ]; then
			optend=1
		elif [ "$cmd" = mount ] && [[ $w =~ ^-[fd]*o$ ]]; then
			arg=1
		elif [ "$w" = --snapshot ]; then
			arg=1
		elif [ "$cmd:$w" = restore:--version ] ||
		     [ "$cmd:$w" = label:--version ] ||
		     [ "$cmd:$w" = log:-n ] ||
		     [ "$cmd:$w" = prune:--keep ] ||
		     [ "$cmd:$w" = render:-v ] ||
		     [ "$cmd:$w" = render:--label ] ||
		     [ "$cmd:$w" = send:--from ] || [ "$cmd:$w" = send:-o ] ||
		     [ "$cmd:$w" = receive:-i ]; then
			arg=1
		fi
	done
	# the store of backup and export, whose operands may also follow the
	# cursor: the first of two, else the default store; a lone operand
	# that is a file is taken for a store still to be followed by DEST
	ops=(${pos[@]+"${pos[@]}"})
	skip=0
	for w in "${words[@]:n}"; do
		if ((skip)); then
			skip=0
		elif [ "$w" = --snapshot ]; then
			skip=1
		elif [[ $w != -?* ]]; then
			ops+=("$w")
		fi
	done
	_cccfs_default db
	if ((${#ops[@]} >= 2)); then
		db=${ops[0]}
	elif ((${#ops[@]} == 1)); then
		_cccfs_path w "${ops[0]}"
		[ -f "$w" ] && db=${ops[0]}
	fi
	if ((arg)); then
		case $prev in
		--snapshot | --from) _cccfs_names "$prog" "$db" "$cur" ;;
		--version | -n | --keep | -v | --label) ;;
		-i) _cccfs_files "$cur" ;;
		-o) [ "$cmd" = send ] && _cccfs_files "$cur" ||
			_cccfs_mount_opts "$cur" ;;
		*) _cccfs_mount_opts "$cur" ;;
		esac
		return 0
	fi
	case $cmd in
	backup | export)
		if [[ $cur == --snapshot=* ]] && ((!optend)); then
			COMPREPLY=()
			_cccfs_names "$prog" "$db" "${cur#--snapshot=}"
			# readline keeps "--snapshot=" (= breaks words)
			if [[ ${COMP_WORDBREAKS-} != *=* ]]; then
				COMPREPLY=("${COMPREPLY[@]/#/--snapshot=}")
			fi
			return 0
		fi
		;;
	esac
	if [[ $cur == -* ]] && ((!optend)); then
		case $cmd in
		mount) _cccfs_add "$cur" 0 -f -d -o --help ;;
		check) ((${#pos[@]} == 0)) &&
			_cccfs_add "$cur" 0 -v --refs --help ;;
		backup | export) _cccfs_add "$cur" 0 --snapshot --help ;;
		import) _cccfs_add "$cur" 0 --skip-invalid --help ;;
		log) _cccfs_add "$cur" 0 -n --help ;;
		restore) _cccfs_add "$cur" 0 --version --snapshot --help ;;
		diff) _cccfs_add "$cur" 0 --patch --yaml --help ;;
		label) _cccfs_add "$cur" 0 --version --help ;;
		prune) _cccfs_add "$cur" 0 --keep --help ;;
		render) _cccfs_add "$cur" 0 -v --label --help ;;
		ls) _cccfs_add "$cur" 0 --deleted --help ;;
		send) _cccfs_add "$cur" 0 --from -o --help ;;
		receive) _cccfs_add "$cur" 0 -i --force --help ;;
		*) _cccfs_add "$cur" 0 --help ;;
		esac
		return 0
	fi
	# DB may be left out: the first operand is a store or what follows
	# it (a mount point, DEST, DIR), so files and folders both; for
	# snapshot, an action word there means the default store
	case $cmd:${#pos[@]} in
	mount:0 | init:0 | check:0 | stat:0 | backup:[01] | export:0 | \
	import:0 | diff:0 | prune:0)
		_cccfs_files "$cur" ;;
	log:[01] | restore:[01])
		_cccfs_paths "$prog" ${#pos[@]} "$cur" --deleted ;;
	refs:[01] | render:[01] | mv:[012])
		_cccfs_paths "$prog" ${#pos[@]} "$cur" ;;
	ls:[01])
		# DIR: the store's folders (at the first operand, DB's files too)
		_cccfs_default db
		((${#pos[@]})) && _cccfs_path db "${pos[0]}"
		((${#pos[@]})) || _cccfs_files "$cur"
		w=${#COMPREPLY[@]}
		_cccfs_store "$prog" "$db" "$cur" $((${#pos[@]} > 0))
		for ((i = ${#COMPREPLY[@]} - 1; i >= w; i--)); do
			[[ ${COMPREPLY[i]} == */ ]] || unset "COMPREPLY[i]"
		done
		COMPREPLY=(${COMPREPLY[@]+"${COMPREPLY[@]}"})
		;;
	label:*)
		# [DB] set NAME PATH | rm NAME [PATH] | list [NAME]
		w=1
		_cccfs_default db
		case ${pos[0]-} in
		set | rm | list) w=0 ;;
		*) ((${#pos[@]})) && db=${pos[0]} ;;
		esac
		case $((${#pos[@]} - w)):${pos[w]-} in
		-1:* | 0:*)
			_cccfs_add "$cur" 0 set rm list
			((${#pos[@]} == 0)) && _cccfs_files "$cur" ;;
		2:set | 2:rm)
			_cccfs_store "$prog" "$db" "$cur" 1 ;;
		esac
		;;
	diff:[12])
		_cccfs_add "$cur" 0 live
		_cccfs_names "$prog" "${pos[0]}" "$cur" ;;
	mount:1 | umount:0 | export:1 | import:1)
		_cccfs_files "$cur" -d ;;
	snapshot:0)
		_cccfs_add "$cur" 0 create list delete restore
		_cccfs_files "$cur" ;;
	snapshot:1)
		case ${pos[0]} in
		delete | restore)
			_cccfs_default db
			_cccfs_names "$prog" "$db" "$cur" ;;
		create | list) ;;
		*) _cccfs_add "$cur" 0 create list delete restore ;;
		esac
		;;
	snapshot:2)
		case ${pos[0]}:${pos[1]} in
		create:* | list:* | delete:* | restore:*) ;;
		*:delete | *:restore) _cccfs_names "$prog" "${pos[0]}" "$cur" ;;
		esac
		;;
	mount:* | umount:* | init:* | check:* | stat:* | snapshot:* | \
	backup:* | export:* | import:* | log:* | restore:* | diff:* | \
	refs:* | mv:* | prune:* | render:* | ls:*) ;;
	send:0)
		_cccfs_files "$cur"
		_cccfs_default db
		_cccfs_names "$prog" "$db" "$cur" ;;
	send:1)
		_cccfs_names "$prog" "${pos[0]}" "$cur" ;;
	receive:0) _cccfs_files "$cur" ;;
	*:0)
		_cccfs_files "$cur" -d ;;
	esac
	return 0
}

complete -F _cccfs cccfs
