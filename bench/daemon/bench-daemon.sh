#!/usr/bin/env bash
# bench/daemon/bench-daemon.sh - memcached (Debian) and lfmapd side by side on
# loopback, same worker threads, same memory limit, same client load:
#   caslap: memcaslap, read-mostly (its default 90% get / 10% set), fixed
#           128-byte values, BENCH_CONC connections, BENCH_SECS seconds;
#           throughput, get latency (avg, and p50/p99 from memcaslap's log2
#           histogram: upper bound of the bucket), set latency (avg);
#   slap:   memcslap -t get (4 client threads, blocking get after a load).
# The servers alternate, BENCH_ROUNDS rounds each; every run is a row of
# bench/results/daemon.tsv (appended; a header is written if the file is new),
# and medians are printed at the end. Besides throughput, each row has the
# server's CPU time per operation (user + system time of the whole server
# process from /proc/PID/stat across the run, divided by the operations):
# far less sensitive than throughput to other jobs sharing the machine. The clients run on the same machine and
# compete with the servers for its cores: compare the two servers with each
# other, not with other machines. Not part of make check (make bench-daemon).
# Environment: BENCH_THREADS (2), BENCH_ROUNDS (3), BENCH_SECS (8),
# BENCH_CONC (32), BENCH_OUT (bench/results/daemon.tsv).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
T=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECS:-8}
CONC=${BENCH_CONC:-32}
OUT=${BENCH_OUT:-bench/results/daemon.tsv}
tmp=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT

for t in memcached memcaslap memcslap; do
	command -v $t >/dev/null || { echo "bench-daemon: $t missing (ci/deps.d/daemon.txt)"; exit 1; }
done
[ -x build/release/lfmapd ] || { echo "bench-daemon: build/release/lfmapd missing (make lfmapd)"; exit 1; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # start SERVER -> $port, $srv
	port=$(free_port)
	case $1 in
	memcached) memcached -l 127.0.0.1 -p "$port" -U 0 -t "$T" -m 64 -c 4096 -u root \
			   >"$tmp/srv.log" 2>&1 & ;;
	lfmapd) build/release/lfmapd -p "$port" -t "$T" -m 64 -c 4096 >"$tmp/srv.log" 2>&1 & ;;
	esac
	srv=$!
	for _ in $(seq 100); do
		python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' \
			"$port" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-daemon: $1 did not start"; cat "$tmp/srv.log"; exit 1
}
stop() { kill "$srv"; wait "$srv" 2>/dev/null; srv=; }
# CPU ticks (user + system) used so far by the server process
ticks() { awk '{ print $14 + $15 }' "/proc/$srv/stat"; }
HZ=$(getconf CLK_TCK)
# cpu_per_op TICKS_BEFORE OPS: microseconds of server CPU per operation
cpu_per_op() {
	local t1
	t1=$(ticks)
	awk -v a="$1" -v b="$t1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1e6 / hz / n; else print "NA" }'
}

# percentile P of a memcaslap "Log2 Dist" block (stdin: the rows)
pct() {
	awk -v p="$1" '
		$1 ~ /^[0-9]+:$/ { base = $1 + 0; for (i = 2; i <= NF; i++) { n[base + i - 2] += $i; tot += $i } }
		END { if (!tot) { print "NA"; exit } acc = 0
		      for (k = 0; k < 64; k++) { acc += n[k]; if (acc >= p * tot) { print 2 ^ (k + 1); exit } } }'
}

[ -f "$OUT" ] || printf 'date\tloadavg1\tserver\tthreads\ttool\tworkload\tround\tops_per_s\tget_avg_us\tget_p50_us\tget_p99_us\tset_avg_us\tserver_cpu_us_per_op\n' >"$OUT"
echo "bench-daemon: $(nproc) cores, threads $T, $ROUNDS rounds, uptime: $(uptime)"

for r in $(seq "$ROUNDS"); do
	for s in memcached lfmapd; do
		start $s
		la=$(cut -d' ' -f1 /proc/loadavg)
		t0=$(ticks)
		timeout $((SECS + 30)) memcaslap -s "127.0.0.1:$port" -T 2 -c "$CONC" -X 128 -t "${SECS}s" -S "${SECS}s" \
			>"$tmp/caslap" 2>&1
		tps=$(sed -n 's/.*TPS: *\([0-9]*\).*/\1/p' "$tmp/caslap" | tail -1)
		nops=$(sed -n 's/.*Ops: *\([0-9]*\).*/\1/p' "$tmp/caslap" | tail -1)
		cpu=$(cpu_per_op "$t0" "${nops:-0}")
		# the final "Get Statistics (N events)" block and its Log2 histogram
		sed -n '/^Get Statistics (/,/^Set Statistics (/p' "$tmp/caslap" >"$tmp/get"
		sed -n '/^Set Statistics (/,/^Total Statistics/p' "$tmp/caslap" >"$tmp/set"
		gavg=$(awk '/Avg:/ { print $2; exit }' "$tmp/get")
		savg=$(awk '/Avg:/ { print $2; exit }' "$tmp/set")
		p50=$(pct 0.50 <"$tmp/get")
		p99=$(pct 0.99 <"$tmp/get")
		printf '%s\t%s\t%s\t%s\tmemcaslap\tget90-set10-128B-c%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
			"$(date -u +%FT%TZ)" "$la" $s "$T" "$CONC" "$r" "${tps:-NA}" "${gavg:-NA}" "$p50" "$p99" \
			"${savg:-NA}" "$cpu" | tee -a "$OUT"
		la=$(cut -d' ' -f1 /proc/loadavg)
		t0=$(ticks)
		timeout 120 memcslap -s "127.0.0.1:$port" -c 4 -e 10000 -t get >"$tmp/slap" 2>&1
		line=$(grep 'Time to get .* by' "$tmp/slap")
		ops=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "get") k = $(i + 1); t = $(NF - 1); if (t > 0) printf "%d", k / t }')
		# memcslap loads its keys with sets first, then times the gets:
		# the CPU figure covers both (sets + gets)
		nk=$(grep -h 'Time to [sg]et .* by\|Time to set [0-9]* keys' "$tmp/slap" | awk '{ s += $4 } END { print s + 0 }')
		cpu=$(cpu_per_op "$t0" "$nk")
		printf '%s\t%s\t%s\t%s\tmemcslap\tget-c4\t%s\t%s\tNA\tNA\tNA\tNA\t%s\n' \
			"$(date -u +%FT%TZ)" "$la" $s "$T" "$r" "${ops:-NA}" "$cpu" | tee -a "$OUT"
		stop
	done
done

echo "== medians of this run"
tail -n $((ROUNDS * 4)) "$OUT" | awk -F'\t' '
	{ k = $3 " " $5; v[k, ++n[k]] = $8; g[k, n[k]] = $13 }
	END { for (k in n) { m = n[k]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[k, j] + 0 < v[k, i] + 0) { t = v[k, i]; v[k, i] = v[k, j]; v[k, j] = t }
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (g[k, j] + 0 < g[k, i] + 0) { t = g[k, i]; g[k, i] = g[k, j]; g[k, j] = t }
		printf "%-22s median %s ops/s, median server CPU %s us/op\n", k, v[k, int((m + 1) / 2)], g[k, int((m + 1) / 2)] } }' | sort
echo "bench-daemon: rows appended to $OUT; uptime after: $(uptime)"
