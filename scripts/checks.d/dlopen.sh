#!/usr/bin/env bash
# dlopen: liblfmap.so loads with dlopen() into a program not linked with
# liburcu, and works (tests/dlopen/dlopen.c says why this can break).
# Budget: 5 s.
set -euo pipefail
so=build/release/liblfmap.so.0
[ -e $so ] || { echo "dlopen: $so not built" >&2; exit 2; }
mkdir -p build/release/dlopen
gcc -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -Iinclude tests/dlopen/dlopen.c \
	-o build/release/dlopen/dlopen -ldl
out=$(timeout 30 build/release/dlopen/dlopen "$PWD/$so")
echo "$out"
echo "summary: $out"
