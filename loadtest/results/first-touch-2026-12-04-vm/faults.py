import collections, sys
sys.path.insert(0, '/work/main/loadtest/results/first-touch-2026-12-04-vm')
exec(open('/work/main/loadtest/results/first-touch-2026-12-04-vm/timeline.py').read().split('path = sys.argv[1]')[0])
all_ = list(samples(sys.argv[1]))
by_tid = collections.Counter(tid for (tid, _), s in all_ if any("routes::route" in f for f in s))
worker = by_tid.most_common(1)[0][0]
start = min(t for (tid, t), s in all_ if tid == worker and any("routes::route" in f for f in s))
pf = collections.Counter(); wv = collections.Counter(); wvleaf = collections.Counter()
lo, hi = float(sys.argv[2]), float(sys.argv[3])
for (tid, t), s in all_:
    if tid != worker or t < start: continue
    joined = "\n".join(s)
    if "asm_exc_page_fault" in joined:
        i = next(i for i, f in enumerate(s) if "asm_exc_page_fault" in f)
        user = [f for f in s[i+1:i+12] if f and 'inlined' not in f][:3]
        pf[" <- ".join(u[:50] for u in user)] += 1
    elif "writev" in joined and lo <= t - start < hi:
        wvleaf[s[0][:60]] += 1
print("page faults by user frames:")
for k, v in pf.most_common(12): print(f"  {v:5d} {k}")
print(f"writev leaf functions {lo}-{hi}s:")
for k, v in wvleaf.most_common(15): print(f"  {v:5d} {k}")
