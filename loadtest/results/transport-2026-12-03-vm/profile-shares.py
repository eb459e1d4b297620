"""Shares of a server's CPU samples spent on hyper's per-request header
timer, on the select over shutdown and reclaim signals, and on hyper's
header arrays: `perf script -F ip,sym` of a `perf record --call-graph dwarf`
profile (prof.sh), each sample counted once, in the class of the frame
nearest its leaf that matches one."""
import collections
import sys

CLASSES = [
    ("header timer", ["sleep_until", "poll_elapsed", "clear_entry", "Wheel::insert",
                      "TimerEntry", "TokioSleep", "time::Driver::reregister", "::reset"]),
    ("select over signals", ["tokio::sync::notify", "tokio::sync::watch", "thread_rng_n"]),
    ("header arrays", ["from_elem"]),
]


def bare(frame):
    """`frame` without its generic arguments, which name other types."""
    out, depth = [], 0
    for ch in frame:
        depth += ch == "<"
        if depth == 0:
            out.append(ch)
        depth -= ch == ">" and depth > 0
    return "".join(out)


def samples(path):
    stack = []
    for line in open(path):
        line = line.strip()
        if not line:
            if stack:
                yield stack
            stack = []
            continue
        parts = line.split(None, 1)
        stack.append(bare(parts[1]) if len(parts) > 1 else "?")
    if stack:
        yield stack


for path in sys.argv[1:]:
    counts, n = collections.Counter(), 0
    for stack in samples(path):
        n += 1
        for frame in stack:
            hit = [name for name, pats in CLASSES if any(p in frame for p in pats)]
            if hit:
                counts[hit[0]] += 1
                break
    shares = "  ".join(f"{name} {100 * counts[name] / n:.2f} %" for name, _ in CLASSES)
    print(f"{path}: {n} samples  {shares}")
