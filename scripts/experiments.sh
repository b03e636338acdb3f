#!/usr/bin/env bash
# scripts/experiments.sh - the race-reproduction experiments (issue 3,
# section 3): the real map and each barrier-less variant on the same
# workloads and seeds. `make experiment` runs it; docs/EXPERIMENTS.md
# interprets the results.
#
# Every variant is lfmap-stress linked with lib/*.c compiled with one macro
# (lib/internal.h):
#   variant         macro                          removes
#   barrier         LFM_EXPERIMENT                 nothing: the real map, with
#                                                  the same delay hook as the
#                                                  others (a fair control)
#   nofreeze        LFM_EXPERIMENT_NOFREEZE        all freezing (I4, I5)
#   head-only       LFM_EXPERIMENT_HEAD_ONLY       freezing of overflow control words (I5)
#   early-forward   LFM_EXPERIMENT_EARLY_FORWARD   copy-before-forward (I7)
#   no-recheck      LFM_EXPERIMENT_NO_RECHECK      readers' FORWARDED check (I7)
#   lagging-helper  LFM_EXPERIMENT_LAGGING_HELPER  CAS-from-EMPTY copies (I6)
#
# Outputs (OUTDIR, default stress/results):
#   experiment.tsv  raw sums per variant, tab-separated, header first:
#                   variant runs ops lost_insert lost_update resurrected
#                   stale_read duplicate tsan_reports runs_with_anomaly
#                   median_ops_to_first
#                   (class columns and tsan_reports are counts summed over
#                   the runs; runs_with_anomaly is a count of runs; the
#                   printed table divides: per million ops, share of runs)
#   experiment.md   the printed table plus the classes the TSV has no column
#                   for, and the exact commands
#   experiment.png  bar chart (gnuplot): anomalies per million ops by class
# Exit status: 0 if the barrier row is all zeros (TSan included) and every
# variant reproduces at least one anomaly; 1 otherwise; 2 on build errors.
#
# Environment:
#   SEEDS   seeds per workload (default "1 2 3")      DUR  seconds/run (default 1)
#   LONG=1  10 seeds, 3 s per run (about 25 minutes)
#   SMOKE=1 make check's form: 1 seed, 2 workloads, no TSan runs, results
#           under build/exp/smoke; passes if the barrier row is all zeros
#           and at least two variants reproduce
#   VARIANTS, OUTDIR  override the lists above
set -u
cd "$(dirname "$0")/.." || exit 2

SEEDS=${SEEDS:-"1 2 3"}
DUR=${DUR:-1}
if [ "${LONG:-0}" = 1 ]; then SEEDS="1 2 3 4 5 6 7 8 9 10"; DUR=3; fi
SMOKE=${SMOKE:-0}
ALL_VARIANTS="barrier nofreeze head-only early-forward no-recheck lagging-helper"
VARIANTS=${VARIANTS:-$ALL_VARIANTS}
OUTDIR=${OUTDIR:-stress/results}
EXP=build/exp
[ "$SMOKE" = 1 ] && { SEEDS=1; OUTDIR=$EXP/smoke; }
LOGS=$EXP/logs
URCU_LIBS=$(pkg-config --libs liburcu-memb 2>/dev/null || echo "-lurcu-memb -lurcu-common")
CFLAGS_COMMON="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Ilib -g"

macro() {
	case $1 in
	barrier) echo "-DLFM_EXPERIMENT" ;;
	nofreeze) echo "-DLFM_EXPERIMENT_NOFREEZE" ;;
	head-only) echo "-DLFM_EXPERIMENT_HEAD_ONLY" ;;
	early-forward) echo "-DLFM_EXPERIMENT_EARLY_FORWARD" ;;
	no-recheck) echo "-DLFM_EXPERIMENT_NO_RECHECK" ;;
	lagging-helper) echo "-DLFM_EXPERIMENT_LAGGING_HELPER" ;;
	*) echo "unknown variant $1" >&2; return 1 ;;
	esac
}

# Workloads: name|LFM_EXPERIMENT_DELAY|lfmap-stress arguments. Every variant
# runs every workload with every seed. Small key ranges and a resize every
# millisecond keep the map migrating; the delay widens the racy windows
# (between freeze and copy, copy and forward, chain walk and append).
WORKLOADS="mixed-k64|none|-t 8 -w 1 -r 1 -k 64 -H 250000
mixed-k64-yield|yield|-t 8 -w 1 -r 1 -k 64 -H 250000
write-k16-yield|yield|-t 8 -w 1 -r 1 -k 16 -m write -i 2000 -H 250000
chains-k1024-yield|yield|-t 16 -w 1 -r 1 -k 1024 -G 100 -m write -H 250000"
[ "$SMOKE" = 1 ] && WORKLOADS=$(grep -E '^(mixed-k64-yield|chains-k1024-yield)\|' <<<"$WORKLOADS")
TSAN_WORKLOAD="-t 4 -w 1 -r 1 -k 64 -H 100000"
TSAN_SEED=1

rm -rf "$LOGS"
mkdir -p "$LOGS" "$OUTDIR"

echo "== experiment: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "== building: $VARIANTS"
build() { # variant compiler-kind
	local v=$1 kind=$2 out
	mkdir -p "$EXP/$v"
	if [ "$kind" = gcc ]; then
		out=$EXP/$v/lfmap-stress
		# shellcheck disable=SC2046,SC2086
		gcc $CFLAGS_COMMON -O2 $(macro "$v") lib/*.c stress/*.c -o "$out" \
			$URCU_LIBS -lpthread
	else
		out=$EXP/$v/lfmap-stress-tsan
		# shellcheck disable=SC2046,SC2086
		clang $CFLAGS_COMMON -O1 -fsanitize=thread -fno-omit-frame-pointer $(macro "$v") \
			lib/*.c stress/*.c -o "$out" $URCU_LIBS -lpthread
	fi
}
pids=()
for v in $VARIANTS; do
	build "$v" gcc >"$LOGS/build.$v.gcc.log" 2>&1 &
	pids+=($!)
	if [ "$SMOKE" != 1 ]; then
		build "$v" tsan >"$LOGS/build.$v.tsan.log" 2>&1 &
		pids+=($!)
	fi
	if [ ${#pids[@]} -ge 4 ]; then wait "${pids[@]}" || true; pids=(); fi
done
wait
for v in $VARIANTS; do
	for k in gcc tsan; do
		[ "$SMOKE" = 1 ] && [ $k = tsan ] && continue
		b=$EXP/$v/lfmap-stress; [ $k = tsan ] && b=$b-tsan
		if [ ! -x "$b" ] || [ "$b" -ot lib/migrate.c ]; then
			echo "build of $v ($k) failed:" >&2
			cat "$LOGS/build.$v.$k.log" >&2
			exit 2
		fi
	done
done

# run <variant> <binary> <tag> <delay> <args...>: one run, log in $LOGS.
run() {
	local v=$1 bin=$2 tag=$3 delay=$4
	shift 4
	local log="$LOGS/$v.$tag.log"
	local env_delay=()
	[ "$delay" != none ] && env_delay=(LFM_EXPERIMENT_DELAY="$delay")
	env ${env_delay[@]+"${env_delay[@]}"} \
		TSAN_OPTIONS="exitcode=66 halt_on_error=0 report_signal_unsafe=0" \
		timeout 300 "$bin" -q "$@" >"$log" 2>&1
	echo "rc $?" >>"$log"
	printf '  %-15s %-26s %s\n' "$v" "$tag" \
		"$(grep -E '^result:' "$log" | sed 's/^result: //; s/ end_state.*ops_to_first/ ... first/') $(tail -1 "$log")"
}

echo "== running: seeds $SEEDS, ${DUR}s per run"
for v in $VARIANTS; do
	while IFS='|' read -r wname delay args; do
		for s in $SEEDS; do
			# shellcheck disable=SC2086
			run "$v" "$EXP/$v/lfmap-stress" "gcc.$wname.s$s" "$delay" -s "$s" -d "$DUR" $args
		done
	done <<<"$WORKLOADS"
	if [ "$SMOKE" != 1 ]; then
		# shellcheck disable=SC2086
		run "$v" "$EXP/$v/lfmap-stress-tsan" "tsan.s$TSAN_SEED" yield -s "$TSAN_SEED" \
			-d "$DUR" $TSAN_WORKLOAD
	fi
done

# ---- aggregate: one line per variant (every gcc run; TSan reports from the
# TSan run). Fields as in the TSV, then the extra classes.
EXTRA="end_state phantom bad_response nonlinearizable unexpected_rc crashes"
agg() {
	local v=$1
	awk -v v="$v" '
		function flush() {
			if (!open) return
			runs++
			if (anom) { runs_anom++; firsts[++nf] = first }
			open = 0
		}
		FNR == 1 { flush(); open = 1; anom = 0; first = -1 }
		/^result:/ {
			for (i = 2; i < NF; i += 2) r[$i] = $(i + 1)
			ops += r["ops"]
			n = split("lost_insert lost_update resurrected stale_read duplicate end_state phantom bad_response nonlinearizable unexpected_rc", cl, " ")
			for (j = 1; j <= n; j++) { cnt[cl[j]] += r[cl[j]]; if (r[cl[j]] > 0) anom = 1 }
			if (r["ops_to_first"] != "-") first = r["ops_to_first"] + 0
		}
		/^rc / { if ($2 != 0 && $2 != 1) { crashes++; anom = 1; if (first < 0) first = 0 } }
		END {
			flush()
			# median of the runs with an anomaly
			for (i = 1; i <= nf; i++) for (j = i + 1; j <= nf; j++)
				if (firsts[j] < firsts[i]) { t = firsts[i]; firsts[i] = firsts[j]; firsts[j] = t }
			med = "-"
			if (nf > 0) med = (nf % 2) ? firsts[(nf + 1) / 2] : int((firsts[nf / 2] + firsts[nf / 2 + 1]) / 2)
			printf "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t", v, runs, ops, cnt["lost_insert"], cnt["lost_update"], cnt["resurrected"], cnt["stale_read"], cnt["duplicate"]
			printf "TSAN\t%d\t%s", runs_anom, med
			printf "\t%d\t%d\t%d\t%d\t%d\t%d\n", cnt["end_state"], cnt["phantom"], cnt["bad_response"], cnt["nonlinearizable"], cnt["unexpected_rc"], crashes
		}' "$LOGS/$v".gcc.*.log
}
AGG=$EXP/agg.tsv
: >"$AGG"
for v in $VARIANTS; do
	line=$(agg "$v")
	tsan=-
	if [ "$SMOKE" != 1 ]; then
		tl=$LOGS/$v.tsan.s$TSAN_SEED.log
		tsan=$(grep -c 'WARNING: ThreadSanitizer' "$tl")
		# a TSan run that crashed or did not finish counts as an anomaly
		trc=$(sed -n 's/^rc //p' "$tl")
		[ "$trc" != 0 ] && [ "$trc" != 1 ] && [ "$trc" != 66 ] && tsan="$tsan(rc$trc)"
	fi
	echo "${line/TSAN/$tsan}" >>"$AGG"
done

TSV=$OUTDIR/experiment.tsv
{
	printf 'variant\truns\tops\tlost_insert\tlost_update\tresurrected\tstale_read\tduplicate\ttsan_reports\truns_with_anomaly\tmedian_ops_to_first\n'
	cut -f1-11 "$AGG"
} >"$TSV"

# ---- the table (per million ops, share of runs)
table() {
	awk -F'\t' -v smoke="$SMOKE" '
		BEGIN {
			printf "| variant | runs | ops | lost insert | lost update | resurrected | stale read | duplicate | other | TSan reports | runs with anomaly | median ops to first |\n"
			printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
		}
		{
			m = $3 / 1e6
			other = $12 + $13 + $14 + $15 + $16 + $17
			printf "| %s | %d | %.1fM |", $1, $2, m
			for (i = 4; i <= 8; i++) printf " %s |", ($i == 0 ? "0" : sprintf("%.2f", $i / m))
			printf " %s |", (other == 0 ? "0" : sprintf("%.2f", other / m))
			printf " %s | %d/%d (%.0f%%) | %s |\n", $9, $10, $2, 100 * $10 / $2, $11
		}' "$AGG"
}

MD=$OUTDIR/experiment.md
{
	echo "# Race-reproduction experiments"
	echo
	echo "\`scripts/experiments.sh\`$([ "$SMOKE" = 1 ] && echo ' (SMOKE=1)') on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)),"
	echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- lib stress 2>/dev/null || echo ' + uncommitted changes to lib/ or stress/')."
	echo
	echo "Anomalies are violating operations per **million operations**, as classified by"
	echo "stress/checker.c (\`other\`: end-state, phantom, bad-response and unclassified"
	echo "non-linearizable violations, unexpected return codes, crashes). TSan reports come from one"
	echo "ThreadSanitizer run per variant (\`$TSAN_WORKLOAD\`, seed $TSAN_SEED, delay yield)."
	echo "\`median ops to first\`: over the runs with an anomaly, the operations that had completed"
	echo "when the first violating operation completed."
	echo
	table
	echo
	echo "Extra classes (counts summed over runs): variant, end_state, phantom, bad_response,"
	echo "nonlinearizable, unexpected_rc, crashes:"
	echo
	echo '```'
	cut -f1,12- "$AGG"
	echo '```'
	echo
	echo "Workloads (seeds $SEEDS, ${DUR} s per run; a run also ends when a thread's history (-H) is full):"
	echo
	while IFS='|' read -r wname delay args; do
		echo "- \`$wname\`: \`lfmap-stress -s SEED -d $DUR $args\`, LFM_EXPERIMENT_DELAY=$delay"
	done <<<"$WORKLOADS"
	echo
	echo "Logs with replay lines: \`$LOGS/\`."
} >"$MD"

echo
table
echo
echo "== wrote $TSV, $MD"

# ---- chart (not in SMOKE mode)
if [ "$SMOKE" != 1 ] && command -v gnuplot >/dev/null 2>&1; then
	DAT=$EXP/chart.dat
	awk -F'\t' '{ m = $3 / 1e6; o = $12 + $13 + $14 + $15 + $16 + $17
		printf "%s %g %g %g %g %g %g\n", $1, $4 / m, $5 / m, $6 / m, $7 / m, $8 / m, o / m }' "$AGG" >"$DAT"
	gnuplot <<EOF 2>"$LOGS/gnuplot.log" && echo "== wrote $OUTDIR/experiment.png" || echo "gnuplot failed: $LOGS/gnuplot.log"
set terminal pngcairo size 1100,600 noenhanced
set output '$OUTDIR/experiment.png'
set title 'Anomalies per million operations, by variant and class (0 is drawn as nothing)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y
set yrange [0.01:*]
set ylabel 'anomalies per million ops (log scale)'
set key outside right top
set grid ytics
set xtics rotate by -20
plot '$DAT' using (\$2 > 0 ? \$2 : 1/0):xtic(1) title 'lost insert', \
     '' using (\$3 > 0 ? \$3 : 1/0) title 'lost update', \
     '' using (\$4 > 0 ? \$4 : 1/0) title 'resurrected', \
     '' using (\$5 > 0 ? \$5 : 1/0) title 'stale read', \
     '' using (\$6 > 0 ? \$6 : 1/0) title 'duplicate', \
     '' using (\$7 > 0 ? \$7 : 1/0) title 'other'
EOF
fi

# ---- verdict
awk -F'\t' -v smoke="$SMOKE" '
	{ bad = ($4 + $5 + $6 + $7 + $8 + $12 + $13 + $14 + $15 + $16 + $17) > 0 || ($9 != "-" && $9 != "0") }
	$1 == "barrier" { if (bad) { print "FAIL: the real map (barrier) shows anomalies"; fail = 1 } next }
	{ nvar++; if (bad) repro++; else missing = missing " " $1 }
	END {
		if (smoke) {
			if (repro < 2) { printf "FAIL: only %d barrier-less variants reproduced (need 2)\n", repro; fail = 1 }
		} else if (missing != "") { print "FAIL: no anomaly from:" missing; fail = 1 }
		if (!fail) printf "PASS: barrier clean; %d of %d barrier-less variants reproduced\n", repro, nvar
		exit fail
	}' "$AGG"
