#!/usr/bin/env bash
# References between records: the index follows saves, renames, deletes
# and a restore, kept in the same commit; cccfs refs lists both ways;
# cccfs check --refs reports every dangling reference with its line and
# column and exits 3; a save is never refused for one.
. "$(dirname "$0")/lib.sh"
mount_setup
mount_fs -o commit_interval=0,snapshot_every=0

printf 'name: release\nagents: [reviewer, ghost]\nprompts: [coding/review]\nsteps:\n  - do: x\n    agent: reviewer\n    prompt: "coding/missing"\n  - agent: [a, b]\n' \
	> "$M/workflows/release.yaml" || fail "a save with dangling references was refused"
echo "name: reviewer" > "$M/agents/reviewer.yaml"
mkdir -p "$M/prompts/coding"
echo "name: review" > "$M/prompts/coding/review.yaml"
printf 'name: r\nprompts: [coding/review]\n' > "$M/agents/r2.yml"

note "cccfs refs: both ways, with lines, columns and what is missing"
"$CCCFS" refs "$DB" workflows/release.yaml > "$T/out" || fail "cccfs refs"
check_eq "$(cat "$T/out")" "$(printf -- '->\tagents/reviewer.yaml\tline 2, column 10\n->\tagents/ghost.yaml\tline 2, column 20\t(does not exist)\n->\tprompts/coding/review.yaml\tline 3, column 11\n->\tagents/reviewer.yaml\tline 6, column 12\n->\tprompts/coding/missing.yaml\tline 7, column 13\t(does not exist)')" "refs of the workflow"
check_eq "$("$CCCFS" refs "$DB" prompts/coding/review.yaml)" "$(printf '<-\tagents/r2.yml\t1 reference\n<-\tworkflows/release.yaml\t1 reference')" "refs to the prompt"

note "user.cccfs.warning says why, the save stands"
need getfattr
check_eq "$(getfattr --absolute-names --only-values -n user.cccfs.warning "$M/workflows/release.yaml")" "line 2, column 20: agent 'ghost' does not exist; line 7, column 13: prompt 'coding/missing' does not exist" "user.cccfs.warning"
getfattr -n user.cccfs.warning "$M/agents/reviewer.yaml" 2>/dev/null && fail "a warning on a record without dangling references"

note "check --refs lists the dangling ones and exits 3"
"$CCCFS" check --refs "$DB" > "$T/out"
check_eq $? 3 "check --refs exit code"
check_eq "$(head -2 "$T/out")" "$(printf "workflows/release.yaml: line 2, column 20: agent 'ghost' does not exist\nworkflows/release.yaml: line 7, column 13: prompt 'coding/missing' does not exist")" "check --refs report"
echo "name: ghost" > "$M/agents/ghost.yaml"
mkdir -p "$M/prompts/coding" && echo "name: m" > "$M/prompts/coding/missing.yaml"
"$CCCFS" check --refs "$DB" > "$T/out" || fail "check --refs after the targets exist: $(cat "$T/out")"

note "the index follows renames, saves and deletes"
mv "$M/workflows/release.yaml" "$M/workflows/ship.yaml"
check_eq "$("$CCCFS" refs "$DB" agents/reviewer.yaml)" "$(printf '<-\tworkflows/ship.yaml\t2 references')" "refs after the source moved"
mv "$M/agents/reviewer.yaml" "$M/agents/critic.yaml"
"$CCCFS" check --refs "$DB" > "$T/out"
check_eq $? 3 "check --refs after a target moved"
grep -q "agent 'reviewer' does not exist" "$T/out" || fail "the moved target is not reported: $(cat "$T/out")"
sed -i 's/reviewer/critic/g' "$M/workflows/ship.yaml"
check_eq "$("$CCCFS" refs "$DB" agents/critic.yaml)" "$(printf '<-\tworkflows/ship.yaml\t2 references')" "refs after sed -i"
check_eq "$("$CCCFS" refs "$DB" agents/reviewer.yaml)" "(no record at agents/reviewer.yaml)" "refs to the old name"
rm "$M/workflows/ship.yaml"
check_eq "$("$CCCFS" refs "$DB" agents/critic.yaml)" "" "refs after the source is deleted"

note "cccfs mv renames and rewrites every reference in one commit"
printf 'name: w\nagents: [critic, "critic"]  # both\nsteps:\n  - agent: '"'"'critic'"'"'\n    prompt: coding/review\n' > "$M/workflows/w.yaml"
mkdir -p "$M/prompts/new"
before=$(ls "$M/.history/workflows/w.yaml" | wc -l)
"$CCCFS" mv "$DB" agents/critic.yaml agents/judge.yaml > "$T/out" || fail "cccfs mv: $(cat "$T/out")"
check_eq "$(cat "$T/out")" "renamed agents/critic.yaml -> agents/judge.yaml; rewrote 3 references in 1 record" "mv's report"
"$CCCFS" mv "$DB" prompts/coding/review.yaml "prompts/new/re view.yaml" >/dev/null || fail "cccfs mv of a prompt"
for i in $(seq 1 30); do
	grep -q judge "$M/workflows/w.yaml" && break
	sleep 0.1
done
check_file "$M/workflows/w.yaml" "$(printf 'name: w\nagents: [judge, "judge"]  # both\nsteps:\n  - agent: '"'"'judge'"'"'\n    prompt: "new/re view"')"
check_eq "$(ls "$M/.history/workflows/w.yaml" | wc -l)" $((before + 2)) "one version of the referring record per mv"
[ -e "$M/agents/judge.yaml" ] && [ ! -e "$M/agents/critic.yaml" ] || fail "mv did not rename"
ls "$M/.history/agents" | grep -qx judge.yaml || fail "the renamed record's history did not follow"
"$CCCFS" check --refs "$DB" > "$T/out" || fail "check --refs after mv: $(cat "$T/out")"
"$CCCFS" mv "$DB" agents/judge.yaml prompts/judge.yaml > "$T/out" || fail "mv across kinds"
grep -q 'could not follow it' "$T/out" || fail "mv across kinds did not say the references dangle"
"$CCCFS" check --refs "$DB" > "$T/out"
check_eq $? 3 "check --refs after a move across kinds"
"$CCCFS" mv "$DB" agents/none.yaml agents/x.yaml 2>"$T/err" && fail "mv of a missing record"
grep -q 'no record agents/none.yaml' "$T/err" || fail "mv's message: $(cat "$T/err")"
"$CCCFS" mv "$DB" prompts/judge.yaml workflows/w.yaml 2>"$T/err" && fail "mv onto a record"
grep -q 'workflows/w.yaml exists' "$T/err" || fail "mv's message: $(cat "$T/err")"
"$CCCFS" check "$DB" >/dev/null || fail "cccfs check"
umount_fs
