# Classes of perf.txt. Usage: perf script -i perf.data -F tid,ip,sym > /tmp/perf2.txt; python3 perf-classes.py
import re, collections
samples = []; cur = []
for line in open('/tmp/perf2.txt'):
    line = line.rstrip('\n')
    if not line.startswith((' ', '\t')):
        if cur: samples.append(cur)
        cur = []
        continue
    parts = line.strip().split(None, 1)
    sym = parts[1] if len(parts) > 1 else '?'
    cur.append(re.sub(r'\+0x[0-9a-f]+$', '', sym))
if cur: samples.append(cur)
tot=len(samples)
def has(s, t): return any(t in f for f in s)
cls = collections.Counter()
for s in samples:
    if has(s,'routes::route') or has(s,'resolver::digital_link'): k='route (ours)'
    elif has(s,'sock_write_iter') or has(s, 'writev'): k='writev'
    elif has(s,'recvfrom') or has(s,'sock_recvmsg'): k='recv'
    elif has(s,'poll_read_head') or has(s,'Http1Transaction>::parse'): k='hyper read/parse (not recv)'
    elif has(s,'epoll_wait'): k='epoll'
    elif has(s,'live::scans') or has(s,'flush'): k='flusher etc'
    elif s[0].startswith('[k]') or 'k]' in s[0]: k='other kernel'
    else: k='other:'+ s[0][:50]
    cls[k]+=1
for k,v in cls.most_common(30): print(f'{100*v/tot:6.2f}% {v} {k}')
