#!/usr/bin/env bash
# scripts/run-tests.sh - build and run lfmap's test suites; used by the
# Makefile (make check / make tsan) and CI.
#
# Usage: scripts/run-tests.sh [--no-build] SUITE...
# Suites:
#   crit-release crit-debug    every tests/test_*.c Criterion binary
#   mt-release mt-debug mt-tsan every tests/mt/*.c plain executable
#   asm-selftest asm           scripts/check-lookup-asm.sh (--self-test / real)
#   symbols install            scripts/check-symbols.sh / check-install.sh
#   examples                   every examples/*.c program (README examples, demo)
#   tsan-blind                 TSan is not blind: the barrier-less NO_FREEZE
#                              experiment build must produce TSan reports
#   stress-release stress-tsan build/V/lfmap-stress (stress/): a few seconds
#                              each with a couple of knob settings, checked
#                              for linearizability (seed printed in the log;
#                              LFMAP_STRESS_SEED=N replays; LFMAP_STRESS_ARGS
#                              adds arguments to every run)
#   stress                     stress-release + stress-tsan
#   check                      all of the above
#   stall                      tests/stall/stall.c (stalled evacuator, I8
#                              one hop) built with -DLFM_EXPERIMENT, gcc -O2
#                              and TSan
#   experiment-smoke           SMOKE=1 scripts/experiments.sh: the real map
#                              shows no anomaly, at least two barrier-less
#                              variants do
#   extra                      every scripts/checks.d/*.sh (one check each:
#                              exit 0 = pass); feature areas (daemon, fuzz,
#                              model, memcheck ...) add their checks there
#   tsan                       mt-tsan stress-tsan tsan-blind stall (make tsan
#                              sets LFMAP_STRESS_FULL=1: every stress knob set)
# Unless --no-build is given, the variants the suites need are built first
# (ninja -k 0, so one broken file does not hide the others); the build counts
# as one check. Binaries that should exist but do not count as failures.
#
# Each binary runs with a timeout (LFMAP_MT_TIMEOUT, default 300 s for mt
# binaries; LFMAP_CRIT_TIMEOUT, default 600 s for a Criterion binary). Output
# goes to build/logs/<suite>/<name>.log; the tail of a failing log is printed.
# Ends with "N passed, N failed" and exits 1 if anything failed.
# Extra Criterion arguments: CRITERION_ARGS (e.g. "--jobs 2 --verbose").
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

NINJA=${NINJA:-ninja}
MT_TIMEOUT=${LFMAP_MT_TIMEOUT:-300}
CRIT_TIMEOUT=${LFMAP_CRIT_TIMEOUT:-600}
LOGDIR=build/logs

build=1
suites=()
for a in "$@"; do
	case $a in
	--no-build) build=0 ;;
	check) suites+=(crit-release crit-debug mt-release mt-debug mt-tsan
			examples stress-release stress-tsan tsan-blind stall experiment-smoke asm-selftest asm symbols install extra) ;;
	stress) suites+=(stress-release stress-tsan) ;;
	tsan) suites+=(mt-tsan stress-tsan tsan-blind stall) ;;
	crit-release|crit-debug|mt-release|mt-debug|mt-tsan|examples|stress-release|stress-tsan|tsan-blind|stall|experiment-smoke|asm-selftest|asm|symbols|install|extra)
		suites+=("$a") ;;
	-h|--help) sed -n '2,40p' "$0"; exit 0 ;;
	*) echo "run-tests: unknown suite '$a'" >&2; exit 2 ;;
	esac
done
[ ${#suites[@]} -gt 0 ] || { echo "usage: $0 [--no-build] SUITE... (see --help)" >&2; exit 2; }

passed=0
failed=0
failures=()

if [ -t 1 ]; then G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else G= R= N=; fi

pass() { passed=$((passed + 1)); printf '%sPASS%s  %-40s %s\n' "$G" "$N" "$1" "$2"; }
fail() {
	failed=$((failed + 1)); failures+=("$1")
	printf '%sFAIL%s  %-40s %s\n' "$R" "$N" "$1" "$2"
	if [ -n "${3:-}" ] && [ -s "$3" ]; then
		echo "----- last 60 lines of $3"
		tail -n 60 "$3" | sed 's/^/    /'
		echo "-----"
	fi
}

# run NAME LOG CMD... : run a command, log its output, record pass/fail.
run() {
	local name=$1 log=$2 rc t0 t1
	shift 2
	mkdir -p "$(dirname "$log")"
	t0=$(date +%s.%N)
	# (subshell: keeps bash's "Aborted"/"Segmentation fault" notices out)
	( env ${runenv[@]+"${runenv[@]}"} "$@" >"$log" 2>&1; exit $? ) 2>/dev/null
	rc=$?
	t1=$(date +%s.%N)
	local dt
	dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "(%.1fs)", b - a }')
	if [ $rc -eq 0 ]; then
		pass "$name" "$dt"
	else
		local why="exit $rc"
		[ $rc -eq 124 ] && why="timeout"
		[ $rc -eq 66 ] && why="ThreadSanitizer report (exit 66)"
		[ $rc -gt 128 ] && [ $rc -ne 124 ] && why="signal $((rc - 128))"
		fail "$name" "$dt $why" "$log"
	fi
}

# Sources -> expected binaries (derived from the sources so that stale
# binaries of deleted tests are not run and missing ones are noticed).
crit_names() { local f; for f in tests/test_*.c; do [ -f "$f" ] && basename "$f" .c; done; }
mt_names() {
	local f
	for f in tests/mt/*.c; do
		[ -f "$f" ] && [ "$f" != tests/mt/harness.c ] && basename "$f" .c
	done
}

run_bins() { # suite variant dir names...
	local suite=$1 v=$2 dir=$3 n b
	shift 3
	if [ $# -eq 0 ]; then echo "note  $suite: no test sources"; return; fi
	for n in "$@"; do
		b=build/$v/$dir/$n
		if [ ! -x "$b" ]; then
			fail "$v/$dir/$n" "(not built)"
			continue
		fi
		case $suite in
		crit-*) run "$v/$dir/$n" "$LOGDIR/$suite/$n.log" \
			timeout -k 10 "$CRIT_TIMEOUT" "$b" ${CRITERION_ARGS:-} ;;
		*) run "$v/$dir/$n" "$LOGDIR/$suite/$n.log" \
			timeout -k 10 "$MT_TIMEOUT" "$b" ;;
		esac
	done
}

# Sanitizer settings for the binaries of a suite (user settings, appended,
# win).
runenv=()
asan_env() {
	runenv=("ASAN_OPTIONS=detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
		"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}")
}
tsan_env() {
	local o="exitcode=66:second_deadlock_stack=1"
	if [ -f tsan/suppressions.txt ]; then
		echo "note  using TSan suppressions from tsan/suppressions.txt"
		o="$o:suppressions=$PWD/tsan/suppressions.txt"
	fi
	runenv=("TSAN_OPTIONS=$o${TSAN_OPTIONS:+:$TSAN_OPTIONS}")
}

# ---- build what the suites need
if [ $build -eq 1 ]; then
	targets=()
	for s in "${suites[@]}"; do
		case $s in
		crit-release|mt-release|examples|stress-release|asm|symbols|install|extra) targets+=(release) ;;
		crit-debug|mt-debug) targets+=(debug) ;;
		mt-tsan|stress-tsan) targets+=(tsan) ;;
		esac
	done
	if [ ${#targets[@]} -gt 0 ]; then
		mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
		sh scripts/gen-ninja.sh || exit 2
		echo "==> $NINJA -k 0 ${targets[*]}"
		mkdir -p "$LOGDIR"
		# Show the build output live, keep a copy for the failure report.
		if "$NINJA" -k 0 "${targets[@]}" 2>&1 | tee "$LOGDIR/build.log"; then
			pass "build (${targets[*]})" ""
		else
			fail "build (${targets[*]})" "(see the ninja output above; $LOGDIR/build.log)"
		fi
	fi
fi

for s in "${suites[@]}"; do
	echo "==> $s"
	runenv=()
	rm -rf "${LOGDIR:?}/$s"
	case $s in
	crit-release|crit-debug)
		[ $s = crit-debug ] && asan_env
		mapfile -t names < <(crit_names)
		run_bins "$s" "${s#crit-}" tests "${names[@]}" ;;
	mt-release|mt-debug|mt-tsan)
		[ $s = mt-debug ] && asan_env
		[ $s = mt-tsan ] && tsan_env
		mapfile -t names < <(mt_names)
		run_bins "$s" "${s#mt-}" mt "${names[@]}" ;;
	examples)
		for f in examples/*.c; do
			n=$(basename "$f" .c)
			if [ -x "build/release/$n" ]; then
				run "release/$n" "$LOGDIR/examples/$n.log" \
					timeout -k 10 "$MT_TIMEOUT" "build/release/$n"
			else
				fail "release/$n" "(not built)"
			fi
		done ;;
	stress-release|stress-tsan)
		v=${s#stress-}
		[ $v = tsan ] && tsan_env
		b=build/$v/lfmap-stress
		if [ ! -f stress/lfmap-stress.c ]; then
			echo "note  $s: no stress/lfmap-stress.c"
		elif [ ! -x "$b" ]; then
			fail "$b" "(not built)"
		else
			# A couple of knob settings, a few seconds each; histories
			# are bounded (-H), which may end a run early.
			sargs=(${LFMAP_STRESS_ARGS:-})
			[ -n "${LFMAP_STRESS_SEED:-}" ] && sargs+=(-s "$LFMAP_STRESS_SEED")
			hist=1000000 # per thread (8 threads on this machine)
			[ $v = tsan ] && hist=250000
			i=0
			# The -F run is the checker's self-test on a real history
			# (injected stale reads must be found; exits 0 if they are).
			# -R: a thread that requests a reseed (LFMAP_RESIZE_RESEED)
			# every ms, so that the checked history spans reseeds
			# (-r 0: nothing else migrates the map on purpose).
			knobset=("-d 3 -w 1 -r 5" "-d 3 -w 1 -r 2 -b -z 80 -k 64 -m write -i 2000"
				"-d 2 -w 1 -r 0 -R 1 -k 256 -m write -i 2000")
			# make tsan (LFMAP_STRESS_FULL=1): every mix and knob
			# setting, migration forced in every phase.
			if [ "${LFMAP_STRESS_FULL:-0}" = 1 ]; then
				knobset+=("-d 2 -w 1 -r 1 -k 64 -m read"
					"-d 2 -w 1 -r 1 -k 16 -m write -b"
					"-d 2 -w 4 -r 1 -k 1024 -G 100 -m write"
					"-d 2 -w 1 -r 1 -k 1024 -G 100 -A -m mixed -i 500"
					"-d 2 -w 1 -r 0 -k 4096 -m write"
					"-d 2 -w 2 -r 3 -b -z 90 -k 256 -m mixed"
					"-d 2 -w 1 -r 3 -R 1 -k 64 -m write -b"
					"-d 2 -w 1 -r 0 -R 2 -k 1024 -G 100 -A -m mixed -i 500")
			fi
			[ $v = release ] && knobset+=("-d 1 -F -q")
			for knobs in "${knobset[@]}"; do
				i=$((i + 1))
				# shellcheck disable=SC2086
				run "$v/lfmap-stress $knobs" "$LOGDIR/$s/run$i.log" \
					timeout -k 10 "$MT_TIMEOUT" "$b" $knobs -H $hist \
					${sargs[@]+"${sargs[@]}"}
				grep -h '^lfmap-stress: seed\|^checked\|^run:\|^self-test:' "$LOGDIR/$s/run$i.log" |
					sed 's/^/      /'
			done
		fi ;;
	tsan-blind)
		# The same stress run as stress-tsan, against a build whose
		# evacuation copies with plain loads (-DLFM_EXPERIMENT_NOFREEZE,
		# scripts/experiments.sh): TSan must report races there, or the
		# clean TSan runs of the real map prove nothing.
		blind=build/exp/no-freeze/lfmap-stress-tsan
		mkdir -p "$(dirname "$blind")" "$LOGDIR/tsan-blind"
		if clang -std=c11 -D_GNU_SOURCE -Iinclude -Ilib -O1 -g -fsanitize=thread \
			-DLFM_EXPERIMENT_NOFREEZE lib/*.c stress/*.c -o "$blind" \
			-lurcu-memb -lurcu-common -lpthread >"$LOGDIR/tsan-blind/build.log" 2>&1; then
			blog=$LOGDIR/tsan-blind/run.log
			env LFM_EXPERIMENT_DELAY=yield TSAN_OPTIONS="exitcode=66:halt_on_error=0" \
				timeout -k 10 120 "$blind" -q -d 2 -t 4 -w 1 -r 1 -k 64 -H 100000 \
				>"$blog" 2>&1
			nrep=$(grep -c "WARNING: ThreadSanitizer" "$blog")
			if [ "$nrep" -gt 0 ]; then
				pass "tsan-blind (no-freeze build)" "($nrep TSan reports, as required)"
			else
				fail "tsan-blind (no-freeze build)" "(no TSan report: TSan is blind)" "$blog"
			fi
		else
			fail "tsan-blind build" "" "$LOGDIR/tsan-blind/build.log"
		fi ;;
	experiment-smoke)
		run "experiment smoke (SMOKE=1 scripts/experiments.sh)" "$LOGDIR/experiment-smoke.log" \
			env SMOKE=1 bash scripts/experiments.sh
		grep -h '^| \|^PASS\|^FAIL' "$LOGDIR/experiment-smoke.log" | sed 's/^/      /' ;;
	stall)
		# Built directly: the hook exists only with -DLFM_EXPERIMENT.
		mkdir -p build/exp/stall "$LOGDIR/stall"
		urcu=$(pkg-config --libs liburcu-memb 2>/dev/null || echo "-lurcu-memb -lurcu-common")
		for cc in gcc tsan; do
			if [ $cc = gcc ]; then
				cmd=(gcc -O2)
				runenv=()
			else
				cmd=(clang -O1 -fsanitize=thread -fno-omit-frame-pointer)
				tsan_env
			fi
			b=build/exp/stall/stall-$cc
			# shellcheck disable=SC2086
			if "${cmd[@]}" -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Iinclude -Ilib \
				-DLFM_EXPERIMENT lib/*.c tests/mt/harness.c tests/stall/stall.c \
				-o "$b" $urcu -lpthread >"$LOGDIR/stall/build-$cc.log" 2>&1; then
				run "stall ($cc)" "$LOGDIR/stall/$cc.log" timeout -k 10 "$MT_TIMEOUT" "$b"
			else
				fail "stall build ($cc)" "" "$LOGDIR/stall/build-$cc.log"
			fi
		done ;;
	asm-selftest)
		run "check-lookup-asm --self-test" "$LOGDIR/checks/asm-selftest.log" \
			bash scripts/check-lookup-asm.sh --self-test ;;
	asm)
		run "check-lookup-asm" "$LOGDIR/checks/asm.log" bash scripts/check-lookup-asm.sh ;;
	symbols)
		run "check-symbols" "$LOGDIR/checks/symbols.log" bash scripts/check-symbols.sh ;;
	install)
		run "check-install" "$LOGDIR/checks/install.log" bash scripts/check-install.sh ;;
	extra)
		# LFMAP_CHECKS="a b" runs only scripts/checks.d/{a,b}.sh.
		for f in scripts/checks.d/*.sh; do
			[ -f "$f" ] || continue
			n=$(basename "$f" .sh)
			if [ -n "${LFMAP_CHECKS:-}" ] && ! [[ " $LFMAP_CHECKS " == *" $n "* ]]; then
				continue
			fi
			run "checks.d/$n" "$LOGDIR/extra/$n.log" \
				timeout -k 10 "${LFMAP_EXTRA_TIMEOUT:-900}" bash "$f"
			# A check may print summary lines starting with "summary:".
			grep -h '^summary:' "$LOGDIR/extra/$n.log" | sed 's/^/      /'
		done ;;
	esac
done

echo
if [ $failed -gt 0 ]; then
	echo "Failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
