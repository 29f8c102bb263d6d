#!/usr/bin/env bash
# Templates with declared variables: a prompt with variables: is refused
# (EINVAL, the old content kept, user.cccfs.error with line and column)
# for an undeclared or unused variable, a repeated declaration, an
# unsupported tag or an include of a prompt that does not exist, by a
# plain save and by a rename save; a prompt without variables: is never
# checked.  cccfs render with -v, defaults, a missing required variable
# and --label; .rendered shows every prompt rendered, follows the live
# tree and is read-only; cccfs check reports a prompt an include's
# deletion left refusable.
. "$(dirname "$0")/lib.sh"
need getfattr
need setfattr
need python3
mount_setup
mount_fs -o commit_interval=0,snapshot_every=0
P=$M/prompts
R=$M/.rendered

# save PATH CONTENT: write CONTENT as one open, write, close; prints OK or
# the errno's name
save() {
	python3 - "$1" "$2" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, sys.argv[2].encode())
    os.close(fd)
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

# refused PATH CONTENT REASON: the save fails with EINVAL, PATH keeps its
# content and user.cccfs.error is REASON
refused() {
	local before
	before=$(cat "$1")
	check_eq "$(save "$1" "$2")" EINVAL "save of $(basename "$1") ($3)"
	check_file "$1" "$before"
	check_eq "$(getfattr --absolute-names --only-values -n user.cccfs.error "$1")" "$3" "user.cccfs.error"
}

BASE=$(printf 'name: base\ntemplate: |\n  You are a careful reviewer.\n')
REVIEW=$(printf '%s\n' 'name: review' 'template: |' '  {{> coding/base}}' \
	'  Review the {{lang}} diff for {{ audience }}.' 'variables:' \
	'  - name: lang' '    default: rust' '  - name: audience' \
	'    description: who reads the review')

note "prompts with variables: and an include save"
mkdir -p "$P/coding" || fail mkdir
check_eq "$(save "$P/coding/base.yaml" "$BASE")" OK "save of the base"
check_eq "$(save "$P/review.yaml" "$REVIEW")" OK "save of the review"
check_file "$P/review.yaml" "$REVIEW"

note "refused saves keep the old content and say where"
refused "$P/review.yaml" "${REVIEW/\{\{ audience \}\}/{{ who \}\}}" \
	"line 4, column 32: variable 'who' is not declared"
refused "$P/review.yaml" "$REVIEW$(printf '\n  - name: extra')" \
	"line 10, column 11: variable 'extra' is declared but never used"
refused "$P/review.yaml" "$REVIEW$(printf '\n  - name: lang')" \
	"line 10, column 11: variable 'lang' is declared twice (first at line 6)"
refused "$P/review.yaml" "${REVIEW/for/{{#list\}\} for}" \
	"line 4, column 28: unsupported tag '{{#' (a template has {{name}} and {{> path}} only)"
refused "$P/review.yaml" "${REVIEW/coding\/base/coding/nowhere}" \
	"line 3, column 3: prompt 'coding/nowhere' does not exist"
refused "$P/review.yaml" "${REVIEW/audience \}\}./audience.}" \
	"line 4, column 32: '{{' is not closed on its line"

note "a rename save (sed -i) is refused the same way"
sed -i 's/{{ audience }}/{{ reader }}/' "$P/review.yaml" 2>/dev/null &&
	fail "sed -i with an undeclared variable succeeded"
check_file "$P/review.yaml" "$REVIEW"
check_eq "$(getfattr --absolute-names --only-values -n user.cccfs.error "$P/review.yaml")" \
	"line 4, column 32: variable 'reader' is not declared" "user.cccfs.error after sed -i"

note "a vim save is refused the same way, and vim says so"
need vim
(cd "$P" && vim -es -i NONE -u NONE \
	--cmd 'set nocompatible backupcopy=yes nobackup nowritebackup' \
	-c '%s/{{ audience }}/{{ viewer }}/' -c wq review.yaml </dev/null) \
	>"$T/vim.out" 2>&1 && fail "vim saved a template with an undeclared variable"
check_file "$P/review.yaml" "$REVIEW"
check_eq "$(getfattr --absolute-names --only-values -n user.cccfs.error "$P/review.yaml")" \
	"line 4, column 32: variable 'viewer' is not declared" "user.cccfs.error after vim"

note "a prompt without variables: is never checked"
NOTES=$(printf 'name: notes\ntemplate: "{{undeclared}} {{#x}} {{> nowhere}} {{"\n')
check_eq "$(save "$P/notes.yaml" "$NOTES")" OK "save of a prompt without variables:"
check_file "$P/notes.yaml" "$NOTES"
echo "side file" > "$P/side.txt" || fail "side file"

note "cccfs render: defaults, -v, a missing required variable"
"$CCCFS" render --help >"$T/out" || fail "render --help"
grep -q "^usage: cccfs render" "$T/out" && grep -q "^example" "$T/out" ||
	fail "render --help: $(cat "$T/out")"
want=$(printf 'You are a careful reviewer.\nReview the rust diff for maintainers.')
check_eq "$("$CCCFS" render "$DB" prompts/review.yaml -v audience=maintainers)" "$want" "render with -v"
check_eq "$("$CCCFS" render "$DB" /prompts/review.yaml -v lang=go -v audience=you -v audience=me | tail -n 1)" \
	"Review the go diff for me." "render, the last -v wins"
"$CCCFS" render "$DB" prompts/review.yaml >"$T/out" 2>"$T/err"
check_eq $? 1 "render without a required variable: exit code"
check_eq "$(cat "$T/err")" "cccfs: prompts/review.yaml: line 4, column 32: variable 'audience' has no value (no default, and none given)" "render's message"
[ -s "$T/out" ] && fail "render printed something on an error: $(cat "$T/out")"
"$CCCFS" render "$DB" prompts/review.yaml -v audience=x -v nope=1 2>"$T/err"
check_eq $? 1 "render with an undeclared -v: exit code"
check_eq "$(cat "$T/err")" "cccfs: prompts/review.yaml: variable 'nope' is not declared (by 'review' or a prompt it includes)" "undeclared -v"
"$CCCFS" render "$DB" prompts/review.yaml -v =x 2>/dev/null
check_eq $? 2 "render with -v =x: exit code"
"$CCCFS" render "$DB" agents/review.yaml 2>/dev/null
check_eq $? 2 "render of a record that is no prompt: exit code"
"$CCCFS" render "$DB" prompts/none.yaml 2>"$T/err"
check_eq $? 1 "render of a missing prompt: exit code"
check_eq "$(cat "$T/err")" "cccfs: prompts/none.yaml: no such prompt" "render of a missing prompt"
check_eq "$("$CCCFS" render "$DB" prompts/notes.yaml -v undeclared=U 2>&1)" \
	"cccfs: prompts/notes.yaml: line 2, column 34: prompt 'nowhere' does not exist" "render of an include of nothing"

note "cccfs render --label: the pinned versions, live where none is pinned"
"$CCCFS" label "$DB" set production prompts/review.yaml >/dev/null || fail "label set"
"$CCCFS" label "$DB" set production prompts/coding/base.yaml >/dev/null || fail "label set"
"$CCCFS" label "$DB" set partial prompts/review.yaml >/dev/null || fail "label set"
check_eq "$(save "$P/coding/base.yaml" "${BASE/careful/strict}")" OK "base changed"
check_eq "$(save "$P/review.yaml" "${REVIEW/Review the/Now review the}")" OK "review changed"
check_eq "$("$CCCFS" render "$DB" prompts/review.yaml --label production -v audience=A)" \
	"$(printf 'You are a careful reviewer.\nReview the rust diff for A.')" "render --label production"
check_eq "$("$CCCFS" render "$DB" prompts/review.yaml --label partial -v audience=A)" \
	"$(printf 'You are a strict reviewer.\nReview the rust diff for A.')" "render --label partial"
check_eq "$("$CCCFS" render "$DB" prompts/review.yaml -v audience=A)" \
	"$(printf 'You are a strict reviewer.\nNow review the rust diff for A.')" "render of the live tree"
"$CCCFS" render "$DB" prompts/notes.yaml --label partial 2>"$T/err"
check_eq $? 1 "render --label of a prompt it does not pin: exit code"
check_eq "$(cat "$T/err")" "cccfs: prompts/notes.yaml: label 'partial' does not pin it" "render --label's message"

note ".rendered: every prompt rendered with its defaults, as the tree is now"
check_file "$R/review.yaml" "$(printf 'You are a strict reviewer.\nNow review the rust diff for {{audience}}.')"
check_file "$R/coding/base.yaml" "You are a strict reviewer."
check_file "$R/notes.yaml" "{{undeclared}} {{#x}} {{> nowhere}} {{"
check_eq "$(ls "$R" | tr '\n' ' ')" "coding notes.yaml review.yaml " "ls .rendered"
check_eq "$(stat -c %s "$R/review.yaml")" "$(cat "$R/review.yaml" | wc -c)" "size of a rendered file"
check_eq "$(save "$P/coding/base.yaml" "${BASE/careful/patient}")" OK "base changed again"
check_file "$R/review.yaml" "$(printf 'You are a patient reviewer.\nNow review the rust diff for {{audience}}.')"
check_eq "$(stat -c %s "$R/review.yaml")" "$(cat "$R/review.yaml" | wc -c)" "size after the include changed"
ls -a "$M" | grep -q rendered && fail ".rendered listed in the root without snapdir=visible"
grep -rl 'patient' "$M/prompts" >/dev/null || fail "grep -r of prompts"

note ".rendered is read-only"
cd "$R" || fail "cd .rendered"
for op in "echo x > review.yaml" "echo x > new.yaml" "mkdir d" "rm review.yaml" \
	"rmdir coding" "mv review.yaml r2.yaml" "touch review.yaml" "chmod 600 review.yaml" \
	"setfattr -n user.x -v 1 review.yaml"; do
	out=$(eval "$op" 2>&1) && fail "'$op' in .rendered succeeded"
	case $out in *"Read-only file system"*) ;; *) fail "'$op' in .rendered: $out" ;; esac
done
cd / || fail cd

note "deleting an include: the view keeps the tag, check reports the prompt"
rm "$P/coding/base.yaml" || fail "rm base"
check_file "$R/review.yaml" "$(printf '{{> coding/base}}\nNow review the rust diff for {{audience}}.')"
"$CCCFS" render "$DB" prompts/review.yaml -v audience=A 2>"$T/err"
check_eq $? 1 "render with a deleted include: exit code"
check_eq "$(cat "$T/err")" "cccfs: prompts/review.yaml: line 3, column 3: prompt 'coding/base' does not exist" "render with a deleted include"
"$CCCFS" check "$DB" >"$T/out"
check_eq $? 3 "check with a prompt left refusable: exit code"
grep -qx "/prompts/review.yaml: would be refused now: line 3, column 3: prompt 'coding/base' does not exist" "$T/out" ||
	fail "check's report: $(cat "$T/out")"
check_eq "$(save "$P/coding/base.yaml" "$BASE")" OK "base back"
"$CCCFS" check "$DB" >"$T/out" || fail "check after the include came back: $(cat "$T/out")"

note "snapdir=visible lists .rendered"
umount_fs
mount_fs -o snapdir=visible,snapshot_every=0
ls -a "$M" | grep -qx .rendered || fail ".rendered not listed with snapdir=visible: $(ls -a "$M")"
check_file "$R/coding/base.yaml" "You are a careful reviewer."
umount_fs
