#!/usr/bin/env bash
# bench/run.sh quick|full - drive build/bench/lfmap-bench over the peers.
#
#  quick  (< 1 min): smoke checks of every adapter, then every map at 65,536
#         keys (read-mostly and balanced, 1/2/8 threads, 0.1 s per point),
#         1,000 keys read-mostly (1/2 threads), growth to 262,144 keys (1/2
#         threads, 4 s timeout). Output in build/bench/quick/ (nothing under bench/ is
#         touched), a table and lfmap-word's ratios on stdout.
#  full   (~20 min): every map x sizes 1,000 / 65,536 / 4,000,000 x the seven
#         steady workloads x threads 1,2,4,8,16, BENCH_REPS repetitions
#         (default 3) with the map order rotated each repetition (drift hits
#         every peer alike); growth to 65,536 and 4M keys, BENCH_REPS
#         repetitions (a growth run that exceeds GROWTH_TIMEOUT is recorded as a
#         "#timeout" line and ends that process); churn at 1M keys (1 repetition, RSS sampled).
#         Medians -> bench/results/latest.tsv, summary.md, *.png
#         (bench/report.py), raw rows in build/bench/full/.
# Environment: BENCH_REPS, BENCH_DURATION (s per steady point, default 0.15),
# GROWTH_REPS (4M growth repetitions, default 2), GROWTH_TIMEOUT (s, 40:
# the slowest growth that finished in the efadb8f run took 30 s, the others
# under 9 s; a stuck rculfhash resize never finishes, and three 120 s
# timeouts made that run 26 instead of 20 minutes),
# GROWTH_SIZES, GROWTH_THREADS ("1 2 4,8,16": one process per group),
# CHURN_DURATION (s, 4), CHURN_THREADS, BENCH_PHASES ("steady growth
# churn"; without steady the rows are added to the previous run's),
# BENCH_MAPS (space-separated subset), BENCH_OUT (results dir).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-quick}
BIN=build/bench/lfmap-bench
[ -x "$BIN" ] || { echo "run.sh: $BIN missing (make bench-build)" >&2; exit 1; }
MAPS=${BENCH_MAPS:-"lfmap-word lfmap-node rculfhash-memb rculfhash-qsbr ck_hs rwlock-oa striped-oa libcuckoo tbb"}
STEADY="read-only,absent,read-mostly,read-mostly-zipf,balanced,balanced-zipf,write-heavy"

machine() {
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
		"$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other jobs may run)"
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), lfmap $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
}

# rotate a word list by $1
rotate() {
	local n=$1; shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do echo "${a[(i + n) % ${#a[@]}]}"; done
}

case $mode in
quick)
	OUT=build/bench/quick
	mkdir -p $OUT
	machine | tee $OUT/machine.txt
	t0=$(date +%s)
	$BIN --smoke all
	: >$OUT/raw.tsv
	for m in $MAPS; do
		$BIN --map $m --keys 65536 --threads 1,2,8 --workloads read-mostly,balanced \
			--duration 0.1 >>$OUT/raw.tsv
		$BIN --map $m --keys 1000 --threads 1,2 --workloads read-mostly \
			--duration 0.1 >>$OUT/raw.tsv
		$BIN --map $m --keys 262144 --threads 1,2 --workloads growth --growth-timeout 4 >>$OUT/raw.tsv || true
	done
	python3 bench/report.py quick $OUT/raw.tsv
	echo "bench-quick: $(( $(date +%s) - t0 )) s; raw rows in $OUT/raw.tsv"
	;;
full)
	OUT=build/bench/full
	RES=${BENCH_OUT:-bench/results}
	REPS=${BENCH_REPS:-3}
	DUR=${BENCH_DURATION:-0.15}
	PHASES=${BENCH_PHASES:-"steady growth churn"}
	# a partial re-run (BENCH_PHASES without steady) adds to the raw rows
	case " $PHASES " in *" steady "*) rm -rf $OUT ;; esac
	mkdir -p $OUT $RES
	machine | tee -a $OUT/machine.txt
	t0=$(date +%s)
	$BIN --smoke all
	read -r -a maparr <<<"$MAPS"
	has() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
	for ((rep = 0; rep < REPS; rep++)); do
		has steady && for keys in 1000 65536 4000000; do
			for m in $(rotate $rep "${maparr[@]}"); do
				echo "rep $((rep + 1))/$REPS keys $keys $m ($(( $(date +%s) - t0 )) s, load $(cut -d' ' -f1 /proc/loadavg))"
				$BIN --map $m --keys $keys --threads 1,2,4,8,16 --workloads $STEADY \
					--duration $DUR >>$OUT/raw-rep$rep.tsv
			done
		done
		has growth && for keys in ${GROWTH_SIZES:-65536 4000000}; do
			# 4M growth: GROWTH_REPS (default 2) of the repetitions
			[ $keys = 4000000 ] && [ $rep -ge ${GROWTH_REPS:-2} ] && continue
			for m in $(rotate $rep "${maparr[@]}"); do
				echo "rep $((rep + 1))/$REPS growth $keys $m"
				# separate processes: a timeout ends only its own group
				for tl in ${GROWTH_THREADS:-1 2 4,8,16}; do
					$BIN --map $m --keys $keys --threads $tl --workloads growth \
						--growth-timeout ${GROWTH_TIMEOUT:-40} >>$OUT/raw-rep$rep.tsv || true
				done
			done
		done
	done
	has churn && for m in $MAPS; do
		echo "churn $m"
		BENCH_RSS_DUMP=$OUT/churn-rss.tsv \
		$BIN --map $m --keys 1000000 --threads ${CHURN_THREADS:-1,2,4,8,16} --workloads churn \
			--churn-duration ${CHURN_DURATION:-4} >>$OUT/raw-rep0.tsv
	done
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $OUT/machine.txt
	echo "elapsed: $(( $(date +%s) - t0 )) s" | tee -a $OUT/machine.txt
	python3 bench/report.py full $OUT $RES
	;;
*)
	echo "usage: bench/run.sh quick|full" >&2
	exit 2
	;;
esac
