#!/usr/bin/env bash
# bench/counts.sh - deterministic per-operation counts (make bench-counts).
#
# For every map (and the "null" adapter, which does nothing: its counts are
# the harness's own per-op work - RNG, key choice, op dispatch through the
# adapter's function pointers) and every size, one single-thread process of
# build/bench/lfmap-bench-vg (-march=x86-64-v3: valgrind cannot decode the
# AVX-512 of -march=native) runs under
#   valgrind --tool=callgrind --cache-sim=yes --instr-atstart=no
# The harness turns instrumentation on after the prefill
# (CALLGRIND_START_INSTRUMENTATION), runs an uncounted warm-up per workload
# (warmup_* functions: the caches are warm, as in steady state) and then
# exactly OPS operations per workload in work_<workload>(). The inclusive
# cost of each work_* function, divided by OPS, minus the null adapter's, is
# the map's per-op cost:
#   instr_per_op    Ir
#   l1_miss_per_op  D1mr + D1mw (data)
#   ll_miss_per_op  DLmr + DLmw (data, last level)
# Cache model (the VM's CPUID reports none that valgrind can use: it guessed
# a 512 MiB 2-way LL): D1 32 KiB 8-way, LL 32 MiB 16-way (one AMD EPYC CCX's
# L3), 64-byte lines. Callgrind's cache simulator is cachegrind's; cachegrind
# 3.19 itself has neither inclusive costs nor start/stop client requests, so
# it cannot separate the workloads from the prefill of a 4M-key map.
# Not counted: work done on other threads (liburcu's call_rcu worker that
# frees nodes and finishes lfmap's background migrations, rculfhash's resize
# worker). Output: bench/results/counts.tsv and, for lfmap-word and
# lfmap-node, per-function profiles bench/results/profile-*.txt.
# Environment: COUNTS_OPS (default 40000), COUNTS_WARMUP (20000; 4M keys:
# COUNTS_WARMUP_BIG, 200000), COUNTS_MAPS, COUNTS_SIZES, COUNTS_JOBS,
# COUNTS_AGGREGATE_ONLY, BENCH_OUT, COUNTS_BIN (binary), COUNTS_OUT (raw output dir).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${COUNTS_BIN:-build/bench/lfmap-bench-vg}
RES=${BENCH_OUT:-bench/results}
OUT=${COUNTS_OUT:-build/bench/counts}
OPS=${COUNTS_OPS:-40000}
WARM=${COUNTS_WARMUP:-20000}
MAPS=${COUNTS_MAPS:-"null lfmap-word lfmap-node rculfhash-memb rculfhash-qsbr ck_hs rwlock-oa striped-oa libcuckoo tbb"}
SIZES=${COUNTS_SIZES:-"1000 65536 4000000"}
WLS=read-only,absent,read-mostly,balanced,write-heavy
mkdir -p $OUT $RES
echo "counts: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); OPS=$OPS per workload"
t0=$(date +%s)
jobs_run=0
run_one() {
	local m=$1 k=$2 w=$WARM
	[ "$k" -ge 1000000 ] && w=${COUNTS_WARMUP_BIG:-200000}
	valgrind --tool=callgrind --cache-sim=yes --D1=32768,8,64 --LL=33554432,16,64 \
		--instr-atstart=no --callgrind-out-file=$OUT/cg-$m-$k.out \
		$BIN --map $m --keys $k --threads 1 --workloads $WLS --ops $OPS --warmup $w \
		--sample 1073741824 >$OUT/cg-$m-$k.log 2>&1 || {
		echo "counts: $m $k failed (see $OUT/cg-$m-$k.log)" >&2
		return 1
	}
	callgrind_annotate --inclusive=yes --threshold=100 $OUT/cg-$m-$k.out >$OUT/cg-$m-$k.incl 2>/dev/null
	echo "  $m $k done ($(( $(date +%s) - t0 )) s)"
}
# COUNTS_JOBS at a time (default 2: 2 cores; counts do not depend on timing).
# COUNTS_AGGREGATE_ONLY=1: only rebuild counts.tsv from the existing outputs.
[ -n "${COUNTS_AGGREGATE_ONLY:-}" ] || for k in $SIZES; do
	for m in $MAPS; do
		run_one $m $k &
		jobs_run=$((jobs_run + 1))
		if [ $jobs_run -ge ${COUNTS_JOBS:-2} ]; then
			wait -n || true
			jobs_run=$((jobs_run - 1))
		fi
	done
done
wait || true
python3 - "$OUT" "$RES" "$OPS" "$MAPS" "$SIZES" <<'EOF'
import re, sys, os
out, res, ops, maps, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
WLS = ["read-only", "absent", "read-mostly", "balanced", "write-heavy"]
num = re.compile(r"([\d,]+)(?: \([^)]*\))?")
def parse(path):
    ev, got = None, {}
    for line in open(path):
        if line.startswith("Events shown:"):
            ev = line.split(":", 1)[1].split()
        m = re.search(r"lfmap-bench\.c:work_([a-z_]+)\b", line)
        if m and ev:
            vals = [int(x.replace(",", "")) for x in re.findall(r"([\d,]+) \(", line)]
            if len(vals) < len(ev):  # cells of 0 are printed as "." or "0"
                cells = line.split()
                vals, i = [], 0
                while len(vals) < len(ev) and i < len(cells):
                    c = cells[i]
                    if re.fullmatch(r"[\d,]+", c):
                        vals.append(int(c.replace(",", "")))
                    elif c == ".":
                        vals.append(0)
                    i += 1
            got[m.group(1).replace("_", "-")] = dict(zip(ev, vals))
    return got
data = {}
for k in sizes:
    for m in maps:
        p = os.path.join(out, "cg-%s-%s.incl" % (m, k))
        if os.path.exists(p):
            data[(m, int(k))] = parse(p)
rows = []
for (m, k), d in sorted(data.items()):
    if m == "null":
        continue
    base = data.get(("null", k), {})
    for wl in WLS:
        if wl not in d or wl not in base:
            continue
        x, b = d[wl], base[wl]
        per = lambda e: (x.get(e, 0) - b.get(e, 0)) / ops
        rows.append((m, wl, k, per("Ir"), per("D1mr") + per("D1mw"), per("DLmr") + per("DLmw")))
with open(os.path.join(res, "counts.tsv"), "w") as f:
    f.write("map\tworkload\tkeys\tinstr_per_op\tl1_miss_per_op\tll_miss_per_op\n")
    for r in rows:
        f.write("%s\t%s\t%d\t%.1f\t%.3f\t%.3f\n" % r)
with open(os.path.join(res, "counts-null.tsv"), "w") as f:
    f.write("# the harness's own per-op cost (null adapter), subtracted from counts.tsv\n")
    f.write("workload\tkeys\tinstr_per_op\tl1_miss_per_op\tll_miss_per_op\n")
    for k in sizes:
        for wl in WLS:
            b = data.get(("null", int(k)), {}).get(wl)
            if b:
                f.write("%s\t%s\t%.1f\t%.3f\t%.3f\n" % (wl, k, b["Ir"] / ops, (b["D1mr"] + b["D1mw"]) / ops,
                                                     (b["DLmr"] + b["DLmw"]) / ops))
print("wrote %s/counts.tsv (%d rows)" % (res, len(rows)))
EOF
# per-function profiles of lfmap (self cost, the hot spots) at 1000 and 4M keys
for m in lfmap-word lfmap-node; do
	for k in 1000 4000000; do
		f=$OUT/cg-$m-$k.out
		[ -f $f ] || continue
		{
			echo "# callgrind self cost per function: $m, $k keys, 1 thread, $WLS x $OPS ops (+ warm-up)"
			{ callgrind_annotate --threshold=99 $f 2>/dev/null || true; } | sed -n "/^Ir/,\$p" | head -45 || true
		} >$RES/profile-$m-$k.txt
	done
done
echo "bench-counts: $(( $(date +%s) - t0 )) s"
[ -s $RES/counts.tsv ] && [ $(wc -l <$RES/counts.tsv) -gt 1 ]
