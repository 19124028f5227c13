#!/usr/bin/env python3
"""Import circles between the files of src/, and the folder-level import graph.

Usage: scripts/import-cycles.py [SRC_DIR]

An import is any `crate::a::b` or `super::x` path outside comments and test
modules, resolved to the longest module path that is a file. A circle is a
strongly connected component of two or more files (Tarjan). A child using
its parent module is not counted. Also prints the largest file and the files
over 500 lines (tests included), the figures ARCHITECTURE.md quotes.
"""
import os,re,sys,collections
root=sys.argv[1] if len(sys.argv)>1 else 'src'
files={}
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p=os.path.join(d,f); rel=os.path.relpath(p,root)[:-3].split(os.sep)
            if rel[-1]=='mod': rel=rel[:-1]
            if rel in (['lib'],['main']): rel=[]
            if rel and rel[-1]=='tests': continue
            files[tuple(rel)]=p
mods=set(files)
# Names a module re-exports from one of its children (`pub use child::{A, B}`):
# a path through the re-export leads to the child's file.
reexports={}
for m,p in files.items():
    text=re.sub(r'//[^\n]*','',open(p).read())
    for mm in re.finditer(r'pub use (\w+)::(\{[^;]*\}|[\w:]+)\s*;',text):
        child=m+(mm.group(1),)
        if child not in files: continue
        body=mm.group(2).strip('{}')
        for item in body.split(','):
            item=item.strip()
            if not item: continue
            name=item.split(' as ')[-1].split('::')[-1].strip()
            reexports[(m,name)]=child
def resolve(path):
    # longest prefix that is a module file, following re-exports
    for n in range(len(path),0,-1):
        if tuple(path[:n]) in mods:
            t=tuple(path[:n])
            while n<len(path) and (t,path[n]) in reexports:
                t=reexports[(t,path[n])]; n+=1
            return t
    return None
g=collections.defaultdict(set)
for m,p in files.items():
    src=open(p).read()
    # strip test modules roughly
    src=re.split(r'#\[cfg\(test\)\]\s*mod tests',src)[0]
    src=re.sub(r'//[^\n]*','',src)
    for mm in re.finditer(r'\b(crate|super)((?:::\w+)+)',src):
        kind=mm.group(1); parts=mm.group(2).split('::')[1:]
        base=list(m) if not files[m].endswith('mod.rs') else list(m)
        if kind=='crate': path=parts
        else:
            b=list(m)
            if not files[m].endswith('mod.rs'): b=b[:-1]
            path=b+parts
        # handle multiple super
        while path and 'super' in path:
            i=path.index('super'); path=path[:i-1]+path[i+1:]
        # expand use {a,b}
        t=resolve(path)
        if t and t!=m and t!=tuple(m[:len(t)]): g[m].add(t)
    # use crate::x::{a, b::c}
    for mm in re.finditer(r'use (crate|super)::([\w:]*)\{([^}]*)\}',src):
        kind=mm.group(1); pre=[x for x in mm.group(2).split('::') if x]
        b=[] if kind=='crate' else (list(m) if files[m].endswith('mod.rs') else list(m)[:-1])
        for item in mm.group(3).split(','):
            item=item.strip().split(' as ')[0]
            if not item: continue
            t=resolve(b+pre+item.split('::'))
            if t and t!=m and t!=tuple(m[:len(t)]): g[m].add(t)
# Tarjan SCC
idx={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in g[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        s=[]
        while True:
            w=st.pop();on.discard(w);s.append(w)
            if w==v:break
        sccs.append(s)
for v in list(files):
    if v not in idx: sc(v)
n=0
for s in sccs:
    if len(s)>1:
        n+=1; print('cycle:', ' '.join('::'.join(x) for x in s))
# top-level folder graph
tg=collections.defaultdict(set)
for a,bs in g.items():
    for b in bs:
        if a and b and a[0]!=b[0]: tg[a[0]].add(b[0])
print('file-level cycles:',n)
sizes=sorted(((sum(1 for _ in open(os.path.join(d,f))),os.path.join(d,f)) for d,_,fs in os.walk(root) for f in fs if f.endswith('.rs')),reverse=True)
print('largest file: %s (%d lines)' % (sizes[0][1],sizes[0][0]))
print('files over 500 lines: %d' % sum(1 for n,_ in sizes if n>500))
pairs=sorted({tuple(sorted((a,b))) for a in tg for b in tg[a] if a in tg.get(b,set())})
print('folders importing each other: %d %s' % (len(pairs),' '.join('%s<->%s' % p for p in pairs)))
for a in sorted(tg): print(a,'->',' '.join(sorted(tg[a])))
