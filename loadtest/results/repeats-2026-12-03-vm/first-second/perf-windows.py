# The worker's samples in the first 1.25 s of load against 6 s later, by
# what their stacks hold. Recorded with
#   perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -C 0 -o start.data -- sleep 14
# from 8 s after loadgen started (its workload draw), then
#   perf script -i start.data -F comm,tid,time,ip,sym > start.txt; python3 perf-windows.py start.txt
# (the load began 3.5 s into that recording).
import collections, re, sys
samples = []; cur = None
for line in open(sys.argv[1]):
    if not line.startswith((' ', '\t')):
        if line.strip():
            m = re.match(r'\s*(\S.*?)\s+(\d+)\s+([\d.]+):', line)
            cur = [m.group(1), m.group(2), float(m.group(3)), []] if m else None
            if cur: samples.append(cur)
        continue
    if cur is not None:
        parts = line.strip().split(None, 1)
        cur[3].append(re.sub(r'\+0x[0-9a-f]+$', '', parts[1] if len(parts) > 1 else '?'))
t0 = samples[0][2]
order = [('repeats', 'repeats::Repeats'), ('scans count', 'live::scans'), ('index item', 'Index<D>::item'),
         ('index product', 'Index<D>::product'), ('parents', 'Index<D>::parents'), ('coded decode', 'coded::decode'),
         ('render found', 'render::json::found'), ('parse code', 'service::parse'), ('choose', 'choose'),
         ('lookup_response', 'lookup_response'), ('route other', 'routes::route'), ('dl other', 'resolver::digital_link'),
         ('writev', 'sock_write_iter'), ('recv', 'sock_recvmsg'), ('hyper parse', 'poll_read_head'), ('epoll', 'epoll_wait')]
for lo, hi in ((3.5, 4.75), (7, 13)):
    c = collections.Counter(); n = 0
    for s in samples:
        if s[0] != 'http-0' or not (lo <= s[2] - t0 < hi): continue
        n += 1
        for name, t in order:
            if any(t in f for f in s[3]): c[name] += 1; break
        else: c['other'] += 1
    print(f'== {lo}-{hi}s: {n} samples, {n/(hi-lo):.0f}/s')
    for k, v in c.most_common(): print(f'   {v/(hi-lo):6.1f}/s {100*v/n:5.1f}% {k}')
