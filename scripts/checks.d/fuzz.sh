#!/usr/bin/env bash
# fuzz: libFuzzer run of fuzz/fuzz_map.c (issue 6, item 4) for FUZZ_SECONDS
# (default 60) from the seed corpus and the saved regressions, after replaying
# every regression input once. Fails on any finding (a failed model check,
# an ASan/UBSan report, a leak, a timeout) or if the fuzzer could not run.
set -u
secs=${FUZZ_SECONDS:-60}
make -s fuzz-build || { echo "summary: fuzz: build failed"; exit 1; }
cd build/fuzz || exit 1
rm -rf check-corpus && mkdir -p check-corpus
# 1. every saved regression and seed, once
if ! ./fuzz_map -runs=0 ../../fuzz/regressions ../../fuzz/corpus >replay.log 2>&1; then
	tail -30 replay.log
	echo "summary: fuzz: a saved regression or seed input fails (build/fuzz/replay.log)"
	exit 1
fi
# 1b. not blind: the seed corpus must catch a barrier-less lib variant that
# is wrong even single-threaded (EARLY_FORWARD: buckets forwarded before
# their entries are copied), when lib/ still has that experiment switch
blind=skipped
if grep -q LFM_EXPERIMENT_EARLY_FORWARD ../../lib/*.c 2>/dev/null; then
	if gcc -std=c11 -D_GNU_SOURCE -O1 -g -DLFM_EXPERIMENT_EARLY_FORWARD -I../../include \
		-I../../lib -I../../fuzz ../../lib/*.c ../../fuzz/fuzz_map.c ../../fuzz/fz_replay.c \
		$(pkg-config --libs liburcu-memb) -lpthread -o fuzz_replay_early_forward 2>build-ef.log; then
		if ./fuzz_replay_early_forward ../../fuzz/corpus >ef.log 2>&1; then
			echo "summary: fuzz: the seed corpus does not catch the EARLY_FORWARD lib variant"
			exit 1
		fi
		blind="EARLY_FORWARD variant caught ($(grep -m1 -o 'CHECK FAILED: .*' ef.log | cut -c1-60))"
	else
		echo "summary: fuzz: EARLY_FORWARD variant build failed (build/fuzz/build-ef.log)"
		exit 1
	fi
fi
# 2. fuzz for $secs seconds (fresh corpus dir: bounded and reproducible size)
./fuzz_map -max_total_time="$secs" -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix=./ check-corpus ../../fuzz/corpus >fuzz.log 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
cov=$(grep -Eo 'cov: [0-9]+' fuzz.log | tail -1)
tail -40 fuzz.log
if [ $rc -ne 0 ]; then
	echo "summary: fuzz: FINDING after ${execs:-?} executions (exit $rc); see build/fuzz/fuzz.log and build/fuzz/crash-*"
	exit 1
fi
if [ -z "$execs" ] || [ "$execs" -lt 50 ]; then
	echo "summary: fuzz: only ${execs:-0} executions in ${secs}s"
	exit 1
fi
echo "summary: fuzz: ${secs}s, $execs executions, $cov, 0 findings (load $(cut -d' ' -f1-3 /proc/loadavg)); $blind"
