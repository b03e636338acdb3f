#!/usr/bin/env bash
# bench/churn.sh - churn throughput on small maps against every peer
# (docs/PERFORMANCE.md "Churn", session 9): each thread inserts new keys and
# removes the ones a window behind, N live keys. `make bench` runs churn at
# 1M keys for its RSS plateau; this runs it at CHURN_SIZES (default 1,000
# and 65,536 keys), threads CHURN_THREADS (1,2,8), CHURN_DURATION s per
# point (1), CHURN_REPS repetitions (3) with the map order rotated each
# time, and reports medians.
# Output: bench/results/churn-small.tsv (map keys threads mops p50_ns
# p999_ns rss_mib) and churn-small.md (lfmap-word's ratio to every peer).
# Run through `make bench-churn` (about 3 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bench/lfmap-bench
RES=${BENCH_OUT:-bench/results}
OUT=build/bench/churn
REPS=${CHURN_REPS:-3}
MAPS=${BENCH_MAPS:-"lfmap-word lfmap-node rculfhash-memb rculfhash-qsbr ck_hs rwlock-oa striped-oa libcuckoo tbb"}
[ -x "$BIN" ] || { echo "churn.sh: $BIN missing (make bench-build)" >&2; exit 1; }
mkdir -p $OUT $RES
: >$OUT/raw.tsv
{
	echo "churn: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
		"$(date -u '+%Y-%m-%d %H:%M UTC'), lfmap $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
} | tee $OUT/machine.txt
read -r -a maparr <<<"$MAPS"
for ((rep = 0; rep < REPS; rep++)); do
	for ((i = 0; i < ${#maparr[@]}; i++)); do
		m=${maparr[(i + rep) % ${#maparr[@]}]}
		for k in ${CHURN_SIZES:-1000 65536}; do
			$BIN --map $m --keys $k --threads ${CHURN_THREADS:-1,2,8} --workloads churn \
				--churn-duration ${CHURN_DURATION:-1} | grep -v '^#' >>$OUT/raw.tsv
		done
	done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $OUT/machine.txt
python3 - $OUT/raw.tsv $RES "$(cat $OUT/machine.txt | tr '\n' ' ')" <<'PY'
import sys, statistics, os
raw, res, machine = sys.argv[1], sys.argv[2], sys.argv[3]
g = {}
for line in open(raw):
    v = line.rstrip("\n").split("\t")
    if len(v) != 10 or v[1] != "churn":
        continue
    g.setdefault((v[0], int(v[2]), int(v[3])), []).append(
        (float(v[4]), int(v[5]), int(v[7]), float(v[9])))
med = {k: (statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs),
           statistics.median(x[2] for x in xs), statistics.median(x[3] for x in xs), len(xs))
       for k, xs in g.items()}
maps = []
for k in sorted(med):
    if k[0] not in maps:
        maps.append(k[0])
LF = "lfmap-word"
maps.sort(key=lambda m: (m != LF, m))
with open(os.path.join(res, "churn-small.tsv"), "w") as f:
    f.write("map\tkeys\tthreads\tmops\tp50_ns\tp999_ns\trss_mib\truns\n")
    for k in sorted(med, key=lambda k: (k[1], k[2], maps.index(k[0]))):
        m = med[k]
        f.write("%s\t%d\t%d\t%.3f\t%d\t%d\t%.1f\t%d\n" % (k + (m[0], m[1], m[2], m[3], m[4])))
sizes = sorted({k[1] for k in med})
threads = sorted({k[2] for k in med})
with open(os.path.join(res, "churn-small.md"), "w") as f:
    f.write("# Churn on small maps (bench/churn.sh)\n\n%s\n\n" % machine.strip())
    f.write("Medians of the repetitions; Mops/s, and lfmap-word's ratio to each "
            "peer (>1: lfmap-word faster). RSS in MiB includes the harness.\n\n")
    f.write("| keys | thr | " + " | ".join(maps) + " |\n|---|---|" + "---|" * len(maps) + "\n")
    for s in sizes:
        for t in threads:
            lf = med.get((LF, s, t))
            cells = []
            for m in maps:
                x = med.get((m, s, t))
                if x is None:
                    cells.append("-")
                elif m == LF or lf is None:
                    cells.append("%.2f (%.0f MiB)" % (x[0], x[3]))
                else:
                    cells.append("%.2f (%.2fx, %.0f MiB)" % (x[0], lf[0] / x[0], x[3]))
            f.write("| %d | %d | %s |\n" % (s, t, " | ".join(cells)))
print(open(os.path.join(res, "churn-small.md")).read())
PY
