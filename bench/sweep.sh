#!/usr/bin/env bash
# bench/sweep.sh - sweep lfmap's grow threshold (struct lfmap_config.grow_pct)
# for the word map: read-mostly / balanced throughput at 65,536 and 4M keys
# (1 and 2 threads), growth to 4M (1 thread) and bytes per entry of the 4M
# prefill. -> bench/results/sweep-grow-pct.tsv and sweep-grow-pct.png.
# The bucket layout (3 slots in 64 bytes vs 7 in 128) is a compile-time
# constant of lib/ (LFM_SLOTS, LFM_CACHELINE in lib/internal.h) and is not
# swept here.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bench/lfmap-bench
RES=${BENCH_OUT:-bench/results}
OUT=build/bench/sweep
mkdir -p $OUT $RES
: >$OUT/raw.tsv
echo "sweep: load average $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in 1 2; do
	for pct in ${SWEEP_PCTS:-50 60 75 85 95}; do
		for k in 65536 4000000; do
			BENCH_LFMAP_GROW_PCT=$pct $BIN --map lfmap-word --keys $k --threads 1,2 \
				--workloads read-mostly,balanced --duration 0.15 | sed "s/^/$pct\t/" >>$OUT/raw.tsv
		done
		BENCH_LFMAP_GROW_PCT=$pct $BIN --map lfmap-word --keys 4000000 --threads 1 \
			--workloads growth | grep -v '^#' | sed "s/^/$pct\t/" >>$OUT/raw.tsv
	done
done
python3 - $OUT/raw.tsv $RES <<'PY'
import sys, statistics, subprocess, os
raw, res = sys.argv[1], sys.argv[2]
g = {}
for line in open(raw):
    v = line.rstrip("\n").split("\t")
    if len(v) != 11:
        continue
    pct, wl, k, t, mops, rss = int(v[0]), v[2], int(v[3]), int(v[4]), float(v[5]), float(v[10])
    g.setdefault((pct, wl, k, t), []).append((mops, rss, int(v[9]), int(v[8])))
with open(os.path.join(res, "sweep-grow-pct.tsv"), "w") as f:
    f.write("grow_pct\tworkload\tkeys\tthreads\tmops\tmax_ns\tp999_ns\tbytes_per_entry\n")
    for key in sorted(g):
        xs = g[key]
        mops = statistics.median(x[0] for x in xs)
        bpe = statistics.median(x[1] for x in xs) * 1048576 / key[2] if key[1] == "prefill" else 0
        f.write("%d\t%s\t%d\t%d\t%.3f\t%d\t%d\t%.1f\n" % (key + (mops, statistics.median(x[2] for x in xs),
                statistics.median(x[3] for x in xs), bpe)))
pcts = sorted({k[0] for k in g})
dat = os.path.join(os.path.dirname(raw), "sweep.dat")
series = [("read-mostly", 4000000, 1), ("read-mostly", 4000000, 2), ("balanced", 4000000, 1),
          ("read-mostly", 65536, 1), ("balanced", 65536, 1), ("growth", 4000000, 1)]
with open(dat, "w") as f:
    for p in pcts:
        row = [str(p)]
        for s in series:
            xs = g.get((p,) + s)
            row.append("%.3f" % statistics.median(x[0] for x in xs) if xs else "NaN")
        xs = g.get((p, "prefill", 4000000, 1))
        row.append("%.1f" % (statistics.median(x[1] for x in xs) * 1048576 / 4000000) if xs else "NaN")
        f.write(" ".join(row) + "\n")
plot = ['set terminal png size 1200,500', 'set output "%s/sweep-grow-pct.png"' % res,
        'set multiplot layout 1,2 title "lfmap-word: grow threshold sweep (medians of 2 runs)"',
        'set xlabel "grow_pct"', 'set ylabel "Mops/s"', 'set grid', 'set key bottom left font ",8"',
        'plot ' + ", ".join('"%s" using 1:%d with linespoints title "%s %d keys %d thr"' % (dat, i + 2, *s)
                           for i, s in enumerate(series)),
        'set ylabel "bytes per entry (4M keys, RSS)"', 'unset key',
        'plot "%s" using 1:%d with linespoints' % (dat, len(series) + 2), 'unset multiplot']
subprocess.run(["gnuplot"], input="\n".join(plot) + "\n", text=True, check=True)
print("wrote %s/sweep-grow-pct.{tsv,png}" % res)
PY
