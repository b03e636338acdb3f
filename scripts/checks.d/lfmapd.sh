#!/usr/bin/env bash
# scripts/checks.d/lfmapd.sh - lfmapd (examples/lfmapd) against real
# memcached clients (Debian libmemcached-tools), ~60 s:
#   1. memccapable -a: all 27 ASCII protocol tests must pass;
#   2. memcaslap with value verification (verify_failed: 0, no misses);
#   3. memcslap set and get loads;
#   4. a hostile client (examples/lfmapd/tests/badinput.py): oversized keys
#      and values, malformed commands, bad data chunks, garbage, over-long
#      lines, disconnects mid-command, an unread flood and 2000 idle
#      connections, while another client's data must stay intact;
#   5. the server shuts down cleanly on SIGTERM (exit 0: every item freed
#      through lfmap_destroy);
#   6. scale-out: three lfmapd instances behind libmemcached's ketama
#      consistent hashing (lfmapd-ketama-check) and memcaslap over the three
#      with verification.
# Every server listens on a kernel-chosen free loopback port (-p 0) and is
# killed on exit. Unless LFMAPD_ASAN=0, steps 1 and 4 also run against the
# ASan+UBSan build (build/debug/lfmapd, clang), which must exit 0 with no report.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
# fail, lfmapd_start, lfmapd_kill_all, lfmapd_capable, lfmapd_result
. scripts/checks.d/lib/lfmapd-common.sh

tmp=$(mktemp -d)
cleanup() {
	lfmapd_kill_all
	rm -rf "$tmp"
}
trap cleanup EXIT

for t in memccapable memcaslap memcslap python3 pkg-config; do
	command -v "$t" >/dev/null || { echo "lfmapd: $t missing (ci/deps.d/daemon.txt)"; exit 1; }
done
make --no-print-directory lfmapd lfmapd-ketama-check >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log"; echo "lfmapd: build failed"; exit 1; }

# start BIN NAME ARGS...: start a server on a free port (sets $port and
# NAME_pid); a server that does not start ends the check.
start() {
	local bin=$1 name=$2
	shift 2
	lfmapd_start "$name" "$bin" -p 0 "$@" || { echo "lfmapd: $name did not start"; exit 1; }
}

# caslap SERVERS THREADS LABEL
caslap() {
	local out=$tmp/caslap.$3
	timeout 60 memcaslap -s "$1" -T "$2" -c 16 -t 4s -v 0.2 >"$out" 2>&1
	local rc=$?
	cat "$out"
	local vf vm gets
	vf=$(sed -n 's/^verify_failed: *//p' "$out")
	vm=$(sed -n 's/^verify_misses: *//p' "$out")
	gets=$(sed -n 's/^cmd_get: *//p' "$out")
	tps=$(sed -n 's/.*TPS: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	if [ $rc -ne 0 ] || [ "$vf" != 0 ] || [ "$vm" != 0 ] || [ "${gets:-0}" -lt 1000 ]; then
		fail "memcaslap against $3: rc $rc verify_failed '$vf' verify_misses '$vm' cmd_get '$gets'"
	fi
	echo "summary: memcaslap ($3): verify_failed ${vf:-?}, verify_misses ${vm:-?}, $gets gets, $tps ops/s (4 s, noisy)"
}

# mcstat PORT NAME [SUBCOMMAND]: one value of `stats`
mcstat() {
	python3 -c '
import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=5)
s.sendall(("stats %s\r\n" % sys.argv[3]).encode()); b=b""
while not b.endswith(b"END\r\n"): b+=s.recv(65536)
print([l.split()[2].decode() for l in b.split(b"\r\n") if l.startswith(b"STAT %s " % sys.argv[2].encode())][0])' "$1" "$2" "${3:-}"
}

echo "== uptime: $(uptime)"
echo "== lfmapd -t 2"
start build/release/lfmapd main -t 2 -m 64
P=$port

echo "== memccapable -a"
lfmapd_capable "$P" lfmapd

echo "== memcaslap (verification on)"
caslap "127.0.0.1:$P" 2 lfmapd

echo "== memcslap set / get"
for t in set get; do
	if timeout 60 memcslap -s "127.0.0.1:$P" -c 4 -e 5000 -t $t >"$tmp/slap.$t" 2>&1 &&
		grep -q "Time to $t" "$tmp/slap.$t"; then
		sed 's/^/    /' "$tmp/slap.$t" | grep 'Time to'
	else
		cat "$tmp/slap.$t"
		fail "memcslap -t $t"
	fi
done
echo "summary: memcslap: set and get loads ($(grep -h 'Time to [sg]et .* by' "$tmp"/slap.* | sed -e 's/  */ /g' -e 's/^Time to //' | paste -sd';'))"

echo "== hostile client"
if timeout 120 python3 examples/lfmapd/tests/badinput.py 127.0.0.1 "$P" 2000 >"$tmp/bad" 2>&1; then :; else
	fail "badinput.py"
fi
grep -v '^ok' "$tmp/bad" || true
grep -c '^ok' "$tmp/bad" | sed 's/^/    checks ok: /'

echo "== memccapable again after the attacks"
lfmapd_capable "$P" "lfmapd after the attacks"

echo "== clean shutdown (SIGTERM)"
kill -TERM "$main_pid"
if timeout 20 tail --pid="$main_pid" -f /dev/null; then
	wait "$main_pid"
	rc=$?
	[ $rc -eq 0 ] || fail "lfmapd exited with $rc on SIGTERM"
	echo "    exit status $rc"
else
	fail "lfmapd did not exit within 20 s of SIGTERM"
fi

echo "== memory limit: lfmapd -m 8 under memcaslap with 4 kB values"
start build/release/lfmapd small -t 2 -m 8
timeout 60 memcaslap -s "127.0.0.1:$port" -T 2 -c 16 -t 3s -X 4000 -v 0.2 >"$tmp/caslap.small" 2>&1
vf=$(sed -n 's/^verify_failed: *//p' "$tmp/caslap.small")
bytes=$(mcstat "$port" bytes)
ev=$(mcstat "$port" evictions)
items=$(mcstat "$port" curr_items)
written=$(sed -n 's/^object_bytes: *//p' "$tmp/caslap.small")
echo "    written $written value bytes; bytes $bytes, curr_items $items, evictions $ev, verify_failed $vf"
[ "$vf" = 0 ] || fail "memcaslap with eviction: verify_failed '$vf'"
[ "${bytes:-999999999}" -le $((8 << 20)) ] || fail "bytes $bytes above the 8 MiB limit"
[ "${ev:-0}" -gt 0 ] || fail "no evictions although $written bytes were written into 8 MiB"
echo "summary: -m 8: $written value bytes written, $bytes bytes held (limit $((8 << 20))), $ev evictions, verify_failed ${vf:-?}"
kill -TERM "$small_pid"

echo "== scale-out: 3 instances, ketama"
ports=()
for i in 1 2 3; do
	start build/release/lfmapd k$i -t 1 -m 32
	ports+=("$port")
done
if ! timeout 60 build/release/lfmapd-ketama-check 5000 "${ports[@]}" >"$tmp/ketama" 2>&1; then
	fail "ketama check"
fi
cat "$tmp/ketama"
caslap "127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}" 4 "3 x lfmapd"
items=""
for p in "${ports[@]}"; do
	n=$(mcstat "$p" curr_items)
	items="$items $n"
	[ "${n:-0}" -gt 0 ] || fail "instance on port $p holds no items after memcaslap"
done
echo "summary: 3 x lfmapd after memcaslap: curr_items per instance:$items"

if [ "${LFMAPD_ASAN:-1}" = 1 ]; then
	echo "== ASan+UBSan build"
	if make --no-print-directory lfmapd-asan >"$tmp/asan-build" 2>&1; then
		start build/debug/lfmapd asan -t 2
		lfmapd_capable "$port" "lfmapd (ASan)"
		timeout 180 python3 examples/lfmapd/tests/badinput.py 127.0.0.1 "$port" 500 >"$tmp/bad-asan" 2>&1 ||
			{ cat "$tmp/bad-asan"; fail "badinput.py against the ASan build"; }
		kill -TERM "$asan_pid"
		wait "$asan_pid"
		rc=$?
		cat "$tmp/asan.err"
		[ $rc -eq 0 ] || fail "ASan lfmapd exited with $rc"
		grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$tmp/asan.err" &&
			fail "sanitizer report from the ASan lfmapd"
		echo "summary: ASan+UBSan lfmapd: memccapable + hostile client, exit $rc"
	else
		cat "$tmp/asan-build"
		fail "ASan build"
	fi
fi

lfmapd_result lfmapd
