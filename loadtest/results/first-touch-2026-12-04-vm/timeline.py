"""The worker's samples over time from the first answer: per bucket, how
many, and the share of each class (a sample's class: the first of these its
stack holds). Usage: timeline.py SCRIPT [BUCKET_MS] [BUCKETS]"""
import collections, sys

CLASSES = [
    ("page fault", "asm_exc_page_fault"),
    ("writev", "writev"),
    ("recv", "recvfrom"),
    ("epoll", "epoll_wait"),
    ("repeats", "Repeats::seen_before"),
    ("scans count", "Scans::count"),
    ("index item", "Index<D>::item"),
    ("index product", "Index<D>::product"),
    ("coded decode", "coded::decode"),
    ("parse code", "code::parse"),
    ("route other", "routes::route"),
    ("hyper", "hyper::"),
]

def samples(path):
    head, stack = None, []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line.strip():
            if head: yield head, stack
            head, stack = None, []
        elif head is None:
            tid, t = line.split()[:2]
            head = (int(tid), float(t.rstrip(":")))
        else:
            parts = line.split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "")
    if head: yield head, stack

path = sys.argv[1]
bucket = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.25
nb = int(sys.argv[3]) if len(sys.argv) > 3 else 16
all_ = list(samples(path))
by_tid = collections.Counter(tid for (tid, _), s in all_ if any("routes::route" in f for f in s))
worker = by_tid.most_common(1)[0][0]
start = min(t for (tid, t), s in all_ if tid == worker and any("routes::route" in f for f in s))
rows = collections.defaultdict(collections.Counter)
for (tid, t), s in all_:
    if tid != worker or t < start: continue
    b = int((t - start) / bucket)
    if b >= nb: continue
    joined = "\n".join(s)
    cls = next((c for c, k in CLASSES if k in joined), "other")
    rows[b][cls] += 1
names = [c for c, _ in CLASSES] + ["other"]
print("ms from first answer | samples | " + " | ".join(names))
for b in range(nb):
    r = rows[b]; n = sum(r.values())
    print(f"{int(b*bucket*1000):5d} | {n:5d} | " + " | ".join(f"{100*r[c]/max(n,1):4.1f}" for c in names))
