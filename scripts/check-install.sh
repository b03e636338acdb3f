#!/usr/bin/env bash
# scripts/check-install.sh - `make install` into a scratch DESTDIR, then build
# a small client against the installed copy through pkg-config (shared and
# static), run it, and check the soname, the symlinks, lfmap.pc and that the
# version numbers agree (header, Makefile, ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fail() { echo "check-install: FAIL: $*"; exit 1; }

echo "== make install DESTDIR=$dest PREFIX=/usr"
make --no-print-directory install DESTDIR="$dest" PREFIX=/usr
lib=$dest/usr/lib
(cd "$dest" && find . \( -type f -o -type l \) | sort | sed 's/^/    /')

for f in usr/include/lfmap.h usr/include/lfmap/common.h usr/include/lfmap/node.h \
	 usr/include/lfmap/word.h usr/include/lfmap/str.h usr/lib/liblfmap.a \
	 usr/lib/liblfmap.so.0.1.0 usr/lib/pkgconfig/lfmap.pc; do
	[ -f "$dest/$f" ] || fail "$f not installed"
done
[ "$(readlink "$lib/liblfmap.so.0")" = liblfmap.so.0.1.0 ] || fail "liblfmap.so.0 symlink"
[ "$(readlink "$lib/liblfmap.so")" = liblfmap.so.0 ] || fail "liblfmap.so symlink"

soname=$(readelf -d "$lib/liblfmap.so.0.1.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "== soname: $soname"
[ "$soname" = liblfmap.so.0 ] || fail "soname is '$soname', want liblfmap.so.0"

# Versions: header macros, Makefile, ninja/rules.ninja, lfmap.pc.
hv=$(awk '/#define LFMAP_VERSION_(MAJOR|MINOR|PATCH)/ { v = v (v == "" ? "" : ".") $3 } END { print v }' \
	include/lfmap/common.h)
mv=$(sed -n 's/^VERSION *= *//p' Makefile)
nv=$(sed -n 's/^so_version *= *//p' ninja/rules.ninja)
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
pv=$(pkg-config --modversion lfmap)
echo "== versions: header $hv, Makefile $mv, ninja $nv, lfmap.pc $pv"
[ "$hv" = "$mv" ] && [ "$mv" = "$nv" ] && [ "$nv" = "$pv" ] || fail "version mismatch"

cat >"$dest/client.c" <<'C'
#include <lfmap.h>
#include <urcu/urcu-memb.h>
#include <stdio.h>
int main(void)
{
	uint64_t v = 0;
	urcu_memb_register_thread();
	struct lfmap *m = lfmap_word_create(NULL);
	int ok = m && lfmap_word_put(m, 42, 4242, NULL) == 0 &&
		 lfmap_word_get(m, 42, &v) == 0 && v == 4242 &&
		 lfmap_word_get(m, 43, &v) < 0 && lfmap_destroy(m) == 0;
	urcu_memb_unregister_thread();
	printf("client: %s (value %llu)\n", ok ? "ok" : "FAILED", (unsigned long long)v);
	return ok ? 0 : 1;
}
C
# pkgconf drops -I/usr/include and -L/usr/lib as system directories before
# prepending the sysroot; keep them so the DESTDIR copy is the one used.
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
flags=$(pkg-config --cflags --libs lfmap)
echo "== pkg-config --cflags --libs lfmap: $flags"
case $flags in *"-I$dest/usr/include"*) ;; *) fail "Cflags do not point into DESTDIR" ;; esac
case $flags in *"-L$dest/usr/lib"*) ;; *) fail "Libs do not point into DESTDIR" ;; esac

echo "== shared client"
# shellcheck disable=SC2086
gcc -std=c11 -Wall -Wextra -Werror "$dest/client.c" -o "$dest/client" $flags
readelf -d "$dest/client" | grep -q 'NEEDED.*\[liblfmap.so.0\]' || fail "client does not need liblfmap.so.0"
resolved=$(LD_LIBRARY_PATH=$lib ldd "$dest/client" | awk '/liblfmap/ { print $3 }')
echo "   liblfmap.so.0 => $resolved"
[ "$resolved" = "$lib/liblfmap.so.0" ] || fail "client resolves liblfmap to '$resolved'"
LD_LIBRARY_PATH=$lib "$dest/client" || fail "shared client failed"

echo "== static client (pkg-config --static, liblfmap.a)"
sflags=$(pkg-config --static --cflags --libs lfmap)
# shellcheck disable=SC2086
gcc -std=c11 -Wall -Wextra -Werror "$dest/client.c" -o "$dest/client-static" \
	$(echo " $sflags " | sed 's/ -llfmap / -l:liblfmap.a /')
readelf -d "$dest/client-static" | grep -q 'NEEDED.*liblfmap' && fail "static client needs liblfmap.so"
"$dest/client-static" || fail "static client failed"

echo "check-install: OK"
