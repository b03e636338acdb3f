#!/usr/bin/env python3
"""bench/report.py - turn lfmap-bench rows into tables, medians, targets, plots.

  report.py quick RAW.tsv          table + lfmap-word ratios on stdout
  report.py full RAWDIR RESULTS    medians of RAWDIR/raw-rep*.tsv ->
                                   RESULTS/latest.tsv, growth.tsv, churn.tsv,
                                   summary.md, throughput-*.png, growth-latency.png
  report.py summary RESULTS        rewrite summary.md from RESULTS/*.tsv
                                   (e.g. after bench-counts wrote counts.tsv)
Only the Python standard library and gnuplot are used.
"""
import glob
import os
import statistics
import subprocess
import sys

COLS = ["map", "workload", "keys", "threads", "mops", "p50_ns", "p99_ns", "p999_ns",
        "max_ns", "rss_mib"]
LF = "lfmap-word"
NODE = "lfmap-node"
RCU = ["rculfhash-memb", "rculfhash-qsbr"]
STEADY = ["read-only", "absent", "read-mostly", "read-mostly-zipf", "balanced",
          "balanced-zipf", "write-heavy"]
SIZES = [1000, 65536, 4000000]
THREADS = [1, 2, 4, 8, 16]
TIMEOUTS = set()  # (map, workload, keys, threads, seconds) of runs that did not finish


def read_rows(paths):
    rows, growth, churn = [], [], []
    TIMEOUTS.clear()
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("map\t"):
                    continue
                if line.startswith("#growth"):
                    _, m, k, t, p9 = line.split("\t")
                    growth.append((m, int(k), int(t), int(p9.split("=")[1])))
                    continue
                if line.startswith("#timeout"):
                    _, m, wl, k, t, secs = line.split("\t")
                    TIMEOUTS.add((m, wl, int(k), int(t), int(secs.split()[0])))
                    continue
                if line.startswith("#churn"):
                    parts = line.split("\t")
                    d = dict(x.split("=") for x in parts[4:])
                    churn.append((parts[1], int(parts[2]), int(parts[3]), d))
                    continue
                if line.startswith("#"):
                    continue
                v = line.split("\t")
                if len(v) != len(COLS):
                    continue
                rows.append({"map": v[0], "workload": v[1], "keys": int(v[2]),
                             "threads": int(v[3]), "mops": float(v[4]),
                             "p50_ns": int(v[5]), "p99_ns": int(v[6]),
                             "p999_ns": int(v[7]), "max_ns": int(v[8]),
                             "rss_mib": float(v[9])})
    return rows, growth, churn


def medians(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["map"], r["workload"], r["keys"], r["threads"]), []).append(r)
    out = {}
    for k, g in groups.items():
        m = {"map": k[0], "workload": k[1], "keys": k[2], "threads": k[3], "n": len(g)}
        for c in COLS[4:]:
            m[c] = statistics.median(x[c] for x in g)
        m["worst_max_ns"] = max(x["max_ns"] for x in g)
        out[k] = m
    return out


def fmt(x, nd=2):
    if x is None:
        return "-"
    return f"{x:.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def quick(raw):
    rows, growth, _ = read_rows([raw])
    med = medians(rows)
    maps = []
    for r in rows:
        if r["map"] not in maps:
            maps.append(r["map"])
    keys = sorted({(k[1], k[2], k[3]) for k in med if k[1] != "prefill"},
                  key=lambda x: (x[0], x[1], x[2]))
    print()
    print("Mops/s (single 0.1 s runs: indicative only)")
    print("%-12s %8s %3s " % ("workload", "keys", "thr") + " ".join("%10s" % m[:10] for m in maps)
          + "  lfmap/best-peer")
    for wl, k, t in keys:
        vals = [med.get((m, wl, k, t), {}).get("mops") for m in maps]
        peers = [v for m, v in zip(maps, vals) if m not in (LF, NODE) and v is not None]
        lf = med.get((LF, wl, k, t), {}).get("mops")
        r = ratio(lf, max(peers)) if peers else None
        print("%-12s %8d %3d " % (wl, k, t) + " ".join("%10s" % fmt(v) for v in vals)
              + "  %s" % (fmt(r) + "x" if r else "-"))
    print()
    gk = sorted({k[2] for k in med if k[1] == "growth"} | {x[2] for x in TIMEOUTS})
    for K in gk:
        print("growth to %d keys: Mops/s, worst single-insert latency, p99.9" % K)
        for m in maps:
            line = []
            for t in (1, 2):
                g = med.get((m, "growth", K, t))
                if g:
                    line.append("T=%d %.2f Mops/s max %.0f us p99.9 %d ns" % (
                        t, g["mops"], g["max_ns"] / 1000, g["p999_ns"]))
                for x in TIMEOUTS:
                    if x[0] == m and x[2] == K and x[3] == t:
                        line.append("T=%d DID NOT FINISH in %d s" % (t, x[4]))
            print("  %-16s %s" % (m, "; ".join(line)))


def write_latest(med, path):
    with open(path, "w") as f:
        f.write("\t".join(COLS) + "\n")
        order = {w: i for i, w in enumerate(["prefill"] + STEADY + ["growth", "churn"])}
        for k in sorted(med, key=lambda k: (order.get(k[1], 99), k[2], k[0], k[3])):
            m = med[k]
            f.write("%s\t%s\t%d\t%d\t%.3f\t%d\t%d\t%d\t%d\t%.1f\n" % (
                m["map"], m["workload"], m["keys"], m["threads"], m["mops"], m["p50_ns"],
                m["p99_ns"], m["p999_ns"], m["max_ns"], m["rss_mib"]))


def load_latest(path):
    rows, _, _ = read_rows([path])
    return medians(rows)


def load_counts(path):
    c = {}
    if not os.path.exists(path):
        return c
    with open(path) as f:
        hdr = f.readline().rstrip("\n").split("\t")
        for line in f:
            v = line.rstrip("\n").split("\t")
            if len(v) != len(hdr):
                continue
            d = dict(zip(hdr, v))
            c[(d["map"], d["workload"], int(d["keys"]))] = {
                "instr": float(d["instr_per_op"]), "l1": float(d["l1_miss_per_op"]),
                "ll": float(d["ll_miss_per_op"])}
    return c


def summary(res, machine_txt=None):
    med = load_latest(os.path.join(res, "latest.tsv"))
    counts = load_counts(os.path.join(res, "counts.tsv"))
    growth9 = {}
    gp = os.path.join(res, "growth.tsv")
    if os.path.exists(gp):
        with open(gp) as f:
            f.readline()
            for line in f:
                v = line.rstrip("\n").split("\t")
                growth9[(v[0], int(v[1]), int(v[2]))] = dict(
                    p50=int(v[3]), p99=int(v[4]), p999=int(v[5]), p9999=int(v[6]),
                    max=int(v[7]), worst=int(v[8]))
    churn = []
    cp = os.path.join(res, "churn.tsv")
    if os.path.exists(cp):
        with open(cp) as f:
            f.readline()
            for line in f:
                churn.append(line.rstrip("\n").split("\t"))
    maps = sorted({k[0] for k in med}, key=lambda m: (m != LF, m != NODE, m))
    peers = [m for m in maps if m not in (LF, NODE, "null")]

    def mops(m, wl, k, t):
        x = med.get((m, wl, k, t))
        return x["mops"] if x else None

    def best_peer(wl, k, t):
        best = None
        for p in peers:
            v = mops(p, wl, k, t)
            if v is not None and (best is None or v > best[1]):
                best = (p, v)
        return best

    out = []
    w = out.append
    w("# lfmap benchmark summary\n")
    w("Generated by `make bench` (bench/run.sh, bench/report.py). Medians over the "
      "repetitions of bench/run.sh (interleaved across peers). Throughput in Mops/s "
      "(all threads together); latency from 1 op in 64 timed (steady workloads) or "
      "every insert (growth).\n")
    mt = machine_txt or os.path.join(res, "machine.txt")
    if os.path.exists(mt):
        w("```\n" + open(mt).read().strip() + "\n```\n")
    w("**The machine is shared with other engineers' builds and tests: wall-clock numbers "
      "are noisy, and 2-thread results in particular suffer when another job takes a core. "
      "Counts (counts.tsv, valgrind) are deterministic.**\n")

    # ---- targets ----
    w("## Targets of issue 4\n")
    w("| target | measured | met |\n|---|---|---|\n")

    def tgt(name, measured, ok):
        w("| %s | %s | %s |\n" % (name, measured, "yes" if ok else ("**no**" if ok is not None else "n/a")))

    for t in (1, 2):
        bp = best_peer("read-mostly", 4000000, t)
        lf = mops(LF, "read-mostly", 4000000, t)
        r = ratio(lf, bp[1]) if bp else None
        tgt("read-mostly 4M, %d thr: >= 1.2x best peer" % t,
            "%s vs %s %s = %sx" % (fmt(lf), bp[0] if bp else "-", fmt(bp[1] if bp else None), fmt(r)),
            r is not None and r >= 1.2 if r is not None else None)
        for rc in RCU:
            r2 = ratio(lf, mops(rc, "read-mostly", 4000000, t))
            tgt("read-mostly 4M, %d thr: >= 2x %s" % (t, rc), "%sx" % fmt(r2),
                r2 >= 2 if r2 is not None else None)
    c = counts.get((LF, "read-mostly", 4000000))
    tgt("read-mostly 4M: <= 1.2 LL misses/op", fmt(c["ll"]) if c else "no counts",
        c["ll"] <= 1.2 if c else None)
    for t in (1, 2):
        bp = best_peer("read-mostly", 1000, t)
        lf = mops(LF, "read-mostly", 1000, t)
        r = ratio(lf, bp[1]) if bp else None
        tgt("read-mostly 1000, %d thr: >= 1.2x best peer" % t,
            "%s vs %s %s = %sx" % (fmt(lf), bp[0] if bp else "-", fmt(bp[1] if bp else None), fmt(r)),
            r >= 1.2 if r is not None else None)
    lfc = counts.get((LF, "read-only", 1000))
    if lfc:
        pc = [(p, counts[(p, "read-only", 1000)]["instr"]) for p in peers
              if (p, "read-only", 1000) in counts]
        lowest = min(pc, key=lambda x: x[1]) if pc else None
        tgt("1000 keys: instructions per lookup below every peer's (read-only)",
            "%.0f vs lowest peer %s %.0f" % (lfc["instr"], lowest[0], lowest[1]) if lowest else "-",
            lfc["instr"] < lowest[1] if lowest else None)
    else:
        tgt("1000 keys: instructions per lookup below every peer's", "no counts", None)
    for wl in ("balanced", "write-heavy"):
        for k in SIZES:
            worst = None
            for t in THREADS:
                for rc in RCU:
                    r = ratio(mops(LF, wl, k, t), mops(rc, wl, k, t))
                    if r is not None and (worst is None or r < worst[0]):
                        worst = (r, rc, t)
            tgt("%s %d: >= 1.5x rculfhash (every thread count)" % (wl, k),
                "lowest %sx (%s, %d thr)" % (fmt(worst[0]), worst[1], worst[2]) if worst else "-",
                worst[0] >= 1.5 if worst else None)
            bp = best_peer(wl, k, 2)
            lf = mops(LF, wl, k, 2)
            r = ratio(lf, bp[1]) if bp else None
            tgt("%s %d, 2 thr: >= best peer" % (wl, k),
                "%s vs %s %s = %sx" % (fmt(lf), bp[0] if bp else "-", fmt(bp[1] if bp else None), fmt(r)),
                r >= 1.0 if r is not None else None)
    fails = []
    n_over = 0
    for wl in STEADY:
        for k in SIZES:
            base = mops(LF, wl, k, 2)
            for t in (8, 16):
                v = mops(LF, wl, k, t)
                if base and v is not None:
                    n_over += 1
                    if v < 0.9 * base:
                        fails.append("%s/%d/%dthr %.0f%%" % (wl, k, t, 100 * v / base))
    tgt("oversubscribed (8, 16 thr) >= 90% of own 2-thread, every workload",
        "%d of %d points below: %s" % (len(fails), n_over, ", ".join(fails) if fails else "none"),
        not fails if n_over else None)
    for t in (1, 2):
        g = med.get((LF, "growth", 4000000, t))
        if not g:
            tgt("growth 4M", "not measured", None)
            continue
        pmax = [(p, med[(p, "growth", 4000000, t)]["max_ns"]) for p in peers
                if (p, "growth", 4000000, t) in med]
        lowest = min(pmax, key=lambda x: x[1]) if pmax else None
        tgt("growth 4M, %d thr: worst insert >= 100x lower than every peer's" % t,
            "lfmap %.1f us; lowest peer %s %.1f us (%.0fx)" % (
                g["max_ns"] / 1e3, lowest[0], lowest[1] / 1e3, lowest[1] / max(g["max_ns"], 1))
            if lowest else "-", lowest[1] >= 100 * g["max_ns"] if lowest else None)
        tgt("growth 4M, %d thr: p99.9 <= 2 us" % t, "%d ns" % g["p999_ns"], g["p999_ns"] <= 2000)
        bp = best_peer("growth", 4000000, t)
        r = ratio(g["mops"], bp[1]) if bp else None
        tgt("growth 4M, %d thr: throughput >= best peer" % t,
            "%s vs %s %s = %sx" % (fmt(g["mops"]), bp[0], fmt(bp[1]), fmt(r)) if bp else "-",
            r >= 1.0 if r is not None else None)
    lfch = [c for c in churn if c[0] == LF]
    # RSS under churn is a sawtooth (a migration's old and new tables coexist
    # until a grace period): the plateau test compares the peaks of the last
    # and the middle third of the run (<= 5% higher), and shows the growth of
    # the peak over the RSS at one third (growth_pct) next to it.
    def pk(c):
        return float(c[10]) if len(c) > 10 and c[10] != "-" else None
    bad = [c for c in lfch if pk(c) is None or pk(c) > 5.0]
    tgt("churn: lfmap-word RSS plateaus (peaks of the last third <= 5% above the middle third's), every thread count",
        "peak growth %s%% (RSS at 1/3 to peak: %s%%)" % (
            ", ".join("%sthr %s" % (c[2], c[10] if len(c) > 10 else "-") for c in lfch),
            ", ".join(c[6] for c in lfch)) if lfch else "not measured",
        not bad if lfch else None)
    bpe = {}
    for p in maps:
        x = med.get((p, "prefill", 4000000, 1))
        if x:
            bpe[p] = x["rss_mib"] * 1048576 / 4000000
    if LF in bpe and "rwlock-oa" in bpe:
        r = bpe[LF] / bpe["rwlock-oa"]
        tgt("memory: lfmap-word bytes/entry <= 1.5x rwlock-oa's", "%.1f vs %.1f = %.2fx" % (
            bpe[LF], bpe["rwlock-oa"], r), r <= 1.5)
    for wl in STEADY:
        worst = None
        for k in SIZES:
            for t in THREADS:
                r = ratio(mops(NODE, wl, k, t), mops("rculfhash-memb", wl, k, t))
                if r is not None and (worst is None or r < worst[0]):
                    worst = (r, k, t)
        tgt("lfmap-node %s: >= 1.3x rculfhash-memb (every size, thread count)" % wl,
            "lowest %sx (%s keys, %s thr)" % (fmt(worst[0]), worst[1], worst[2]) if worst else "-",
            worst[0] >= 1.3 if worst else None)

    # ---- memory ----
    w("\n## Memory: RSS growth of the prefill, bytes per entry at 4,000,000 keys\n")
    w("| map | bytes/entry | ratio to lfmap-word |\n|---|---|---|\n")
    for p in maps:
        if p in bpe:
            w("| %s | %.1f | %s |\n" % (p, bpe[p], fmt(ratio(bpe[p], bpe.get(LF)))))

    # ---- growth ----
    w("\n## Growth from the smallest map to N keys (every insert timed)\n")
    w("| map | keys | thr | Mops/s | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max us (median) | max us (worst rep) |\n")
    w("|---|---|---|---|---|---|---|---|---|---|\n")
    for k in (65536, 4000000):
        for t in THREADS:
            for p in maps:
                g = med.get((p, "growth", k, t))
                if not g:
                    continue
                g9 = growth9.get((p, k, t), {})
                w("| %s | %d | %d | %.2f | %d | %d | %d | %s | %.1f | %.1f |\n" % (
                    p, k, t, g["mops"], g["p50_ns"], g["p99_ns"], g["p999_ns"],
                    g9.get("p9999", "-"), g["max_ns"] / 1e3, g["worst_max_ns"] / 1e3))

    tp = os.path.join(res, "timeouts.tsv")
    touts = []
    if os.path.exists(tp):
        with open(tp) as f:
            f.readline()
            touts = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    if touts:
        w("\nGrowth runs that did not finish within their timeout (whole process group "
          "of thread counts ends; the machine's load matters here): " +
          ", ".join("%s %s keys %s thr (%s s)" % (t[0], t[2], t[3], t[4]) for t in touts) + "\n")

    # ---- churn ----
    if churn:
        w("\n## Churn (1M live keys, distinct keys inserted and removed, RSS every 50 ms)\n")
        w("| map | thr | Mops/s | RSS at 1/3 MiB | peak MiB | peak vs RSS at 1/3 | peak middle third MiB | peak last third MiB | peak growth |\n|---|---|---|---|---|---|---|---|---|\n")
        for c in churn:
            x = med.get((c[0], "churn", int(c[1]), int(c[2])))
            w("| %s | %s | %s | %s | %s | %s%% | %s | %s | %s%% |\n" % (
                c[0], c[2], fmt(x["mops"]) if x else "-", c[3], c[4], c[6],
                c[8] if len(c) > 8 else "-", c[9] if len(c) > 9 else "-", c[10] if len(c) > 10 else "-"))

    # ---- counts ----
    if counts:
        w("\n## Deterministic counts per operation (valgrind, 1 thread, harness overhead subtracted)\n")
        w("| map | workload | keys | instr/op | D1 miss/op | LL miss/op |\n|---|---|---|---|---|---|\n")
        for k in sorted(counts, key=lambda k: (k[2], k[1], k[0])):
            c = counts[k]
            w("| %s | %s | %d | %.0f | %.2f | %.2f |\n" % (k[0], k[1], k[2], c["instr"], c["l1"], c["ll"]))

    # ---- ratios ----
    w("\n## lfmap-word throughput and its ratio to every peer (>1: lfmap faster)\n")
    w("| workload | keys | thr | lfmap-word Mops/s | " + " | ".join(p for p in maps if p != LF) + " |\n")
    w("|---|---|---|---|" + "---|" * (len(maps) - 1) + "\n")
    for wl in STEADY + ["growth", "churn"]:
        for k in SIZES + [1000000]:
            for t in THREADS:
                lf = mops(LF, wl, k, t)
                if lf is None:
                    continue
                cells = []
                for p in maps:
                    if p == LF:
                        continue
                    v = mops(p, wl, k, t)
                    cells.append("%sx (%s)" % (fmt(ratio(lf, v)), fmt(v)) if v else "-")
                w("| %s | %d | %d | %.2f | %s |\n" % (wl, k, t, lf, " | ".join(cells)))
    w("\nPlots: throughput-1000.png, throughput-65536.png, throughput-4000000.png "
      "(Mops/s vs threads, one panel per workload), growth-latency.png (latency "
      "percentiles of every insert while growing to 4M keys).\n")
    with open(os.path.join(res, "summary.md"), "w") as f:
        f.write("".join(out))


def plots(res, med, plotdir):
    os.makedirs(plotdir, exist_ok=True)
    maps = sorted({k[0] for k in med}, key=lambda m: (m != LF, m != NODE, m))
    for k in SIZES:
        wls = STEADY + (["growth"] if any(x[1] == "growth" and x[2] == k for x in med) else [])
        script = ['set terminal pngcairo size 1800,900 font ",9"' if has_cairo() else
                  'set terminal png size 1800,900',
                  'set output "%s/throughput-%d.png"' % (res, k),
                  'set multiplot layout 2,4 title "Mops/s vs threads, %d keys (medians; 2 cores: >2 threads oversubscribed)"' % k,
                  'set termoption noenhanced', 'set logscale x 2', 'set xtics (1,2,4,8,16)', 'set key top left font ",7"',
                  'set yrange [0:*]', 'set grid']
        for wl in wls:
            files = []
            for p in maps:
                fn = os.path.join(plotdir, "tp-%s-%d-%s.dat" % (wl, k, p))
                pts = [(t, med[(p, wl, k, t)]["mops"]) for t in THREADS if (p, wl, k, t) in med]
                if not pts:
                    continue
                with open(fn, "w") as f:
                    for t, v in pts:
                        f.write("%d %.4f\n" % (t, v))
                files.append('"%s" using 1:2 with linespoints lw %d title "%s"' % (
                    fn, 3 if p == LF else 1, p))
            script.append('set title "%s"' % wl)
            if files:
                script.append("plot " + ", ".join(files))
        script.append("unset multiplot")
        run_gnuplot(script)
    # growth latency distribution at 4M keys
    g9 = {}
    gp = os.path.join(res, "growth.tsv")
    if os.path.exists(gp):
        with open(gp) as f:
            f.readline()
            for line in f:
                v = line.rstrip("\n").split("\t")
                g9[(v[0], int(v[1]), int(v[2]))] = v
    script = ['set terminal pngcairo size 1400,600 font ",9"' if has_cairo() else
              'set terminal png size 1400,600',
              'set output "%s/growth-latency.png"' % res,
              'set multiplot layout 1,2 title "insert latency while growing from the smallest map to 4M keys (every insert timed)"',
              'set termoption noenhanced', 'set logscale y', 'set ylabel "ns"', 'set grid', 'set key top left font ",8"',
              'set xtics ("p50" 0, "p99" 1, "p99.9" 2, "p99.99" 3, "max" 4)', 'set xrange [-0.3:4.3]']
    for t in (1, 2):
        files = []
        for p in maps:
            v = g9.get((p, 4000000, t))
            if not v:
                continue
            fn = os.path.join(plotdir, "growth-%d-%s.dat" % (t, p))
            with open(fn, "w") as f:
                for i, x in enumerate(v[3:8]):
                    f.write("%d %s\n" % (i, max(int(x), 1)))
            files.append('"%s" using 1:2 with linespoints lw %d title "%s"' % (
                fn, 3 if p == LF else 1, p))
        script.append('set title "%d thread%s"' % (t, "s" if t > 1 else ""))
        if files:
            script.append("plot " + ", ".join(files))
    script.append("unset multiplot")
    run_gnuplot(script)


def churn_plot(res, rss_path, plotdir):
    """churn-rss.png: RSS every 50 ms during churn (bench/lfmap-bench.c
    BENCH_RSS_DUMP), every map at 2 threads, lfmap-word at every thread count."""
    if not os.path.exists(rss_path):
        return
    series = {}
    with open(rss_path) as f:
        for line in f:
            v = line.rstrip("\n").split("\t")
            if len(v) == 4:
                series.setdefault((v[0], int(v[1])), []).append((int(v[2]) * 0.05, float(v[3])))
    os.makedirs(plotdir, exist_ok=True)
    script = ['set terminal pngcairo size 1400,600 font ",9"' if has_cairo() else
              'set terminal png size 1400,600',
              'set output "%s/churn-rss.png"' % res,
              'set multiplot layout 1,2 title "RSS during churn (1M live keys, distinct keys inserted and removed)"',
              'set termoption noenhanced', 'set xlabel "s"', 'set ylabel "RSS MiB"', 'set grid',
              'set key top left font ",8"']
    for title, pick in (("every map, 2 threads", lambda m, t: t == 2),
                        ("lfmap-word, every thread count", lambda m, t: m == LF)):
        files = []
        for (m, t) in sorted(series):
            if not pick(m, t):
                continue
            fn = os.path.join(plotdir, "churn-%s-%d.dat" % (m, t))
            with open(fn, "w") as f:
                for x, y in series[(m, t)]:
                    f.write("%.2f %.1f\n" % (x, y))
            files.append('"%s" using 1:2 with lines lw %d title "%s %d thr"' % (
                fn, 3 if m == LF else 1, m, t))
        script.append('set title "%s"' % title)
        if files:
            script.append("plot " + ", ".join(files))
    script.append("unset multiplot")
    run_gnuplot(script)


_cairo = None


def has_cairo():
    global _cairo
    if _cairo is None:
        try:
            out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True,
                                 text=True).stderr + ""
            _cairo = "pngcairo" in out
        except OSError:
            _cairo = False
    return _cairo


def run_gnuplot(lines):
    subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", text=True, check=True)


def full(rawdir, res):
    rows, growth, churn = read_rows(sorted(glob.glob(os.path.join(rawdir, "raw-rep*.tsv"))))
    med = medians(rows)
    os.makedirs(res, exist_ok=True)
    write_latest(med, os.path.join(res, "latest.tsv"))
    # growth percentiles incl. p99.99: medians over repetitions
    g = {}
    for m, k, t, p9 in growth:
        g.setdefault((m, k, t), []).append(p9)
    with open(os.path.join(res, "growth.tsv"), "w") as f:
        f.write("map\tkeys\tthreads\tp50_ns\tp99_ns\tp999_ns\tp9999_ns\tmax_ns\tworst_max_ns\n")
        for key in sorted(g):
            x = med.get((key[0], "growth", key[1], key[2]))
            if not x:
                continue
            f.write("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n" % (
                key[0], key[1], key[2], x["p50_ns"], x["p99_ns"], x["p999_ns"],
                statistics.median(g[key]), x["max_ns"], x["worst_max_ns"]))
    with open(os.path.join(res, "churn.tsv"), "w") as f:
        f.write("map\tkeys\tthreads\twarm_mib\tpeak_mib\tend_mib\tgrowth_pct\tplateau\t"
                "peak_mid_mib\tpeak_last_mib\tpeak_growth_pct\n")
        for m, k, t, d in churn:
            f.write("%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
                m, k, t, d["warm_mib"], d["peak_mib"], d["end_mib"], d["growth_pct"], d["plateau"],
                d.get("peak_mid_mib", "-"), d.get("peak_last_mib", "-"), d.get("peak_growth_pct", "-")))
    with open(os.path.join(res, "timeouts.tsv"), "w") as f:
        f.write("map\tworkload\tkeys\tthreads\ttimeout_s\n")
        for t in sorted(TIMEOUTS):
            f.write("%s\t%s\t%d\t%s\t%d\n" % t)
    mt = os.path.join(rawdir, "machine.txt")
    if os.path.exists(mt):
        with open(mt) as src, open(os.path.join(res, "machine.txt"), "w") as dst:
            dst.write(src.read())
    summary(res)
    plots(res, med, os.path.join(rawdir, "plot"))
    churn_plot(res, os.path.join(rawdir, "churn-rss.tsv"), os.path.join(rawdir, "plot"))
    print("wrote %s/{latest.tsv,growth.tsv,churn.tsv,summary.md,*.png}" % res)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "quick":
        quick(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "full":
        full(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
