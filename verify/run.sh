#!/bin/bash
# verify/run.sh - model-check the evacuation protocol (verify/evac.pml) with spin.
#
#   bash verify/run.sh [--quick] [--update-trails]
#
# Runs from any directory; works in build/verify/ (git-ignored). Exit 0 only if
#   - every run of the real protocol finishes its search with no error
#     (assertions, invalid end states, and for liveness runs acceptance
#     cycles under weak fairness), and the search was complete (no memory
#     bound hit);
#   - every barrier-less variant (and the LOCKED_EVAC control of the liveness
#     property) produces a counterexample;
#   - every trail kept in verify/trails/ still replays to its violation.
# --quick is the make-check form (reduced configurations, ~1 minute idle).
# --update-trails copies the new counterexamples over verify/trails/.
# Prints "summary:" lines and writes build/verify/results.tsv.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/verify
MODEL=$ROOT/verify/evac.pml
TRAILS=$ROOT/verify/trails
QUICK=0
UPDATE=0
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	--update-trails) UPDATE=1 ;;
	*) echo "usage: $0 [--quick] [--update-trails]" >&2; exit 2 ;;
	esac
done
command -v spin >/dev/null || { echo "spin not installed (apt-get install -y spin)" >&2; exit 2; }
CC=${CC:-gcc}
MEMLIM=${VERIFY_MEMLIM:-3000}   # MB per pan run
TLIM=${VERIFY_TIMEOUT:-1500}    # seconds per pan run
mkdir -p "$OUT/trails"
RES=$OUT/results.tsv
printf 'run\tcfg\tflags\tmode\texpect\tresult\tstates\ttransitions\tdepth\tmemory_mb\tseconds\n' >"$RES"
FAILS=0

# run NAME CFG MODE(safety|live) EXPECT(pass|fail) STORE [spin -D flags...]
# STORE: COLLAPSE (exact, compressed), HC4 (hash compaction), or BFS
# (breadth-first: the shortest counterexample, used for the variants).
run() {
	local name=$1 cfg=$2 mode=$3 expect=$4 store=$5
	shift 5
	local d=$OUT/$name
	rm -rf "$d"; mkdir -p "$d"
	cp "$MODEL" "$d/evac.pml"
	local sflags=(-DCFG="$cfg" "$@") cflags=(-O2 -D"$store" -DMEMLIM="$MEMLIM") pflags=(-m200000)
	if [ "$mode" = live ]; then
		sflags+=(-DLIVENESS); cflags+=(-DNFAIR=3); pflags+=(-a -f)
	else
		cflags+=(-DSAFETY)
	fi
	(cd "$d" && spin "${sflags[@]}" -a evac.pml >spin.log 2>&1 &&
		$CC "${cflags[@]}" -o pan pan.c >cc.log 2>&1) || {
		echo "FAIL $name: spin/cc failed (see $d)"; FAILS=$((FAILS + 1)); return; }
	local t0 t1
	t0=$(date +%s.%N)
	(cd "$d" && timeout "$TLIM" ./pan "${pflags[@]}" >pan.out 2>&1)
	t1=$(date +%s.%N)
	local secs errs states trans depth mem result
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$d/pan.out" | tail -1)
	states=$(awk '/states, stored/{print $1; exit}' "$d/pan.out")
	trans=$(awk '/transitions \(/{print $1; exit}' "$d/pan.out")
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$d/pan.out" | tail -1)
	mem=$(awk '/total actual memory usage/{print $1; exit}' "$d/pan.out")
	local incomplete=0
	grep -q -e "MEMLIM bound" -e "out of memory" -e "max search depth too small" "$d/pan.out" && incomplete=1
	[ -z "$errs" ] && incomplete=1
	if [ "$expect" = pass ]; then
		if [ "$incomplete" = 0 ] && [ "$errs" = 0 ]; then result=pass; else result=FAIL; fi
	else
		if [ "${errs:-0}" -ge 1 ] && [ -f "$d/evac.pml.trail" ] &&
			grep -q -e "assertion violated" -e "acceptance cycle" "$d/pan.out"; then
			result=pass
			cp "$d/evac.pml.trail" "$OUT/trails/$name.trail"
			(cd "$d" && spin "${sflags[@]}" -t -p -g evac.pml >replay.txt 2>&1)
			[ "$UPDATE" = 1 ] && mkdir -p "$TRAILS" && cp "$d/evac.pml.trail" "$TRAILS/$name.trail"
		else
			result=FAIL
		fi
	fi
	[ "$incomplete" = 1 ] && [ "$expect" = pass ] && result="FAIL(incomplete)"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$cfg" "$*" "$mode" "$expect" \
		"$result" "${states:-?}" "${trans:-?}" "${depth:-?}" "${mem:-?}" "$secs" >>"$RES"
	local what
	what=$(grep -m1 -e "assertion violated" -e "acceptance cycle" "$d/pan.out" | sed 's/^pan:[0-9]*: *//')
	echo "summary: $name (cfg $cfg, $mode, expect $expect): $result; states ${states:-?}, transitions ${trans:-?}, depth ${depth:-?}, ${mem:-?} MB, ${secs}s${what:+; $what}"
	case $result in pass) ;; *) FAILS=$((FAILS + 1)) ;; esac
}

# A kept trail must still replay to its violation against the current model.
replay() {
	local name=$1 cfg=$2 mode=$3
	shift 3
	local f=$TRAILS/$name.trail
	[ -f "$f" ] || { echo "summary: replay $name: no kept trail (run with --update-trails)"; FAILS=$((FAILS + 1)); return; }
	local d=$OUT/replay-$name
	rm -rf "$d"; mkdir -p "$d"
	cp "$MODEL" "$d/evac.pml"; cp "$f" "$d/evac.pml.trail"
	local sflags=(-DCFG="$cfg" "$@")
	[ "$mode" = live ] && sflags+=(-DLIVENESS)
	(cd "$d" && spin "${sflags[@]}" -t -p -g evac.pml >replay.txt 2>&1)
	if grep -q -e "assertion violated" -e "<<<<<START OF CYCLE>>>>>" "$d/replay.txt"; then
		echo "summary: replay $name: kept trail reproduces ($(grep -m1 -e 'assertion violated' -e 'START OF CYCLE' "$d/replay.txt" | sed 's/^spin: //'))"
	else
		echo "summary: replay $name: kept trail does NOT reproduce (model changed? --update-trails)"
		FAILS=$((FAILS + 1))
	fi
}

VARIANTS="NOFREEZE HEAD_ONLY EARLY_FORWARD NO_RECHECK LAGGING_HELPER"
lc() { echo "$1" | tr 'A-Z_' 'a-z-'; }

# The real protocol.
run real-cfg3 3 safety pass COLLAPSE
run real-cfg4-live 4 live pass COLLAPSE
if [ "$QUICK" = 0 ]; then
	run real-cfg5 5 safety pass COLLAPSE
	run real-cfg3-live 3 live pass COLLAPSE
	# Larger configurations that do not fit the time budget of make verify
	# (docs/MODEL.md, results): VERIFY_BIG=1 runs them with hash compaction.
	if [ "${VERIFY_BIG:-0}" = 1 ]; then
		run real-cfg3-writerhelp 3 safety pass COLLAPSE -DWRITER_HELP
		run real-cfg1 1 safety pass HC4
		run real-cfg2 2 safety pass HC4
	fi
fi
# Each barrier-less variant must fail; so must a locked evacuation under the
# liveness property.
for v in $VARIANTS; do
	run "$(lc "$v")" 3 safety fail BFS -D"$v"
done
run locked-evac 4 live fail COLLAPSE -DLOCKED_EVAC
for v in $VARIANTS; do
	replay "$(lc "$v")" 3 safety -D"$v"
done
replay locked-evac 4 live -DLOCKED_EVAC

echo "results: $RES"
if [ "$FAILS" -ne 0 ]; then
	echo "summary: verify: $FAILS check(s) failed"
	exit 1
fi
echo "summary: verify: all checks passed"
