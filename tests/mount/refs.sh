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
"$CCCFS" check "$DB" >/dev/null || fail "cccfs check"
umount_fs
