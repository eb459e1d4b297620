import re,glob,collections,sys,statistics
d=sys.argv[1]
res=collections.defaultdict(dict)
for f in sorted(glob.glob(d+'/*-*-*.txt')):
    kind,v,r=f.split('/')[-1][:-4].split('-')
    name=None
    for line in open(f):
        s=line.rstrip('\n')
        m=re.match(r'^((?:answer_1M|parse)/\S+)(\s+time:.*)?$',s)
        if m: name=m.group(1)
        m=re.search(r'time:\s+\[\S+ \S+ (\S+) (\S+)',s)
        if m and name:
            val=float(m.group(1)); u=m.group(2)
            if u=='ns': val/=1000
            res[(name,r)][v]=val
names=sorted(set(k[0] for k in res))
rounds=sorted(set(k[1] for k in res))
for n in names:
    row=[];ratios=[]
    for r in rounds:
        x=res.get((n,r),{})
        if 'old2' in x and 'new' in x:
            row.append(f"{x['old2']:.2f} → {x['new']:.2f} ({x['new']/x['old2']:.2f})"); ratios.append(x['new']/x['old2'])
    print(f"| `{n}` | "+" | ".join(row)+f" | {statistics.median(ratios):.2f} |")
