# shellcheck shell=bash
# scripts/checks.d/lib/lfmapd-common.sh - helpers shared by the lfmapd checks
# (checks.d/lfmapd.sh, checks.d/lfmapd-install.sh). Sourced with bash, not a
# check itself: scripts/run-tests.sh runs only scripts/checks.d/*.sh, and this
# file sits one directory below.
#
#   fail MSG...               count a failure (in $failed) and print it
#   lfmapd_start NAME CMD...  run CMD (an lfmapd, with -p 0) in the
#                             background, stderr to $tmp/NAME.err, and wait
#                             until it prints its port: sets $port and
#                             NAME_pid, appends the pid to lfmapd_pids;
#                             returns 1 (after printing the stderr) if it
#                             did not start within 5 s
#   lfmapd_kill_all           kill and reap every server lfmapd_start started
#                             that the shell has not reaped yet (EXIT trap)
#   lfmapd_capable PORT LABEL memccapable -a: all 27 ASCII tests must pass;
#                             prints the output and a summary line
#   lfmapd_result NAME        print "NAME: OK" or the failure count; returns
#                             the check's status
# The caller sets tmp to a scratch directory first.

failed=0
lfmapd_pids=()

fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

lfmapd_start() {
	local name=$1
	shift
	# shellcheck disable=SC2154 # tmp: set by the sourcing check
	"$@" 2>"$tmp/$name.err" &
	lfmapd_pids+=($!)
	eval "${name}_pid=$!"
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.err")
		[ -n "$port" ] && return 0
		sleep 0.05
	done
	cat "$tmp/$name.err"
	return 1
}

lfmapd_kill_all() {
	# only servers not reaped yet (jobs -p): a reaped pid may be reused
	local p live
	live=" $(jobs -p | tr '\n' ' ') "
	for p in "${lfmapd_pids[@]}"; do
		[[ $live == *" $p "* ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	lfmapd_pids=()
}

lfmapd_capable() {
	local out=$tmp/capable.$2 rc npass
	timeout 60 memccapable -h 127.0.0.1 -p "$1" -a >"$out" 2>&1
	rc=$?
	npass=$(grep -c '\[pass\]' "$out")
	cat "$out"
	if [ $rc -ne 0 ] || ! grep -q 'All tests passed' "$out" || [ "$npass" -ne 27 ]; then
		fail "memccapable -a against $2 (rc $rc, $npass/27 passed)"
	fi
	echo "summary: memccapable -a ($2): $npass/27 ASCII tests passed, none skipped"
}

lfmapd_result() {
	if [ $failed -eq 0 ]; then echo "$1: OK"; else echo "$1: $failed failure(s)"; fi
	[ $failed -eq 0 ]
}
