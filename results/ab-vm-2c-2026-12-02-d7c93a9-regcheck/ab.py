import os,json,glob,sys,statistics as st,collections,re
# usage: python3 ab.py TAG   (reads results/ab-vm-2c-2026-12-02-d7c93a9-regcheck/TAG_{A,B}_*.json)
tag=sys.argv[1]
vals={'A':collections.defaultdict(list),'B':collections.defaultdict(list)}
for side in 'AB':
    for f in sorted(glob.glob('results/ab-vm-2c-2026-12-02-d7c93a9-regcheck/%s_%s_*.json'%(tag,side))):
        for b in json.load(open(f))['benchmarks']:
            if b.get('run_type')!='iteration' or b.get('error_occurred'): continue
            name=re.sub(r'/(iterations|repeats|manual_time|real_time).*','',b.get('run_name',b['name']))
            v=b.get('ns_per_unit') or b.get('p99_us')
            if v: vals[side][name].append(v)
for k in sorted(vals['A']):
    a,b=vals['A'][k],vals['B'].get(k,[])
    if not b: continue
    ma,mb=st.median(a),st.median(b)
    print('%-44s %9.4g %9.4g  %.2fx  (A %s | B %s)'%(k,ma,mb,mb/ma, ' '.join('%.3g'%x for x in a), ' '.join('%.3g'%x for x in b)))
