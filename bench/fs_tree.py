#!/usr/bin/env python3
"""fs_tree.py - the record tree of the filesystem benchmark (scripts/bench-fs).

    fs_tree.py OUTDIR [--files N]

Writes N records (default 10,000) under OUTDIR/tree/{workflows,agents,prompts}
and prints one line of facts the benchmark checks its phases against:

    files=N bytes=B dirs=D grep_word=W grep_files=G find_name=P find_files=F

and the relative path of every record, one a line, in OUTDIR/files.txt.

The tree.  Records are 40% workflows, 30% agents and 30% prompts, spread
over 8 folders per kind with 5 subfolders each (147 folders in all,
about 70 records in each).  Every record is a YAML mapping that cccfs
accepts: name, description and status are strings; steps, tags, agents and
prompts are sequences; prompts declare their variables and carry a literal
block for their template that uses each of them, as cccfs's save check asks.
Sizes are spread evenly over 300..2,000 bytes.  One record in a hundred has
the word W in its description, exactly once, and no other record has it; one
in a hundred has a name matching P.  One record in twenty ends in .yml.

Everything comes from a splitmix64 sequence indexed by record number, so
the same N gives the same tree, byte for byte, on every machine and Python
version.
"""
import fnmatch
import os
import sys

MIN_SIZE = 300
MAX_SIZE = 2000
GREP_WORD = "quetzal"
FIND_NAME = "*42.yaml"

KINDS = (("workflows", 40), ("agents", 30), ("prompts", 30))
FOLDERS = ("platform", "payments", "search", "mobile", "data", "infra",
           "research", "support")
SUBFOLDERS = ("", "daily", "release", "oncall", "drafts", "archive")

VERBS = ("build", "deploy", "review", "triage", "summarize", "migrate",
         "audit", "publish", "refactor", "index", "label", "draft",
         "verify", "rollback", "schedule", "rotate")
NOUNS = ("pipeline", "service", "changelog", "schema", "dataset", "ticket",
         "release", "report", "cluster", "branch", "invoice", "bucket",
         "notebook", "feature", "incident", "backlog")
WORDS = ("the", "a", "every", "new", "nightly", "failing", "open", "large",
         "stale", "shared", "customer", "internal", "weekly", "pending",
         "tests", "logs", "images", "metrics", "alerts", "queries", "owners",
         "checks", "and", "then", "before", "after", "with", "for", "from",
         "into", "against", "each", "only", "when", "until", "merged",
         "tagged", "green", "quickly", "carefully", "again", "labels",
         "comments", "commits", "runners", "tables", "rows", "shards")
STATUSES = ("active", "draft", "paused", "deprecated")
OWNERS = ("ana", "bo", "chen", "dana", "eli", "fatima", "goran", "hana")
MODELS = ("large-2025", "small-fast", "code-expert", "local-8b")
TOOLS = ("shell", "git", "http", "sql", "search", "editor", "tracker")
TAGS = ("ci", "release", "infra", "docs", "security", "cost", "oncall",
        "quality", "data", "ux", "perf", "compliance", "ml", "backend")

MASK = (1 << 64) - 1


class Rng:
    """splitmix64: small, fast enough, and the same everywhere."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def sentence(self, lo, hi):
        n = lo + self.below(hi - lo + 1)
        words = [self.pick(WORDS) for _ in range(n)]
        return " ".join(words).capitalize() + "."


def kind_of(i):
    """Kinds in runs of ten, so every folder gets every kind's mix."""
    r = i % 10
    return 0 if r < 4 else 1 if r < 7 else 2


def record_path(i, rng):
    kind = KINDS[kind_of(i)][0]
    folder = FOLDERS[rng.below(len(FOLDERS))]
    sub = SUBFOLDERS[rng.below(len(SUBFOLDERS))]
    ext = ".yml" if i % 20 == 7 else ".yaml"
    name = "%s-%s-%05d" % (rng.pick(VERBS), rng.pick(NOUNS), i)
    parts = [kind, folder] + ([sub] if sub else []) + [name + ext]
    return "/".join(parts), name


def step_lines(rng, k):
    lines = ["  - name: %s-%s-%d" % (rng.pick(VERBS), rng.pick(NOUNS), k),
             "    run: %s" % rng.sentence(4, 9).rstrip(".").lower()]
    if rng.below(2):
        lines.append("    timeout: %d" % (30 * (1 + rng.below(40))))
    if rng.below(3) == 0:
        lines.append("    retries: %d" % rng.below(4))
    return lines


def head_lines(i, kind, name, rng):
    desc = rng.sentence(6, 14)
    if i % 100 == 42:
        desc = desc[:-1] + " for the %s rollout." % GREP_WORD
    lines = ["# %s: %s" % (kind[:-1], name),
             "name: %s" % name,
             "description: %s" % desc,
             "status: %s" % rng.pick(STATUSES),
             "owner: %s" % rng.pick(OWNERS),
             "version: %d" % (1 + rng.below(30))]
    if kind == "workflows":
        lines += ["schedule: \"%d %d * * %d\"" %
                  (rng.below(60), rng.below(24), rng.below(7)),
                  "agents:"]
        lines += ["  - %s-%05d" % (rng.pick(NOUNS), rng.below(10000))
                  for _ in range(1 + rng.below(3))]
    elif kind == "agents":
        lines += ["model: %s" % rng.pick(MODELS),
                  "temperature: 0.%d" % rng.below(10),
                  "tools:"]
        lines += ["  - %s" % rng.pick(TOOLS) for _ in range(1 + rng.below(3))]
        lines += ["prompts:"]
        lines += ["  - prompts/%s/%s-%05d.yaml" %
                  (rng.pick(FOLDERS), rng.pick(VERBS), rng.below(10000))
                  for _ in range(1 + rng.below(2))]
    else:
        names = [rng.pick(NOUNS) for _ in range(1 + rng.below(3))]
        names = sorted(set(names), key=names.index)
        lines += ["variables:"]
        lines += ["  - name: %s" % v for v in names]
        lines += ["template: |"]
        lines += ["  %s" % rng.sentence(5, 11)
                  for _ in range(2 + rng.below(3))]
        lines += ["  %s" % " ".join("{{%s}}" % v for v in names)]
    return lines


def record_text(i, kind, name, rng):
    target = MIN_SIZE + rng.below(MAX_SIZE - MIN_SIZE + 1)
    lines = head_lines(i, kind, name, rng)
    size = sum(len(s) + 1 for s in lines)
    steps = ["steps:"]
    size += len("steps:\n")
    tags_size = len("tags:\n")
    k = 1
    while True:
        more = step_lines(rng, k)
        more_size = sum(len(s) + 1 for s in more)
        if size + more_size + tags_size + 24 > target:
            break
        steps += more
        size += more_size
        k += 1
    if len(steps) == 1:
        steps = ["steps: []"]
    tags = ["tags:"]
    size += tags_size
    while True:
        tag = "  - %s" % rng.pick(TAGS)
        if len(tags) > 1 and size >= MIN_SIZE and \
                size + len(tag) + 1 > target:
            break
        tags.append(tag)
        size += len(tag) + 1
    text = "\n".join(lines + steps + tags) + "\n"
    return text


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    out = argv[1]
    files = 10000
    if len(argv) == 4 and argv[2] == "--files":
        files = int(argv[3])
    root = os.path.join(out, "tree")
    total = 0
    dirs = set()
    grep_files = find_files = 0
    paths = []
    for i in range(files):
        rng = Rng(0x6363636673 + i * 0x1000193)
        kind = KINDS[kind_of(i)][0]
        rel, name = record_path(i, rng)
        text = record_text(i, kind, name, rng).encode()
        if not MIN_SIZE <= len(text) <= MAX_SIZE:
            print("fs_tree.py: record %d has %d bytes" % (i, len(text)),
                  file=sys.stderr)
            return 1
        path = os.path.join(root, rel)
        parent = os.path.dirname(path)
        if parent not in dirs:
            os.makedirs(parent, exist_ok=True)
            d = os.path.dirname(rel)
            while d:
                dirs.add(os.path.join(root, d))
                d = os.path.dirname(d)
        with open(path, "wb") as f:
            f.write(text)
        total += len(text)
        grep_files += GREP_WORD.encode() in text
        find_files += fnmatch.fnmatchcase(os.path.basename(rel), FIND_NAME)
        paths.append(rel)
    with open(os.path.join(out, "files.txt"), "w") as f:
        f.write("\n".join(paths) + "\n")
    print("files=%d bytes=%d dirs=%d grep_word=%s grep_files=%d "
          "find_name=%s find_files=%d" % (files, total, len(dirs), GREP_WORD,
                                          grep_files, FIND_NAME, find_files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
