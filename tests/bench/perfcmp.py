#!/usr/bin/env python3
"""Compares the self time per function that sampled and perf measured on the
same run of the same process, for tests/integration/test_vs_perf.sh.

  perfcmp.py --perf REPORT --folded FOLDED --maps MAPS
             [--tolerance POINTS] [--top N] [--min-share PERCENT] [--label L]
             [--control]

REPORT is `perf report --no-children -F sample,dso,sym -t '|' -g none -q`
(sample counts, not periods: sampled counts samples too), FOLDED is
`samplectl export -f collapsed`, MAPS a copy of the target's /proc/PID/maps
(where each module's file is; the folded stacks name a function without
its module, so the module of a named leaf is the mapped file whose symbol
table defines that name).

Both tools name a function they know by its symbol and an address they do
not know by its module and file offset (perf "0x...15bc9" in dso X, sampled
"X+0x15bc9").  To compare like with like, every leaf is reduced to one key:
  - a named function -> (module, address of the symbol, from the file's
    symbol tables and its separate debug file's), so that aliases of one
    address count as one function and a name one tool found in debug info
    meets the other tool's address;
  - a frame sampled shows for a function inlined at the sampled address ->
    the nearest frame above it that has a symbol, the function perf charges;
  - an unnamed address -> (module, start of the .eh_frame FDE covering it):
    stripped functions still have their unwind entry, which gives their
    bounds, so the time of a static function is not scattered over hundreds
    of per-instruction entries;
  - anything in the kernel -> "[kernel]", in the vDSO -> "[vdso]": perf
    names kernel functions, and so does sampled with its kernel frames
    (a function of /proc/kallsyms that no mapped module defines, or
    "kernel+0x..."), but both are grouped into one key, the time spent in
    the kernel, so that a kernel tick charged to the user frame above it
    shows as a difference.
Then it prints TAP lines:
  - the top function (key) of both tools is the same;
  - for each of perf's top N keys with >= MIN-SHARE percent of the samples,
    sampled's share is within TOLERANCE points of perf's;
  - the same at the module level (perf --sort dso);
  - with --control, that the same checks reject a doctored copy of sampled's
    profile (perf's second function charged to its first), so a pass means
    the comparison could have failed.
"""
import argparse
import bisect
import collections
import math
import os
import re
import subprocess
import sys

HEX_RE = re.compile(r"^(.*)\+0x([0-9a-fA-F]+)$")


def debug_file(path):
    """The separate debug file of path (Debian's /usr/lib/debug), or None."""
    m = re.search(r"Build ID: ([0-9a-f]{2})([0-9a-f]+)", run(["readelf", "-n", path]))
    candidates = []
    if m:
        candidates.append("/usr/lib/debug/.build-id/%s/%s.debug" % (m.group(1), m.group(2)))
    candidates.append("/usr/lib/debug" + path + ".debug")
    for c in candidates:
        if os.path.exists(c):
            return c
    return None


class Module:
    """One ELF file: its symbols by name (its own and its separate debug
    file's), its FDE ranges, its PT_LOADs."""

    def __init__(self, path):
        self.path = path
        self.loads = []		# (offset, filesz, vaddr)
        self.symbols = {}	# name -> vaddr
        self.fde_starts = []
        self.fde_ends = []
        if not path or not os.path.exists(path):
            return
        out = run(["readelf", "-lW", path])
        for line in out.splitlines():
            f = line.split()
            if f and f[0] == "LOAD":
                self.loads.append((int(f[1], 16), int(f[4], 16), int(f[2], 16)))
        files = [path]
        dbg = debug_file(path)
        if dbg:
            files.append(dbg)
        for file in files:
            for args in (["nm", "--defined-only", file], ["nm", "-D", "--defined-only", file]):
                for line in run(args).splitlines():
                    f = line.split()
                    if len(f) >= 3 and f[1] in "TtWwiI":
                        name = f[2].split("@")[0]
                        self.symbols.setdefault(name, int(f[0], 16))
        ranges = []
        for line in run(["readelf", "--debug-dump=frames", path]).splitlines():
            m = re.search(r"FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", line)
            if m:
                ranges.append((int(m.group(1), 16), int(m.group(2), 16)))
        ranges.sort()
        self.fde_starts = [r[0] for r in ranges]
        self.fde_ends = [r[1] for r in ranges]

    def vaddr_of_offset(self, off):
        for o, size, v in self.loads:
            if o <= off < o + size:
                return off - o + v
        return None

    def function_of_offset(self, off):
        """The start (vaddr) of the FDE covering file offset off, or None."""
        v = self.vaddr_of_offset(off)
        if v is None:
            return None
        i = bisect.bisect_right(self.fde_starts, v) - 1
        if i >= 0 and v < self.fde_ends[i]:
            return self.fde_starts[i]
        return None


def run(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


class Keys:
    """Turns (module, symbol-or-offset) into comparable keys, with labels."""

    def __init__(self, maps_path):
        self.paths = {}
        with open(maps_path) as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    path = parts[5].strip()
                    self.paths.setdefault(os.path.basename(path), path)
        self.modules = {}
        self.labels = {}
        self.defining = {}
        self.kernel = None	# names of kernel functions, read on first use

    def module(self, name):
        if name not in self.modules:
            self.modules[name] = Module(self.paths.get(name))
        return self.modules[name]

    def module_defining(self, func):
        """The mapped module whose symbols define func (the executable
        first, as the dynamic linker would), or None."""
        if func not in self.defining:
            self.defining[func] = next(
                (name for name in self.paths if func in self.module(name).symbols), None)
        return self.defining[func]

    def is_kernel(self, func):
        """Whether a frame of sampled's is kernel code: a text symbol of
        /proc/kallsyms (names show even where addresses are hidden) that no
        mapped module defines, or an unnamed kernel address."""
        if self.kernel is None:
            self.kernel = set()
            try:
                with open("/proc/kallsyms") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 3 and parts[1] in ("t", "T", "w", "W"):
                            self.kernel.add(parts[2])
            except OSError:
                pass
        if func.startswith("kernel+0x"):
            return True
        return func in self.kernel and self.module_defining(func) is None

    def named(self, module, name):
        if module.startswith("[kernel"):
            return self.special("[kernel]")
        if module == "[vdso]":
            return self.special("[vdso]")
        addr = self.module(module).symbols.get(name)
        key = (module, addr) if addr is not None else (module, name)
        self.labels.setdefault(key, name)
        return key

    def unnamed(self, module, off):
        if module.startswith("[kernel"):
            return self.special("[kernel]")
        if module == "[vdso]":
            return self.special("[vdso]")
        start = self.module(module).function_of_offset(off)
        if start is None:
            key = (module, "+0x%x" % off)
        else:
            key = (module, start)
        self.labels.setdefault(key, "%s:fn@0x%x" % (module, start) if start is not None
                               else "%s+0x%x" % (module, off))
        return key

    def special(self, name):
        key = (name, None)
        self.labels.setdefault(key, name)
        return key

    def label(self, key):
        return self.labels.get(key, str(key))


def read_perf(path, keys):
    funcs = collections.Counter()
    mods = collections.Counter()
    for line in open(path):
        parts = [p.strip() for p in line.rstrip("\n").split("|")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        n, dso, sym = int(parts[0]), parts[1], parts[2]
        sym = re.sub(r"^\[.\]\s*", "", sym)
        if dso.startswith("[kernel"):
            dso = "[kernel]"
        if re.fullmatch(r"0x[0-9a-fA-F]+", sym):
            key = keys.unnamed(dso, int(sym, 16))
        else:
            key = keys.named(dso, sym)
        funcs[key] += n
        mods[dso] += n
    return funcs, mods


def read_sampled(folded, keys):
    funcs = collections.Counter()
    mods = collections.Counter()
    inlined = 0
    for line in open(folded):
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        # sampled shows functions inlined at the sampled address as frames
        # of their own below the function that contains them; perf charges
        # the time to the container, the nearest frame with a symbol.  Kernel
        # frames are always at the leaf end (below the user frames that
        # entered the kernel): a stack that ends in one is kernel time.
        leaf = frames[-1]
        for depth, f in enumerate(reversed(frames[-8:])):
            if f == "[kernel]" or keys.is_kernel(f) or HEX_RE.match(f) or \
                    keys.module_defining(f) is not None:
                leaf = f
                if depth:
                    inlined += n
                break
        m = HEX_RE.match(leaf)
        if leaf == "[kernel]" or keys.is_kernel(leaf):
            key, mod = keys.special("[kernel]"), "[kernel]"
        elif m:
            mod = m.group(1)
            key = keys.unnamed(mod, int(m.group(2), 16))
        elif keys.module_defining(leaf) is not None:
            mod = keys.module_defining(leaf)
            key = keys.named(mod, leaf)
        else:
            mod = "?"
            key = keys.special(leaf)
        funcs[key] += n
        mods[mod if not mod.startswith("[kernel") else "[kernel]"] += n
    if inlined:
        print("# %d samples of sampled's end in inlined frames, charged to their container" % inlined)
    return funcs, mods


def share(counter, key):
    total = sum(counter.values())
    return 100.0 * counter.get(key, 0) / total if total else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", required=True)
    ap.add_argument("--folded", required=True)
    ap.add_argument("--maps", required=True)
    ap.add_argument("--tolerance", type=float, default=3.0)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--min-share", type=float, default=5.0)
    ap.add_argument("--label", default="")
    ap.add_argument("--control", action="store_true",
                    help="also check that a known wrong profile is rejected")
    a = ap.parse_args()
    keys = Keys(a.maps)
    pf, pm = read_perf(a.perf, keys)
    sf, sm = read_sampled(a.folded, keys)
    np_, ns = sum(pf.values()), sum(sf.values())
    pre = a.label + ": " if a.label else ""
    print("# %sperf %d samples, sampled %d samples" % (pre, np_, ns))
    if np_ == 0 or ns == 0:
        print("not ok - %sboth tools took samples (perf %d, sampled %d)" % (pre, np_, ns))
        return
    # One standard deviation of the difference of two independent shares.
    def sd(p):
        q = p / 100.0
        return 100.0 * math.sqrt(q * (1 - q) * (1.0 / np_ + 1.0 / ns))

    print("# %s%-44s %8s %8s %6s %6s" % (pre, "self time (function)", "perf%", "sampled%", "diff", "sd"))
    for key, _ in pf.most_common(12):
        p, s = share(pf, key), share(sf, key)
        print("# %s%-44s %8.2f %8.2f %+6.2f %6.2f" % (pre, keys.label(key)[:44], p, s, s - p, sd(p)))
    for key, _ in sf.most_common(12):
        if key not in dict(pf.most_common(12)):
            p, s = share(pf, key), share(sf, key)
            print("# %s%-44s %8.2f %8.2f %+6.2f %6.2f  (sampled's top)" %
                  (pre, keys.label(key)[:44], p, s, s - p, sd(p)))
    results = judge(pf, pm, sf, sm, keys, a, pre)
    for ok, msg in results:
        print("%s - %s" % ("ok" if ok else "not ok", msg))
    print("# %s%-44s %8s %8s" % (pre, "self time (module)", "perf%", "sampled%"))
    for mod, _ in pm.most_common(6):
        print("# %s%-44s %8.2f %8.2f" % (pre, mod[:44], share(pm, mod), share(sm, mod)))
    if a.control and len(pf) >= 2:
        # A wrong answer of the kind this comparison is meant to catch: the
        # samples of perf's second function charged to its first, as a
        # symbolizer that ignores symbol sizes or FDE bounds would do.
        first, second = [k for k, _ in pf.most_common(2)]
        bad = collections.Counter(sf)
        bad[first] += bad.pop(second, 0)
        failed = [msg for ok, msg in judge(pf, pm, bad, sm, keys, a, pre) if not ok]
        print("%s - %sthe comparison rejects a profile with %s charged to %s (%d checks fail)" % (
            "ok" if failed else "not ok", pre, keys.label(second), keys.label(first), len(failed)))


def judge(pf, pm, sf, sm, keys, a, pre):
    """The checks, as (passed, message) pairs."""
    out = []
    ptop = pf.most_common(1)[0][0]
    stop = sf.most_common(1)[0][0]
    out.append((ptop == stop, "%sthe top function is the same: perf %s (%.1f%%), sampled %s (%.1f%%)" % (
        pre, keys.label(ptop), share(pf, ptop), keys.label(stop), share(sf, stop))))
    for key, _ in pf.most_common(a.top):
        p = share(pf, key)
        if p < a.min_share:
            continue
        s = share(sf, key)
        out.append((abs(s - p) <= a.tolerance,
                    "%sself share of %s: sampled %.2f%% vs perf %.2f%% (within %g points)" % (
                        pre, keys.label(key), s, p, a.tolerance)))
    for mod, _ in pm.most_common(a.top):
        p = share(pm, mod)
        if p < a.min_share:
            continue
        s = share(sm, mod)
        out.append((abs(s - p) <= a.tolerance,
                    "%sself share of module %s: sampled %.2f%% vs perf %.2f%% (within %g points)" % (
                        pre, mod, s, p, a.tolerance)))
    return out


if __name__ == "__main__":
    sys.exit(main())
