#!/usr/bin/env python3
"""Turns the measurements of tests/bench/run.sh into BENCHMARKS.md.

  report.py RESULTS.jsonl META.json > BENCHMARKS.md
  report.py --wall RESULTS.jsonl WORK >> BENCHMARKS.md   (section 6)
  report.py --symcost SYMCOST.jsonl >> BENCHMARKS.md     (section 7)
  report.py --python PYSLOW.jsonl >> BENCHMARKS.md       (section 8)

RESULTS holds one JSON object per measurement, "sec" naming the part:
  cost   {target, stack, rate, samples, cpu_ns, seconds}   (daemon CPU per sample)
  slow   {config, rep, wall, user, sys, prof_cpu, samples} (target slowdown)
  stack  {target, stack, samples, truncated, note}         (stack copy size)
  wallslow {threads, config, rep, wall, samples}           (wall-mode slowdown)
META holds the machine, the date, the commands and the options used.
"""
import json
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def fmt_pct(x):
    return "%+.1f%%" % (100.0 * x)


def idle_rate(rows):
    """The daemon's CPU ns per second with nothing to sample, or 0."""
    idle = [r for r in rows if r["samples"] == 0 and r["seconds"] > 0]
    return idle[0]["cpu_ns"] / idle[0]["seconds"] if idle else 0.0


def per_sample(r):
    """Daemon CPU microseconds per sample, all in, or None."""
    return r["cpu_ns"] / 1000.0 / r["samples"] if r["samples"] else None


def cost_section(rows, meta):
    out = ["## 1. Daemon CPU time per sample", ""]
    out.append("What the daemon spends per sample: reading it from the ring, unwinding the "
               "copied stack, symbolizing every frame and adding the stack to the tree, plus "
               "its share of the daemon's fixed costs. The target runs at %d Hz per thread; "
               "the daemon's CPU time (status `daemon_cpu_ns`) and its sample count are read "
               "after a %g s warm-up (ELF files opened, symbol tables and unwind caches "
               "built) and again %g s later: cost = delta CPU / delta samples. The idle row "
               "(a sleeping target) shows the fixed part: the 100 ms drain timer, the thread "
               "scan and the proc connector, which wakes the daemon for every process event "
               "on the machine (so it grows with the machine's activity, not the target's). "
               "Target: <= 10 us per sample." % (meta["cost_rate"], meta["cost_warm"],
                                                 meta["cost_window"]))
    out.append("")
    out.append("The window is read in %d equal parts, each a measurement of its own: the last "
               "column gives their median and range." % meta.get("cost_parts", 1))
    out.append("")
    out.append("| target | --stack-size | frames/sample | samples/s | daemon CPU | us/sample "
               "| parts: median (min-max) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ps = per_sample(r)
        frames = r.get("frames") or 0
        parts = [x for x in r.get("parts") or [] if x is not None]
        out.append("| %s | %d | %s | %.0f | %.2f%% of one core | %s | %s |" % (
            r["target"], r["stack"], "%.1f" % frames if frames else "-",
            r["samples"] / r["seconds"], 100.0 * r["cpu_ns"] / 1e9 / r["seconds"],
            "**%.2f**" % ps if ps is not None else "-",
            "%.2f (%.2f-%.2f)" % (statistics.median(parts), min(parts), max(parts))
            if parts else "-"))
    out.append("")
    return out


def paired(rows, config):
    """Median over rounds of config/baseline - 1, for wall and CPU time."""
    base = {r["rep"]: r for r in rows if r["config"] == "none"}
    w, c = [], []
    for r in rows:
        if r["config"] == config and r["rep"] in base:
            b = base[r["rep"]]
            w.append(r["wall"] / b["wall"] - 1)
            c.append((r["user"] + r["sys"]) / (b["user"] + b["sys"]) - 1)
    if not w:
        return None, None
    return statistics.median(w), statistics.median(c)


def slow_section(rows, meta, title, cmd, what):
    out = [title, ""]
    out.append("A fixed amount of work, `%s` (%s), run %d times in each configuration, the "
               "configurations interleaved (rotated each round) so that a change in the "
               "machine's load hits them all alike. Wall time is from the start (SIGCONT "
               "after the profiler is attached) to the exit; CPU time is the workload's "
               "user + system time (getrusage of the child). Slowdown = median(config) / "
               "median(no profiler) - 1; the paired slowdown is the median, over the rounds, "
               "of config / no profiler within the same round, which cancels the drift of "
               "the machine's speed from round to round. Profiler CPU is the profiler's own CPU time for "
               "the whole run (sampled: `daemon_cpu_ns`; perf: `perf record`'s user + system "
               "time, which does not include unwinding: perf defers that to `perf report`)."
               % (cmd, what, len({r["rep"] for r in rows})))
    out.append("")
    out.append("| configuration | wall median (min-max) s | wall slowdown | paired | "
               "CPU median (min-max) s | CPU slowdown | paired | profiler CPU median s "
               "| samples median |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    configs = []
    for r in rows:
        if r["config"] not in configs:
            configs.append(r["config"])
    by = {c: [r for r in rows if r["config"] == c] for c in configs}
    base = by.get("none")
    bw = statistics.median(r["wall"] for r in base) if base else None
    bc = statistics.median(r["user"] + r["sys"] for r in base) if base else None
    for c in configs:
        rs = by[c]
        walls = [r["wall"] for r in rs]
        cpus = [r["user"] + r["sys"] for r in rs]
        mw, mc = statistics.median(walls), statistics.median(cpus)
        prof = [r["prof_cpu"] for r in rs if r.get("prof_cpu") is not None]
        smp = [r["samples"] for r in rs if r.get("samples") is not None]
        pw, pc = paired(rows, c)
        out.append("| %s | %.3f (%.3f-%.3f) | %s | %s | %.3f (%.3f-%.3f) | %s | %s | %s | %s |" % (
            meta["slow_labels"].get(c, c), mw, min(walls), max(walls),
            fmt_pct(mw / bw - 1) if bw else "-", fmt_pct(pw) if pw is not None else "-",
            mc, min(cpus), max(cpus), fmt_pct(mc / bc - 1) if bc else "-",
            fmt_pct(pc) if pc is not None else "-",
            "%.3f" % statistics.median(prof) if prof else "-",
            "%d" % statistics.median(smp) if smp else "-"))
    out.append("")
    out.append("Every run, in the order it ran (wall s / CPU s):")
    out.append("")
    out.append("```")
    for c in configs:
        out.append("%-14s %s" % (c, "  ".join("%.3f/%.3f" % (r["wall"], r["user"] + r["sys"])
                                             for r in by[c])))
    out.append("```")
    out.append("")
    return out


def stack_section(rows, meta):
    out = ["## 3. Stack copy size", ""]
    out.append("Share of the samples whose stack could not be followed to the thread's first "
               "frame because the copy of the stack taken with the sample (`--stack-size`) was "
               "too short: they end in `[truncated]` (status `truncated_samples` / `samples`), "
               "and the samples the kernel dropped because the ring was full (`lost_samples`, "
               "default 1 MiB ring per thread: a bigger copy per sample fills it sooner). "
               "Rate %d Hz, each run %g s of the target's CPU time." % (
                   meta["stack_rate"], meta["stack_cpu"]))
    out.append("")
    targets = []
    sizes = []
    for r in rows:
        if r["target"] not in targets:
            targets.append(r["target"])
        if r["stack"] not in sizes:
            sizes.append(r["stack"])
    sizes.sort()
    out.append("| target | " + " | ".join("%d" % s for s in sizes) + " |")
    out.append("|---|" + "---:|" * len(sizes))
    for t in targets:
        cells = []
        for s in sizes:
            rs = [r for r in rows if r["target"] == t and r["stack"] == s]
            if not rs or not rs[0]["samples"]:
                cells.append("-")
            else:
                r = rs[0]
                lost = r.get("lost", 0)
                cells.append("%.1f%% of %d%s" % (100.0 * r["truncated"] / r["samples"], r["samples"],
                                                 ", %d lost" % lost if lost else ""))
        out.append("| %s | %s |" % (t, " | ".join(cells)))
    out.append("")
    notes = [r for r in rows if r.get("note")]
    seen = set()
    for r in notes:
        if (r["target"], r["note"]) not in seen:
            seen.add((r["target"], r["note"]))
            out.append("- %s: %s" % (r["target"], r["note"]))
    if notes:
        out.append("")
    return out


def slow_facts(work, slow, meta):
    """One interpretation line per slowdown workload."""
    out = []
    if slow:
        med = {}
        for c in {r["config"] for r in slow}:
            rs = [r for r in slow if r["config"] == c]
            med[c] = (statistics.median(r["wall"] for r in rs),
                      statistics.median(r["user"] + r["sys"] for r in rs),
                      (max(r["wall"] for r in rs) - min(r["wall"] for r in rs)))
        if "none" in med:
            bw, bc, bspread = med["none"]
            parts = []
            for c in ("sampled99", "sampled999", "perf99", "perf999"):
                if c in med:
                    pw, pc = paired(slow, c)
                    parts.append("%s %s wall / %s CPU" % (meta["slow_labels"].get(c, c),
                                                          fmt_pct(pw), fmt_pct(pc)))
            out.append("- Slowdown of the %s workload (paired medians): %s. The baseline "
                       "alone spreads over %.1f%% of its median wall time between rounds: "
                       "read smaller differences as noise." % (
                           work, "; ".join(parts), 100.0 * bspread / bw))
    return out


def xz_rows(rows):
    return [r for r in rows if r["sec"] == "slow" and r.get("work", "xz") == "xz"]


def compute_rows(rows):
    return [r for r in rows if r["sec"] == "slow" and r.get("work") == "compute"]


def interpretation(rows, meta):
    """Short conclusions drawn from the figures themselves."""
    out = []
    cost = [r for r in rows if r["sec"] == "cost"]
    idle = idle_rate(cost)
    over, under = [], []
    for r in cost:
        ps = per_sample(r)
        if ps is None:
            continue
        (over if ps > 10.0 else under).append("%s at %d (%.1f us)" % (r["target"], r["stack"], ps))
    if idle:
        out.append("- With nothing to sample the daemon uses %.2f ms of CPU per second (%.2f%% "
                   "of a core)." % (idle / 1e6, idle / 1e7))
    if under:
        out.append("- Within the 10 us/sample target: %s." % "; ".join(under))
    if over:
        out.append("- Over the 10 us/sample target: %s." % "; ".join(over))
    # The marginal cost of a frame, from the shallowest and the deepest C target.
    c = [r for r in cost if r["samples"] and r.get("frames") and r["stack"] == meta.get("default_stack")]
    if len(c) >= 2:
        lo = min(c, key=lambda r: r["frames"])
        hi = max(c, key=lambda r: r["frames"])
        if hi["frames"] > lo["frames"] + 10:
            per_frame = (per_sample(hi) - per_sample(lo)) / (hi["frames"] - lo["frames"])
            out.append("- Each frame adds about %.2f us (%s: %.0f frames, %.1f us; %s: %.0f "
                       "frames, %.1f us)." % (
                           per_frame, lo["target"], lo["frames"], per_sample(lo), hi["target"],
                           hi["frames"], per_sample(hi)))
    for work, slow in (("xz", xz_rows(rows)), ("compute loop", compute_rows(rows))):
        out += slow_facts(work, slow, meta)
    stack = [r for r in rows if r["sec"] == "stack"]
    if stack:
        default = meta.get("default_stack", 32768)
        for t in dict.fromkeys(r["target"] for r in stack):
            rs = sorted((r for r in stack if r["target"] == t and r["samples"]), key=lambda r: r["stack"])
            if not rs:
                continue
            share = ", ".join("%d: %.1f%%" % (r["stack"], 100.0 * r["truncated"] / r["samples"]) for r in rs)
            fits = [r["stack"] for r in rs if r["truncated"] <= 0.01 * r["samples"]]
            verdict = ("fits from %d bytes" % fits[0]) if fits else "does not fit in any copy size tried"
            out.append("- %s: %s (truncated share %s)." % (t, verdict, share))
        def trunc(t, size):
            rs = [r for r in stack if r["target"] == t and r["stack"] == size and r["samples"]]
            return 100.0 * rs[0]["truncated"] / rs[0]["samples"] if rs else None

        facts = []
        for t in dict.fromkeys(r["target"] for r in stack):
            a, b = trunc(t, default), trunc(t, 65528)
            if a is not None and b is not None:
                facts.append("%s %.1f%% at %d, %.1f%% at 65528" % (t, a, default, b))
        costs = {}
        for r in cost:
            ps = per_sample(r)
            if ps and r["target"].startswith("split"):
                costs[r["stack"]] = ps
        c = ""
        if default in costs and 65528 in costs:
            c = (" The daemon's cost per sample for split: %.1f us at %d, %.1f us at 65528 "
                 "(the kernel copies, and the ring carries, up to the whole --stack-size per "
                 "sample; the daemon reads what was copied)." % (costs[default], default, costs[65528]))
        out.append("- The default --stack-size is %d. Truncated samples: %s.%s" % (
            default, "; ".join(facts), c))
    return out


def wall_section(rows, work):
    """Section 6: wall mode's slowdown of fixed work on 1 and 32 threads."""
    out = ["", "## 6. Wall mode: target slowdown at 99 Hz", ""]
    out.append("A fixed amount of CPU work (%s million xorshift steps: `build/bench/threads -t N "
               "-w %s`, tests/bench/threads.c) split over N threads and started stopped by "
               "benchrun as in section 2; alone and under `sampled attach --mode wall --rate 99`, "
               "the two interleaved, alternating which goes first. Slowdown = median wall time "
               "under the profiler / median alone - 1; ranges are over the runs. Every tick stops "
               "every thread, so the cost grows with the number of threads; on 2 cores the daemon "
               "also takes CPU time from the target's threads." % (work, work))
    out.append("")
    out.append("| threads | runs | alone: median (range) | wall 99 Hz: median (range) | slowdown | samples/run (all threads, stopped wait included) |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    for n in sorted({r["threads"] for r in rows}):
        alone = [r["wall"] for r in rows if r["threads"] == n and r["config"] == "none"]
        wall = [r for r in rows if r["threads"] == n and r["config"] == "wall99"]
        if not alone or not wall:
            continue
        w = [r["wall"] for r in wall]
        ma, mw = statistics.median(alone), statistics.median(w)
        out.append("| %d | %d | %.3f s (%.3f-%.3f) | %.3f s (%.3f-%.3f) | %s | %d |" % (
            n, min(len(alone), len(w)), ma, min(alone), max(alone), mw, min(w), max(w),
            fmt_pct(mw / ma - 1), statistics.median(r["samples"] for r in wall)))
    return out


def symcost_section(rows):
    """Section 7: first-touch and per-frame symbolization cost (tests/bench/symcost.sh)."""
    out = ["", "## 7. Symbolization cost", ""]
    out.append("`tests/bench/symcost.sh` (tests/bench/symcost.c, linked with the daemon's own "
               "modules). First touch: opening an ELF file, reading its symbol table and "
               "resolving a first address, in a fresh process each run (the file read once "
               "before, so the disk is not timed), with and without DWARF lines (`--lines`): "
               "median of the runs (minimum in brackets) and the memory it adds. Per frame: "
               "2,000 random addresses inside functions, first lookup (new), the next byte of a "
               "seen address (near), and repeated lookups (warm); then the daemon's own "
               "address cache. Last, the daemon at 999 Hz: CPU per sample over the first "
               "second after attach (every file touched for the first time) and over the "
               "following seconds.")
    out.append("")
    name = lambda f: f.rsplit("/", 1)[-1]
    ft = [r for r in rows if r["measure"] == "first_touch"]
    if ft:
        out.append("| file | --lines | symbols | DWARF | first touch, median (min) | of which DWARF | memory |")
        out.append("|---|---|---:|---|---:|---:|---:|")
        for r in ft:
            out.append("| %s (%.0f MiB) | %s | %d | %s | %.1f ms (%.1f) | %s | +%.1f MiB |" % (
                name(r["file"]), r["size_mib"], "on" if r["lines"] else "off", r["symbols"],
                ("separate file" if r["debug_file"] else "in the file") if r["dwarf"] else "none",
                r["total_ms"], r["total_min_ms"],
                "%.1f ms" % r["lines_ms"] if r["lines"] else "-", r["rss_mib"]))
        out.append("")
    fr = [r for r in rows if r["measure"].startswith("frame")]
    if fr:
        out.append("| per frame | file | --lines | frames per address | cost |")
        out.append("|---|---|---|---:|---:|")
        label = {"frame_cold": "new address (symtab)", "frame_near": "next byte of a seen address",
                 "frame_warm": "repeated lookup", "frames_new_address": "daemon cache, new address",
                 "frames_known_address": "daemon cache, known address"}
        for r in fr:
            cost = ("%.2f us" % r["us_per_frame"]) if "us_per_frame" in r else "%.0f ns" % r["ns_per_frame"]
            out.append("| %s | %s | %s | %.2f | %s |" % (label.get(r["measure"], r["measure"]),
                       name(r["file"]), "on" if r["lines"] else "off", r["mean_depth"], cost))
        out.append("")
    dm = [r for r in rows if r["measure"] == "daemon"]
    if dm:
        out.append("| daemon at 999 Hz | --lines | first second: CPU, us/sample | then: us/sample | daemon memory |")
        out.append("|---|---|---:|---:|---:|")
        for r in dm:
            out.append("| %s | %s | %.1f ms, %.1f | %.2f | %.1f MiB |" % (
                r["target"], "on" if r["lines"] else "off", r["first_cpu_ms"],
                r["first_us_per_sample"], r["steady_us_per_sample"], r["rss_mib"]))
    return out


def python_section(rows):
    """Section 8: a Python program's slowdown and the daemon's cost per sample (pyslow.sh)."""
    out = ["", "## 8. Python: slowdown and cost per sample", ""]
    out.append("`tests/bench/pyslow.sh`: a fixed amount of pure-Python work (tests/bench/pywork.py, "
               "stacks of about 13 frames) under /usr/bin/python3.11, alone and under sampled in "
               "cpu and wall mode at 99 and 999 Hz, rounds rotated; the work times itself after "
               "an untimed warm-up. Slowdown = median / median alone - 1; paired = median over "
               "the rounds of the ratio within a round. Daemon cost per sample: 999 Hz, after a "
               "warm-up, Python frames and the GIL holder read for every sample.")
    out.append("")
    summ = [r for r in rows if r["sec"] == "pyslow_summary"]
    if summ:
        out.append("| configuration | runs | wall median (min-max) s | wall slowdown (paired) "
                   "| CPU median s | CPU slowdown (paired) | samples |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for r in summ:
            out.append("| %s | %d | %.3f (%.3f-%.3f) | %s (%s) | %.3f | %s (%s) | %s |" % (
                r["config"], r["reps"], r["wall_median"], r["wall_min"], r["wall_max"],
                fmt_pct(r["wall_slowdown"]), fmt_pct(r["wall_paired"]), r["cpu_median"],
                fmt_pct(r["cpu_slowdown"]), fmt_pct(r["cpu_paired"]),
                "%d" % r["samples_median"] if r.get("samples_median") else "-"))
        out.append("")
    cost = [r for r in rows if r["sec"] == "pycost"]
    if cost:
        out.append("| mode | rate | samples | frames/sample | Python share | daemon us/sample |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for r in cost:
            out.append("| %s | %d | %d | %.1f | %.0f%% | **%.1f** |" % (
                r["mode"], r["rate"], r["samples"], r["frames"], 100.0 * r["python_share"],
                r["us_per_sample"]))
        out.append("")
    out.append("py-spy publishes no measured overhead figure in its documentation: its README "
               "describes it as extremely low overhead, with a default rate of 100 Hz, pausing "
               "the program for each sample unless `--nonblocking` is given; in "
               "https://github.com/benfred/py-spy/issues/96 its maintainer reports about 2% "
               "slowdown in the default (blocking) mode. sampled's cpu mode never stops the "
               "target (like `--nonblocking`); wall mode stops each thread briefly per sample "
               "(like py-spy's default; section 5 gives the stop times).")
    return out


def main():
    if sys.argv[1] == "--python":
        rows = load(sys.argv[2])
        print("\n".join(python_section(rows)))
        return
    if sys.argv[1] == "--symcost":
        rows = [r for r in load(sys.argv[2]) if r.get("bench") == "symcost"]
        print("\n".join(symcost_section(rows)))
        return
    if sys.argv[1] == "--wall":
        rows = [r for r in load(sys.argv[2]) if r["sec"] == "wallslow"]
        print("\n".join(wall_section(rows, sys.argv[3])))
        return
    rows = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        meta = json.load(f)
    out = ["# Benchmarks", ""]
    out.append("Written by `make bench` (tests/bench/run.sh%s) on %s. Rerun it to refresh "
               "this file; `QUICK=1 make bench` does fewer and shorter runs." % (
                   " with QUICK=1" if meta["quick"] else "", meta["date"]))
    out.append("")
    out.append("## Machine")
    out.append("")
    for k in ("cpu", "cores", "memory", "kernel", "os", "perf", "python", "xz", "sampled",
              "load_before", "load_after", "duration"):
        out.append("- %s: %s" % (k.replace("_", " "), meta.get(k, "?")))
    out.append("")
    out.append("> %s" % meta["noise_note"])
    out.append("")
    out += cost_section([r for r in rows if r["sec"] == "cost"], meta)
    out += slow_section(xz_rows(rows), meta, "## 2. Target slowdown", meta["slow_cmd"],
                        meta["slow_input"])
    if compute_rows(rows):
        out += slow_section(compute_rows(rows), meta, "## 2b. Target slowdown, compute-bound",
                            meta["compute_cmd"], "one thread, registers only: the least noisy "
                            "workload on a shared machine, so the smallest differences show")
    out += stack_section([r for r in rows if r["sec"] == "stack"], meta)
    out.append("## Interpretation")
    out.append("")
    out += interpretation(rows, meta)
    out.append("")
    out.append("## Commands")
    out.append("")
    out.append("```")
    out += meta["commands"]
    out.append("```")
    print("\n".join(out))


if __name__ == "__main__":
    main()
