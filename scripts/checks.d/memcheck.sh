#!/usr/bin/env bash
# memcheck: valgrind memcheck over lfmap (issue 6, item 5). Zero errors and
# zero definite/indirect leaks required; "possibly lost"/"still reachable"
# blocks are liburcu's call_rcu worker thread (its stack/TLS, never joined)
# and Criterion's runner, and are not counted (docs/RELIABILITY.md).
#  1. build/fuzz/fuzz_replay (gcc, no sanitizer) replays fuzz/corpus and
#     fuzz/regressions: every map kind and operation, failure injection in
#     every phase, grow/shrink/compact cycles, destroy with entries inside;
#  2. a selection of the release Criterion tests (each test is a re-executed
#     child: --trace-children=yes) covering destroy with nodes still inside,
#     many grow/shrink/compact cycles, bad input, counters' wraparound, fork;
#     MEMCHECK_FULL=1 runs every release Criterion binary instead (slow: about
#     100 s per binary on a loaded 2-core machine);
#  3. a canary with a leak and an uninitialised read must be caught by the
#     same valgrind options and log parser (the check can fail).
# Every test under ASan (make check's debug variant) also runs LeakSanitizer.
set -u
out=build/memcheck
rm -rf "$out" && mkdir -p "$out"
VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=no --num-callers=30
    --trace-children=yes)
fail=0

# scan LOGDIR: prints offending logs, returns 1 on any error or leak
scan() {
	local bad=0 f
	for f in "$1"/*.log; do
		[ -e "$f" ] || continue
		if grep -Eq 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]' "$f"; then
			echo "---- $f"
			sed -n '1,80p' "$f"
			bad=1
		fi
	done
	return $bad
}
nlogs() { ls "$1"/*.log 2>/dev/null | wc -l; }

# 3 first: the canary proves the parser sees what valgrind reports
mkdir -p "$out/canary-logs"
cat >"$out/canary.c" <<'C'
#include <stdlib.h>
#include <stdio.h>
int main(void)
{
	int *p = malloc(64 * sizeof(int)); /* never freed: definitely lost */
	int x;
	if (p[3] > 0) /* uninitialised */
		puts("x");
	p = NULL;
	(void)x;
	return 0;
}
C
gcc -O0 -g "$out/canary.c" -o "$out/canary" || { echo "summary: memcheck: canary build failed"; exit 1; }
"${VG[@]}" --log-file="$out/canary-logs/vg.%p.log" "$out/canary" >/dev/null 2>&1
if scan "$out/canary-logs" >/dev/null; then
	echo "summary: memcheck: the canary's leak and uninitialised read were NOT detected"
	exit 1
fi

# 1. fuzz corpus replay
make -s build/fuzz/fuzz_replay || { echo "summary: memcheck: fuzz_replay build failed"; exit 1; }
mkdir -p "$out/replay"
"${VG[@]}" --log-file="$out/replay/vg.%p.log" build/fuzz/fuzz_replay fuzz/corpus fuzz/regressions \
	>"$out/replay.out" 2>&1 || { echo "replay exited non-zero"; tail "$out/replay.out"; fail=1; }
scan "$out/replay" || fail=1
ninputs=$(sed -n 's/^replayed \([0-9]*\) inputs/\1/p' "$out/replay.out")

# 2. Criterion tests
ntests=0
run_crit() { # binary [filter]
	local bin=build/release/tests/$1 d="$out/$1${2:+-$(echo "$2" | tr -c 'A-Za-z0-9_\n' _)}"
	[ -x "$bin" ] || { echo "missing $bin"; fail=1; return; }
	mkdir -p "$d"
	local args=(--jobs 2)
	[ -n "${2:-}" ] && args+=(--filter "$2")
	"${VG[@]}" --log-file="$d/vg.%p.log" "$bin" "${args[@]}" >"$d.out" 2>&1 ||
		{ echo "$1 $2: tests failed under valgrind"; tail -20 "$d.out"; fail=1; }
	local n
	n=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' "$d.out" | tail -1)
	ntests=$((ntests + ${n:-0}))
	scan "$d" || fail=1
}
if [ "${MEMCHECK_FULL:-0}" = 1 ]; then
	for b in build/release/tests/test_*; do run_crit "$(basename "$b")"; done
else
	run_crit test_node 'node/destroy*'
	run_crit test_str 'str/destroy*'
	run_crit test_common 'common/grow_shrink_compact_cycle'
	run_crit test_common 'common/compact_drops_tombstones_and_overflow'
	run_crit test_common 'common/destroy_mid_migration'
	run_crit test_badinput
	run_crit test_uptime 'uptime/wrap*'
	run_crit test_fork 'fork/child_uses_inherited_node_map'
fi
total=$(find "$out" -name '*.log' | wc -l)
if [ $fail -ne 0 ]; then
	echo "summary: memcheck: FAILED (errors or definite/indirect leaks; logs in $out)"
	exit 1
fi
echo "summary: memcheck: 0 errors, 0 definite/indirect leaks: ${ninputs:-?} fuzz inputs replayed, $ntests Criterion tests, $total valgrind logs; canary caught (load $(cut -d' ' -f1-3 /proc/loadavg))"
