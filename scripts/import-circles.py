#!/usr/bin/env python3
"""Module import circles in src/: the strongly connected components of the graph of
`crate::` paths (comments and #[cfg(test)] modules ignored), at module depth 1 and 2.
For each circle it prints one cycle through it and every import between its modules (the
edges that close it), with file and line (the first four of each; `-v`: all of them).
Exits 1 when there is a circle, so scripts/check fails on one.

Usage: scripts/import-circles.py [-v]
"""
import os, re, sys, collections
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
root = 'src'
def resolve(segs):
    mp = []
    for s in segs:
        cand = '/'.join(mp + [s])
        if os.path.exists(f'{root}/{cand}.rs') or os.path.isdir(f'{root}/{cand}'):
            mp.append(s)
        else:
            break
    return mp
def scan(level, why):
    edges = collections.defaultdict(set)
    for dp, dn, fn in os.walk(root):
        for f in fn:
            path = os.path.join(dp, f)
            if not f.endswith('.rs') or f in ('tests.rs', 'testkit.rs', 'main.rs', 'lib.rs') or '/tests/' in path:
                continue
            src = open(path).read()
            src = re.split(r'#\[cfg\(test\)\]\s*mod tests\s*\{', src)[0]
            a = '::'.join(path[len(root)+1:-3].split('/')[:level])
            for n, line in enumerate(src.splitlines(), 1):
                if line.lstrip().startswith('//'):
                    continue
                for m in re.finditer(r'crate::((?:[a-z_0-9]+::)*[a-z_0-9]+)', line):
                    mp = resolve(m.group(1).split('::'))
                    if not mp: continue
                    b = '::'.join(mp[:level])
                    if b != a and not b.startswith(a + '::') and not a.startswith(b + '::'):
                        edges[a].add(b)
                        why[(a, b)].append(f'{path}:{n}')
    return edges
def sccs(edges):
    sys.setrecursionlimit(10000)
    idx, low, st, on, res, c = {}, {}, [], set(), [], [0]
    nodes = set(edges) | {b for v in edges.values() for b in v}
    def sc(v):
        idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: res.append(sorted(comp))
    for v in sorted(nodes):
        if v not in idx: sc(v)
    return res
def cycle(comp, edges):
    """A shortest cycle through the component's first module, as a list of modules."""
    start, prev, todo = comp[0], {}, [comp[0]]
    for v in todo:
        for w in sorted(edges.get(v, ())):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w in comp and w not in prev:
                prev[w] = v
                todo.append(w)
    return comp
found = 0
for level in (1, 2):
    why = collections.defaultdict(list)
    e = scan(level, why)
    circles = sccs(e)
    print('depth', level, 'circles:', circles)
    for comp in circles:
        found += 1
        print(f'  circle of {len(comp)} at depth {level}: {" -> ".join(cycle(comp, e))}')
        print('  the imports that close it (cut one per cycle, or move what they share lower):')
        for (a, b), where in sorted(why.items()):
            if a in comp and b in comp:
                shown = where if '-v' in sys.argv else where[:4]
                print(f'    {a} -> {b}: {", ".join(shown)}{" …" if len(where) > len(shown) else ""}')
sys.exit(1 if found else 0)
