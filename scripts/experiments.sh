#!/usr/bin/env bash
# scripts/experiments.sh - barrier-removal experiments (issue 3, section 3).
#
# Builds lfmap-stress once per experiment variant (lib/*.c + stress/*.c
# compiled directly with -DLFM_EXPERIMENT_<NAME>, see lib/internal.h), runs
# each on the same seeds and knobs, and writes a table of the anomalies the
# checker classifies to bench/results/barrier-experiments.md. Not part of
# `make check`; run by `make experiments`. About 3-5 minutes.
#
#   variant            macro                            removes
#   barrier            (none: the real map)             nothing
#   barrier+delay      LFM_EXPERIMENT                   nothing (delay hook only)
#   no-freeze          LFM_EXPERIMENT_NO_FREEZE         value-word freezing (I4)
#   forward-first      LFM_EXPERIMENT_FORWARD_FIRST     copy-before-forward (I7)
#   reader-no-forward  LFM_EXPERIMENT_READER_NO_FORWARD readers' FORWARDED check (I7)
#   plain-copy         LFM_EXPERIMENT_PLAIN_COPY        CAS-from-EMPTY copies (I6)
#
# Environment: SEEDS (default "1 2 3"), DUR (seconds per run, default 1),
# OUT (default bench/results/barrier-experiments.md).
set -u
cd "$(dirname "$0")/.." || exit 2

SEEDS=${SEEDS:-"1 2 3"}
DUR=${DUR:-1}
OUT=${OUT:-bench/results/barrier-experiments.md}
EXP=build/exp
LOGS=$EXP/logs
URCU_LIBS=$(pkg-config --libs liburcu-memb 2>/dev/null || echo "-lurcu-memb -lurcu-common")
CFLAGS_COMMON="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Ilib"

VARIANTS="barrier barrier+delay no-freeze forward-first reader-no-forward plain-copy"
TSAN_VARIANTS="barrier no-freeze plain-copy"

macro() {
	case $1 in
	barrier) echo "" ;;
	barrier+delay) echo "-DLFM_EXPERIMENT" ;;
	no-freeze) echo "-DLFM_EXPERIMENT_NO_FREEZE" ;;
	forward-first) echo "-DLFM_EXPERIMENT_FORWARD_FIRST" ;;
	reader-no-forward) echo "-DLFM_EXPERIMENT_READER_NO_FORWARD" ;;
	plain-copy) echo "-DLFM_EXPERIMENT_PLAIN_COPY" ;;
	esac
}

rm -rf "$LOGS"
mkdir -p "$LOGS" "$(dirname "$OUT")"

echo "== building"
for v in $VARIANTS; do
	mkdir -p "$EXP/$v"
	# shellcheck disable=SC2046,SC2086
	gcc $CFLAGS_COMMON -O2 -g $(macro "$v") lib/*.c stress/*.c \
		-o "$EXP/$v/lfmap-stress" $URCU_LIBS -lpthread || { echo "build $v failed" >&2; exit 2; }
done
for v in $TSAN_VARIANTS; do
	mkdir -p "$EXP/$v"
	# shellcheck disable=SC2046,SC2086
	clang $CFLAGS_COMMON -O1 -g -fsanitize=thread -fno-omit-frame-pointer $(macro "$v") \
		lib/*.c stress/*.c -o "$EXP/$v/lfmap-stress-tsan" $URCU_LIBS -lpthread ||
		{ echo "tsan build $v failed" >&2; exit 2; }
done

# Workloads: name|delay|args. Same for every variant.
WORKLOADS="mixed-k64|none|-t 8 -w 1 -r 1 -k 64 -H 250000
mixed-k64-yield|yield|-t 8 -w 1 -r 1 -k 64 -H 250000
write-k16-yield|yield|-t 8 -w 1 -r 1 -k 16 -m write -i 2000 -H 250000"
TSAN_WORKLOAD="-t 4 -w 1 -r 1 -k 64 -H 100000"

CLASSES="lost_insert lost_update resurrected_remove stale_read duplicate_key phantom_value end_state bad_response nonlinearizable"

# run <variant> <binary> <tag> <delay> <args...>: one run, log in $LOGS.
run() {
	local v=$1 bin=$2 tag=$3 delay=$4
	shift 4
	local log="$LOGS/$v.$tag.log"
	local env_delay=()
	[ "$delay" != none ] && env_delay=(LFM_EXPERIMENT_DELAY="$delay")
	env "${env_delay[@]}" TSAN_OPTIONS="exitcode=66 halt_on_error=0 report_signal_unsafe=0" \
		timeout 120 "$bin" -q "$@" >"$log" 2>&1
	echo "rc $?" >>"$log"
	printf '  %-18s %-22s %s\n' "$v" "$tag" "$(grep -E '^(PASS|FAIL)' "$log" | tail -1) $(tail -1 "$log")"
}

echo "== running (seeds: $SEEDS, ${DUR}s per run)"
for v in $VARIANTS; do
	while IFS='|' read -r wname delay args; do
		for s in $SEEDS; do
			# shellcheck disable=SC2086
			run "$v" "$EXP/$v/lfmap-stress" "gcc.$wname.s$s" "$delay" -s "$s" -d "$DUR" $args
		done
	done <<<"$WORKLOADS"
done
for v in $TSAN_VARIANTS; do
	for s in $SEEDS; do
		# shellcheck disable=SC2086
		run "$v" "$EXP/$v/lfmap-stress-tsan" "tsan.s$s" yield -s "$s" -d "$DUR" $TSAN_WORKLOAD
	done
done

# summarise <variant> <glob>: one markdown row.
summarise() {
	local v=$1 build=$2 pat=$3
	# shellcheck disable=SC2086 # $pat is a glob, expanded on purpose
	awk -v v="$v" -v build="$build" -v classes="$CLASSES" '
		FNR == 1 { runs++; bad = 0; tsan = 0 }
		/ ops recorded/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "ops" && $(i + 2) == "recorded") ops += $i }
		/^[a-z_]+ +[0-9]+$/ { cnt[$1] += $2; if ($1 != "undecided" && $2 > 0) bad = 1 }
		/^WARNING: ThreadSanitizer/ { tsanrep++; tsan = 1 }
		/^FAIL [0-9]+ unexpected/ { unexp += $2 }
		/^rc / { if (bad) badruns++; if (tsan) tsanruns++; if ($2 != 0 && $2 != 1 && $2 != 66) crash++ }
		END {
			n = split(classes, c, " ")
			row = sprintf("| %s | %s | %d | %.1fM |", v, build, runs, ops / 1e6)
			for (i = 1; i <= n; i++) row = row sprintf(" %d |", cnt[c[i]])
			row = row sprintf(" %d |", unexp)
			row = row sprintf(" %d/%d |", badruns, runs)
			row = row (build == "tsan" ? sprintf(" %d (%d/%d runs) |", tsanrep, tsanruns, runs) : " - |")
			row = row sprintf(" %d |", crash)
			print row
		}' $pat
}

{
	echo "# Barrier-removal experiments"
	echo
	echo "Generated by \`scripts/experiments.sh\` (\`make experiments\`) on $(date -u +%Y-%m-%d), $(nproc) CPUs,"
	echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')."
	echo "Seeds: $SEEDS; ${DUR} s per run (runs end earlier when the per-thread history (-H) is full)."
	echo
	echo "Workloads (gcc -O2 builds), each with every seed:"
	echo
	while IFS='|' read -r wname delay args; do
		echo "- \`$wname\`: \`lfmap-stress -s SEED -d $DUR $args\`, LFM_EXPERIMENT_DELAY=$delay"
	done <<<"$WORKLOADS"
	echo "- TSan (clang -fsanitize=thread -O1): \`lfmap-stress -s SEED -d $DUR $TSAN_WORKLOAD\`, LFM_EXPERIMENT_DELAY=yield"
	echo
	echo "Variants: \`barrier\` is the real map (no experiment macro); \`barrier+delay\` is the real map"
	echo "with the delay hook compiled in (\`-DLFM_EXPERIMENT\`); each other variant removes one part of"
	echo "the evacuation barrier (lib/internal.h, docs/DESIGN.md section 5)."
	echo
	echo "Counts are violating operations per class as printed by lfmap-stress's summary, summed over"
	echo "the runs; \`unexp. rc\` = unexpected return codes; \`runs bad\` = runs with at least one"
	echo "violation; \`TSan\` = ThreadSanitizer warnings; \`crash\` = runs that exited other than 0/1/66."
	echo
	printf '| variant | build | runs | ops |'
	for c in $CLASSES; do printf ' %s |' "$c"; done
	echo " unexp. rc | runs bad | TSan | crash |"
	printf '|---|---|---|---|'
	for c in $CLASSES; do printf -- '---|'; done
	echo "---|---|---|---|"
	for v in $VARIANTS; do
		summarise "$v" gcc "$LOGS/$v.gcc.*.log"
	done
	for v in $TSAN_VARIANTS; do
		summarise "$v" tsan "$LOGS/$v.tsan.*.log"
	done
	echo
	echo "Logs (with replay lines): \`$LOGS/\`."
} >"$OUT"

echo "== wrote $OUT"
cat "$OUT"
