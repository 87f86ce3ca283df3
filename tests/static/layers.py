#!/usr/bin/env python3
"""Checks that the C sources' includes follow the architecture's layers.

Usage: tests/static/layers.py [ROOT]

The daemon is a pipeline of folders, each allowed to use only the folders
below it (docs/ARCHITECTURE.md draws them):

    daemon/ (main.c, options)    the wiring, at the top
    daemon/serve/                the socket and the requests
    daemon/profile/              aggregation: frames, tree, windows
    daemon/python/               CPython frames and the merge rule
    daemon/unwind/               stack copies to code addresses
    daemon/symbols/              ELF files, mappings, kernel symbols
    daemon/sample/               targets and the two samplers
    common/, proto/, generated   base modules both programs link

samplectl (cli/) sits on common/ and proto/ and never includes the daemon;
common/ and proto/ include neither.  Within daemon/, a header of another
folder is named by it ("symbols/maps.h"), so that every include says which
layer it reaches into.  Finally no two modules (x.c with x.h, and x_impl.h, a
header private to x's files) may include each other, directly or through others: a cycle is a layer in disguise.

Prints one line per broken rule and exits 1 if there is any, else prints
what it checked and exits 0.
"""
import os
import re
import sys

# Lowest first; a folder may include its own headers and those of lower ranks.
RANKS = {
    'common': 0, 'proto': 0, 'gen': 0,
    'daemon/sample': 1,
    'daemon/symbols': 2,
    'daemon/unwind': 3,
    'daemon/python': 4,
    'daemon/profile': 5,
    'daemon/serve': 6,
    'daemon': 7,
    'cli': 8, 'cli/html': 8,
}
# The client stands beside the daemon, not above it.
FORBIDDEN = {
    'cli': ('daemon',),
}
# Headers protoc-c generates at build time (build/gen), counted as proto/.
GENERATED = re.compile(r'^[a-z_]+\.pb-c\.h$')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# Where "x.h" is looked for after the including file's own folder: the -I
# options of the Makefile, for each part of the tree.
SEARCH = {
    'daemon': ['common', 'proto', 'daemon'],
    'cli': ['common', 'proto'],
    'common': ['common', 'proto'],
    'proto': ['common', 'proto'],
}


def folder_of(path):
    """The layer folder a source file belongs to."""
    d = os.path.dirname(path)
    return d


def top_of(path):
    return path.split('/', 1)[0]


def resolve(root, src, name):
    """The repository path an include names, or None when it is not ours."""
    here = os.path.dirname(src)
    cand = os.path.normpath(os.path.join(here, name))
    if os.path.isfile(os.path.join(root, cand)):
        return cand
    for d in SEARCH.get(top_of(src), []):
        cand = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    if GENERATED.match(name):
        return 'gen/' + name
    return None


def sources(root):
    for top in SEARCH:
        for dirpath, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def module_of(path):
    """x.c and x.h are module x; x_impl.h, private to x's files, is x too."""
    stem = os.path.splitext(path)[0]
    return stem[:-len('_impl')] if stem.endswith('_impl') else stem


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(root):
    errors = []
    graph = {}
    nincludes = nfiles = 0
    headers = [h for h in sources(root) if h.endswith('.h') and h.startswith('daemon/')]
    for src in sources(root):
        nfiles += 1
        text = open(os.path.join(root, src), encoding='utf-8', errors='replace').read()
        src_folder = folder_of(src)
        if src_folder not in RANKS:
            errors.append(f'{src}: folder {src_folder}/ has no place in the layers')
            continue
        for lineno, line in enumerate(text.split('\n'), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            nincludes += 1
            target = resolve(root, src, name)
            if target is None:
                hint = [os.path.relpath(h, 'daemon') for h in headers
                        if os.path.basename(h) == os.path.basename(name)]
                hint = f' (a header of another folder is named by it: "{hint[0]}")' if hint else ''
                errors.append(f'{src}:{lineno}: "{name}" is no header of the project{hint}')
                continue
            dst_folder = folder_of(target)
            where = f'{src}:{lineno}: #include "{name}"'
            if dst_folder not in RANKS:
                errors.append(f'{where}: {dst_folder}/ has no place in the layers')
                continue
            for bad in FORBIDDEN.get(top_of(src), ()):
                if top_of(target) == bad:
                    errors.append(f'{where}: {top_of(src)}/ must not use {bad}/')
            if dst_folder != src_folder:
                if RANKS[dst_folder] > RANKS[src_folder]:
                    errors.append(f'{where}: {src_folder}/ is below {dst_folder}/ '
                                  '(an include going up the layers)')
                elif (top_of(src) == 'daemon' and dst_folder.startswith('daemon')
                      and '/' not in name):
                    errors.append(f'{where}: a header of another folder is named '
                                  f'by it ("{os.path.relpath(target, "daemon")}")')
            if module_of(target) != module_of(src):
                graph.setdefault(module_of(src), set()).add(module_of(target))
    for comp in cycles(graph):
        errors.append('include cycle among modules: ' + ' -> '.join(comp))
    return errors, nfiles, nincludes


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')
    root = os.path.abspath(root)
    errors, nfiles, nincludes = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f'layers: {len(errors)} problem(s) in {nfiles} files')
        return 1
    print(f'layers: {nincludes} includes in {nfiles} files follow the layers, no cycle')
    return 0


if __name__ == '__main__':
    sys.exit(main())
