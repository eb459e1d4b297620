# The longest stretches of each state of the worker thread (http-0) in the
# logs thread-states.py writes: python3 state-runs.py t1.states t2.states t3.states
import collections, sys
for path in sys.argv[1:]:
    rows = [l.split() for l in open(path) if not l.startswith('#')]
    rows = [(float(r[0]), r[2], r[3] if len(r) > 3 else '') for r in rows if len(r) >= 3]
    durs = collections.defaultdict(list)
    for (t, s, w), (t2, _, _) in zip(rows, rows[1:]):
        durs[(s, w)].append((t2 - t, t))
    print(f'{path}: {len(rows)} transitions')
    for k, v in sorted(durs.items(), key=lambda kv: -max(d for d, _ in kv[1])):
        v.sort(reverse=True)
        print('  ', k, 'n=', len(v), 'longest:', ', '.join(f'{d*1000:.0f}ms@{t-rows[0][0]:.1f}s' for d, t in v[:4]))
