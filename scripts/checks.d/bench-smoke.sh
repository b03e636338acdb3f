#!/usr/bin/env bash
# bench-smoke: build bench/lfmap-bench, run every adapter's correctness smoke
# check (single- and multi-thread insert/get/remove against a model), check
# that the smoke check does catch a wrong map (the "null" adapter must FAIL),
# then a tiny timed run of every adapter (~5 s). Budget: 30 s.
set -euo pipefail
make -s bench-build >/dev/null
BIN=build/bench/lfmap-bench
timeout 60 $BIN --smoke all
if timeout 20 $BIN --smoke null >/dev/null 2>&1; then
	echo "bench-smoke: the smoke check passed the null adapter (it cannot fail?)" >&2
	exit 1
fi
rows=0
for m in $($BIN --list | grep -v '^null$'); do
	out=$(timeout 20 $BIN --map $m --keys 4096 --threads 1,2 \
		--workloads read-mostly,write-heavy --duration 0.1)
	n=$(printf '%s\n' "$out" | awk -F'\t' 'NF == 10 && $5 > 0' | wc -l)
	[ "$n" = 5 ] || { echo "bench-smoke: $m printed $n valid rows, want 5" >&2; printf '%s\n' "$out" >&2; exit 1; }
	rows=$((rows + n))
done
echo "summary: bench-smoke: $($BIN --list | grep -vc '^null$') adapters pass the smoke check; $rows timed rows"
