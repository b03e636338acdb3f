#!/usr/bin/env bash
# scripts/check-symbols.sh - the shared library exports exactly the public API:
#  1. every defined dynamic symbol of liblfmap.so begins with lfmap_;
#  2. every function declared with LFMAP_API in include/lfmap/*.h (and
#     include/lfmap.h) is exported.
# Exported lfmap_ symbols that no header declares are reported as warnings.
# Usage: scripts/check-symbols.sh [path/to/liblfmap.so]
set -euo pipefail
cd "$(dirname "$0")/.."
so=${1:-build/release/liblfmap.so}
if [ ! -e "$so" ]; then
	echo "check-symbols: $so not found (build the release variant first)" >&2
	exit 2
fi

status=0
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

nm -D --defined-only "$so" | awk '{ print $NF }' | sed 's/@.*//' | sort -u >"$t/exported"
echo "check-symbols: $so exports $(wc -l <"$t/exported") symbols"

grep -v '^lfmap_' "$t/exported" >"$t/offenders" || true
if [ -s "$t/offenders" ]; then
	echo "FAIL: exported symbols without the lfmap_ prefix:"
	sed 's/^/    /' "$t/offenders"
	status=1
fi

# Declarations: from each LFMAP_API declaration (not the #define; joined with
# the following lines until its "("), the identifier right before the "(".
awk '
	/^[[:space:]]*#/ { next }
	buf != "" { buf = buf " " $0 }
	buf == "" && /LFMAP_API/ { buf = $0 }
	buf != "" && buf ~ /\(/ { print buf; buf = "" }
' include/lfmap.h include/lfmap/*.h >"$t/decl-lines"
sed -nE 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' "$t/decl-lines" |
	sort -u >"$t/declared"
if [ "$(wc -l <"$t/decl-lines")" -ne "$(sed -nE 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/p' "$t/decl-lines" | wc -l)" ]; then
	echo "FAIL: could not parse every LFMAP_API declaration:"
	sed 's/^/    /' "$t/decl-lines"
	status=1
fi
ndecl=$(wc -l <"$t/declared")
if [ "$ndecl" -eq 0 ]; then
	echo "FAIL: no LFMAP_API declarations found in include/"
	status=1
fi
echo "check-symbols: $ndecl LFMAP_API functions declared in include/"

comm -23 "$t/declared" "$t/exported" >"$t/missing"
if [ -s "$t/missing" ]; then
	echo "FAIL: declared LFMAP_API but not exported:"
	sed 's/^/    /' "$t/missing"
	status=1
fi

comm -13 "$t/declared" "$t/exported" | grep '^lfmap_' >"$t/extra" || true
if [ -s "$t/extra" ]; then
	echo "warning: exported but not declared LFMAP_API in include/:"
	sed 's/^/    /' "$t/extra"
fi

if [ $status -eq 0 ]; then echo "check-symbols: OK"; else echo "check-symbols: FAILED"; fi
exit $status
