import os, sys, time, collections
pid = sys.argv[1]; dur = float(sys.argv[2]); out = open(sys.argv[3], 'w')
end = time.time() + dur
names = {}
counts = collections.Counter()
prev = {}
while time.time() < end:
    t = time.time()
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            st = open(f'/proc/{pid}/task/{tid}/stat').read()
            state = st[st.rindex(')')+2]
            if tid not in names: names[tid] = open(f'/proc/{pid}/task/{tid}/comm').read().strip()
            w = ''
            if state != 'R':
                w = open(f'/proc/{pid}/task/{tid}/wchan').read().strip()
            key = (names[tid], state, w)
            counts[key] += 1
            if names[tid] == 'http-0' and (state, w) != prev.get(tid):
                out.write(f'{t:.3f} {names[tid]} {state} {w}\n')
                prev[tid] = (state, w)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    time.sleep(0.004)
for k, v in counts.most_common(40): out.write(f'# {v} {k}\n')
