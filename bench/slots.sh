#!/usr/bin/env bash
# bench/slots.sh - the bucket-layout sweep of issue 4: 3 slots in one 64-byte
# line (LFM_SLOTS=3, the default) against 7 slots in two lines (128 bytes,
# -DLFM_SLOTS=7), everything else equal.
#
# Builds lib/ twice with the release flags plus -DLFM_SLOTS=N into
# build/bench/slotsN/liblfmap.a, links the benchmark's objects (from
# make bench-build) against each, then, in one run with the two layouts
# interleaved (SLOTS_REPS repetitions, default 3, medians):
#   - lfmap-word and lfmap-node: read-mostly, balanced, write-heavy at 1,000,
#     65,536 and 4M keys, 1 and 2 threads (BENCH_DURATION s per point);
#   - growth to 4M keys, 1 thread (max and p99.9 insert latency);
#   - bytes per entry of the 4M prefill (RSS);
#   - unless SLOTS_COUNTS=0, the callgrind counts (bench/counts.sh) of both
#     maps at 1,000 and 4M keys: instructions, L1 and LL misses per op.
# Output: bench/results/sweep-slots.tsv, sweep-slots-counts.tsv and
# sweep-slots.png. Run through `make bench-slots`.
set -euo pipefail
cd "$(dirname "$0")/.."
RES=${BENCH_OUT:-bench/results}
REPS=${SLOTS_REPS:-3}
DUR=${BENCH_DURATION:-0.15}
OUT=build/bench/slots
mkdir -p $OUT $RES
LIBFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -fvisibility=hidden -fPIC -fno-semantic-interposition -Iinclude -Ilib"
URCU="$(pkg-config --libs liburcu-memb liburcu-qsbr liburcu-cds ck tbb) -lstdc++ -lm -lpthread"
OBJS="main lfmap rculfhash-memb rculfhash-qsbr ck_hs oa cxx"
echo "slots: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), lfmap $(git rev-parse --short HEAD)"
for s in 3 7; do
	d=build/bench/slots$s
	mkdir -p $d
	for f in lib/*.c; do
		gcc $LIBFLAGS -DLFM_SLOTS=$s -c $f -o $d/$(basename $f .c).o
	done
	rm -f $d/liblfmap.a && ar rcs $d/liblfmap.a $d/*.o
	for v in lfmap-bench lfmap-bench-vg; do
		objs=""
		for o in $OBJS; do objs="$objs build/bench/$v-$o.o"; done
		g++ -pthread -o $d/$v $objs $d/liblfmap.a $URCU
	done
done
: >$OUT/raw.tsv
for ((rep = 0; rep < REPS; rep++)); do
	order="3 7"
	[ $((rep % 2)) -eq 1 ] && order="7 3"
	for s in $order; do
		B=build/bench/slots$s/lfmap-bench
		for m in lfmap-word lfmap-node; do
			for k in 1000 65536 4000000; do
				$B --map $m --keys $k --threads 1,2 --workloads read-mostly,balanced,write-heavy \
					--duration $DUR | sed "s/^/$s\t/" >>$OUT/raw.tsv
			done
		done
		$B --map lfmap-word --keys 4000000 --threads 1 --workloads growth |
			grep -v '^#' | sed "s/^/$s\t/" >>$OUT/raw.tsv
		echo "  rep $((rep + 1))/$REPS slots $s done (load $(cut -d' ' -f1 /proc/loadavg))"
	done
done
if [ "${SLOTS_COUNTS:-1}" != 0 ]; then
	for s in 3 7; do
		COUNTS_BIN=build/bench/slots$s/lfmap-bench-vg COUNTS_OUT=$OUT/counts$s \
			BENCH_OUT=$OUT/counts$s COUNTS_MAPS="null lfmap-word lfmap-node" \
			COUNTS_SIZES="1000 4000000" bash bench/counts.sh >/dev/null
	done
fi
python3 - $OUT $RES <<'PY'
import sys, os, statistics, subprocess
out, res = sys.argv[1], sys.argv[2]
g = {}
for line in open(os.path.join(out, "raw.tsv")):
    v = line.rstrip("\n").split("\t")
    if len(v) != 11 or not v[5].replace(".", "").isdigit():
        continue
    s, m, wl, k, t = int(v[0]), v[1], v[2], int(v[3]), int(v[4])
    g.setdefault((m, wl, k, t, s), []).append((float(v[5]), int(v[8]), int(v[9]), float(v[10])))
med = lambda xs, i: statistics.median(x[i] for x in xs)
with open(os.path.join(res, "sweep-slots.tsv"), "w") as f:
    f.write("map\tworkload\tkeys\tthreads\tmops_3\tmops_7\tratio_7_to_3\tp999_ns_3\tp999_ns_7\tmax_ns_3\tmax_ns_7\tbytes_per_entry_3\tbytes_per_entry_7\n")
    for (m, wl, k, t) in sorted({key[:4] for key in g}):
        a, b = g.get((m, wl, k, t, 3)), g.get((m, wl, k, t, 7))
        if not a or not b:
            continue
        bpe = lambda xs: med(xs, 3) * 1048576 / k if wl == "prefill" else 0
        f.write("%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%.1f\t%.1f\n" % (
            m, wl, k, t, med(a, 0), med(b, 0), med(b, 0) / med(a, 0) if med(a, 0) else 0,
            med(a, 1), med(b, 1), med(a, 2), med(b, 2), bpe(a), bpe(b)))
rows = []
for s in (3, 7):
    p = os.path.join(out, "counts%d" % s, "counts.tsv")
    if os.path.exists(p):
        for line in open(p).read().splitlines()[1:]:
            rows.append((s,) + tuple(line.split("\t")))
if rows:
    with open(os.path.join(res, "sweep-slots-counts.tsv"), "w") as f:
        f.write("slots\tmap\tworkload\tkeys\tinstr_per_op\tl1_miss_per_op\tll_miss_per_op\n")
        for r in rows:
            f.write("\t".join(map(str, r)) + "\n")
# plot: throughput ratio 7-slot / 3-slot per workload and size (1 thread, 2 threads)
dat = os.path.join(out, "ratio.dat")
labels = []
with open(dat, "w") as f:
    i = 0
    for m in ("lfmap-word", "lfmap-node"):
        for wl in ("read-mostly", "balanced", "write-heavy"):
            for k in (1000, 65536, 4000000):
                r = []
                for t in (1, 2):
                    a, b = g.get((m, wl, k, t, 3)), g.get((m, wl, k, t, 7))
                    r.append("%.3f" % (med(b, 0) / med(a, 0)) if a and b and med(a, 0) else "NaN")
                f.write('%d "%s %s %s" %s\n' % (i, m.replace("lfmap-", ""), wl, {1000: "1k", 65536: "64k", 4000000: "4M"}[k], " ".join(r)))
                i += 1
plot = ['set terminal png size 1300,520', 'set output "%s/sweep-slots.png"' % res,
        'set title "7 slots in 128 bytes vs 3 slots in 64 bytes: throughput ratio (7/3, medians); < 1: 3 slots faster"',
        'set style data histograms', 'set style histogram clustered gap 1', 'set style fill solid 0.8',
        'set xtics rotate by -45 font ",8"', 'set grid ytics', 'set yrange [0:*]', 'set ylabel "Mops/s ratio 7/3"',
        'plot "%s" using 3:xtic(2) title "1 thread", "" using 4 title "2 threads", 1 with lines lc rgb "black" notitle' % dat]
subprocess.run(["gnuplot"], input="\n".join(plot) + "\n", text=True, check=True)
print("wrote %s/sweep-slots.{tsv,png}%s" % (res, " and sweep-slots-counts.tsv" if rows else ""))
PY
