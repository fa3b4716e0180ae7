import os,json,glob,sys,statistics as st,collections,re
tag=sys.argv[1]
vals={'A':collections.defaultdict(list),'B':collections.defaultdict(list)}
for side in 'AB':
    for f in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ab_%s_%s_*.json'%(tag,side))):
        for b in json.load(open(f))['benchmarks']:
            if b.get('run_type')!='iteration' or b.get('error_occurred'): continue
            name=re.sub(r'/(iterations|repeats|manual_time|real_time).*','',b['name'])
            v=b.get('ns_per_unit') or b.get('p99_us')
            if v: vals[side][name].append(v)
for k in sorted(vals['A']):
    a,b=vals['A'][k],vals['B'].get(k,[])
    if not b: continue
    ma,mb=st.median(a),st.median(b)
    print('%-40s %9.4g %9.4g  %.2fx  (A %s | B %s)'%(k,ma,mb,mb/ma, ' '.join('%.3g'%x for x in a), ' '.join('%.3g'%x for x in b)))
