#!/usr/bin/env bash
# scripts/soak.sh - long soak outside CI (`make soak`, SOAK_MINUTES=N,
# default 10): until the time is up, rotates through
#   - lfmap-stress (release) with a fresh seed and one of the knob sets below
#   - lfmap-stress (TSan) likewise, every third run
#   - the stalled-thread test (tests/stall, gcc and TSan), every tenth run
#   - the multithreaded tests (release), every tenth run, LFMAP_MT_SCALE=4
# and stops at the first failure with its replay line. Writes a summary to
# build/soak/summary.txt (and prints it): runs, operations checked,
# violations, TSan reports, failures.
set -u
cd "$(dirname "$0")/.." || exit 2

MIN=${SOAK_MINUTES:-10}
OUT=build/soak
mkdir -p "$OUT"
rm -f "$OUT"/*.log

echo "== soak: $MIN minutes, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null)"
sh scripts/gen-ninja.sh && ninja release tsan >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 2; }
# the stall test binaries
bash scripts/run-tests.sh --no-build stall >"$OUT/stall-build.log" 2>&1 ||
	{ cat "$OUT/stall-build.log"; exit 1; }

KNOBS=("-t 8 -w 1 -r 1 -k 64"
	"-t 8 -w 1 -r 1 -k 16 -m write -i 2000"
	"-t 16 -w 1 -r 1 -k 1024 -G 100 -m write"
	"-t 8 -w 1 -r 2 -b -z 80 -k 64 -m write -i 2000"
	"-t 8 -w 4 -r 1 -k 4096 -m mixed"
	"-t 12 -w 1 -r 1 -k 256 -G 100 -A -m mixed -i 500"
	"-t 8 -w 2 -r 5 -k 100000 -m read"
	"-t 16 -w 1 -r 0 -k 64 -m write")

end=$(($(date +%s) + MIN * 60))
runs=0 ops=0 fails=0 tsanrep=0 stressruns=0
i=0
while [ "$(date +%s)" -lt $end ]; do
	i=$((i + 1))
	seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
	k=${KNOBS[$((i % ${#KNOBS[@]}))]}
	if [ $((i % 10)) = 0 ]; then
		log=$OUT/run$i.mt.log
		what="mt tests + stall (LFMAP_MT_SCALE=4)"
		{
			for b in build/release/mt/* build/exp/stall/stall-gcc build/exp/stall/stall-tsan; do
				echo "## $b"
				LFMAP_MT_SCALE=4 LFMAP_MT_SEED=$seed TSAN_OPTIONS=exitcode=66 timeout 900 "$b" || echo "FAILED: $b rc $?"
			done
		} >"$log" 2>&1
		grep -q '^FAILED:' "$log" && rc=1 || rc=0
	else
		bin=build/release/lfmap-stress
		[ $((i % 3)) = 0 ] && bin=build/tsan/lfmap-stress
		dur=20
		[ "$bin" = build/tsan/lfmap-stress ] && dur=10
		log=$OUT/run$i.stress.log
		what="$bin -q -d $dur $k -s $seed"
		# shellcheck disable=SC2086
		TSAN_OPTIONS=exitcode=66 timeout 900 "$bin" -q -d $dur $k -H 1500000 -s "$seed" >"$log" 2>&1
		rc=$?
		n=$(sed -n 's/^result: ops \([0-9]*\).*/\1/p' "$log")
		ops=$((ops + ${n:-0}))
		stressruns=$((stressruns + 1))
	fi
	t=$(grep -c 'WARNING: ThreadSanitizer' "$log")
	tsanrep=$((tsanrep + t))
	runs=$((runs + 1))
	if [ $rc -ne 0 ] || [ "$t" -gt 0 ]; then
		fails=$((fails + 1))
		echo "FAIL run $i (rc $rc): $what"
		echo "  log: $log"
		grep -m3 '^replay:\|^violation\|^FAIL\|^FAILED' "$log" | sed 's/^/  /'
		break
	fi
	printf '  run %d ok: %s\n' "$i" "$what"
done

{
	echo "soak $(date -u '+%Y-%m-%d %H:%M UTC'), $MIN minutes requested, commit $(git rev-parse --short HEAD 2>/dev/null), $(nproc) CPUs"
	echo "runs $runs (stress runs $stressruns), stress operations checked $ops, failures $fails, TSan reports $tsanrep"
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/summary.txt"
[ $fails -eq 0 ]
