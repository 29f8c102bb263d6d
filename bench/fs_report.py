#!/usr/bin/env python3
"""fs_report.py - the table of the filesystem benchmark (scripts/bench-fs).

    fs_report.py RAW TARGETS

RAW has one line per timed command: run, target, phase, microseconds,
tab-separated.  TARGETS is the comma-separated list of targets run.  Prints,
per phase in the order first seen, each target's median in milliseconds;
every target but the plain directory also gets its ratio to it, and cccfs
its ratio to fuse-overlayfs in a last column (and to cccfs without history
in another, when that target ran).
"""
import statistics
import sys

NAMES = {"plain": "plain dir", "overlay": "fuse-overlayfs", "cccfs": "cccfs",
         "cccfs-nohist": "cccfs, no history"}


def fmt_ms(us):
    ms = us / 1000.0
    return "%.0f" % ms if ms >= 100 else "%.1f" % ms


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    targets = argv[2].split(",")
    order = ["plain", "overlay", "cccfs", "cccfs-nohist"]
    targets = [t for t in order if t in targets]
    times = {}
    phases = []
    runs = set()
    with open(argv[1]) as f:
        for line in f:
            run, target, phase, us = line.rstrip("\n").split("\t")
            runs.add(run)
            if phase not in phases:
                phases.append(phase)
            times.setdefault((target, phase), []).append(int(us))
    head = "%-18s" % ("phase (ms, median of %d)" % len(runs)
                      if len(runs) > 1 else "phase (ms)")
    head = "%-26s" % head
    for t in targets:
        head += "%20s" % NAMES[t]
    both = "overlay" in targets and "cccfs" in targets
    if both:
        head += "%16s" % "cccfs/overlay"
    hist = "cccfs-nohist" in targets and "cccfs" in targets
    if hist:
        head += "%16s" % "cccfs/nohist"
    print(head)
    if "plain" in targets and len(targets) > 1:
        print("%-26s" % "" + "".join("%20s" % ("" if t == "plain"
                                                else "(x = vs plain)")
                                      for t in targets))
    for phase in phases:
        med = {t: statistics.median(times[(t, phase)])
               for t in targets if (t, phase) in times}
        row = "%-26s" % phase
        for t in targets:
            if t not in med:
                row += "%20s" % "-"
            elif t == "plain" or "plain" not in med:
                row += "%20s" % fmt_ms(med[t])
            else:
                row += "%20s" % ("%s (%.2fx)" %
                                 (fmt_ms(med[t]), med[t] / med["plain"]))
        if both and "overlay" in med and "cccfs" in med:
            row += "%15.2fx" % (med["cccfs"] / med["overlay"])
        if hist and "cccfs-nohist" in med and "cccfs" in med:
            row += "%15.2fx" % (med["cccfs"] / med["cccfs-nohist"])
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
