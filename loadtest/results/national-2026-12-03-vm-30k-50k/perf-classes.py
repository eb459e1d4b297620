# The two tables of perf.txt: the classes of the whole server's samples, then
# the shares within the answer. Usage: perf script -i perf.data -F tid,ip,sym > /tmp/perf2.txt; python3 perf-classes.py
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

print()
order = [('repeats','repeats::Repeats'),('scans count','live::scans'),('index item','Index<D>::item'),('index product','Index<D>::product'),('index parents/batch','Index<D>::parents'),('coded decode','coded::decode'),('write_batch_json other','write_batch_json'),('render json found','render::json::found'),('parse code','service::parse'),('canonical_path/own_href','canonical_path'),('own_href','own_href'),('choose','choose'),('Levels','Levels'),('lookup_response','lookup_response'),('mark','resolver::mark'),('resolve other','lookup::resolve'),('render other','service::render'),('malloc/free','mi_'),('headers','HeaderMap'),('query','query_param'),('check_head','check_head'),('status_warnings','status_warnings')]
cls=collections.Counter()
for s in samples:
    if not (has(s,'routes::route') or has(s,'resolver::digital_link')): continue
    for name,t in order:
        if has(s,t): cls[name]+=1; break
    else: cls['other: '+s[0][:60]]+=1
for k,v in cls.most_common(40): print(f'{100*v/tot:6.2f}% {k}')
