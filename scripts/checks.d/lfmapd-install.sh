#!/usr/bin/env bash
# scripts/checks.d/lfmapd-install.sh - the installed copy is what an embedder
# gets (~15 s):
#   1. `make install DESTDIR=$tmp PREFIX=/usr` and `make install-man` (the
#      man pages of docs/man/man3, from mk/lfmapd.mk);
#   2. lfmapd and a two-line client are built against the INSTALLED headers
#      and library only, through pkg-config (PKG_CONFIG_SYSROOT_DIR and
#      PKG_CONFIG_PATH into the DESTDIR); lfmapd shared and static;
#   3. both run: the client does a put/get, the installed-build lfmapd
#      passes memccapable -a and shuts down cleanly;
#   4. man pages: every exported lfmap_* symbol of the built and of the
#      installed liblfmap.so (nm -D) has an installed page that man renders
#      without warnings, and the committed pages are what docs/man/gen-man.sh
#      generates from the current headers (no stale page).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
# fail, lfmapd_start, lfmapd_kill_all, lfmapd_capable, lfmapd_result
. scripts/checks.d/lib/lfmapd-common.sh
dest=$(mktemp -d)
tmp=$dest
cleanup() {
	lfmapd_kill_all
	rm -rf "$dest"
}
trap cleanup EXIT

echo "== make install + install-man DESTDIR=$dest PREFIX=/usr"
if ! make --no-print-directory install install-man DESTDIR="$dest" PREFIX=/usr >"$dest/install.log" 2>&1; then
	cat "$dest/install.log"
	echo "lfmapd-install: make install failed"
	exit 1
fi
lib=$dest/usr/lib
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
# pkgconf drops -I/usr/include and -L/usr/lib as system directories before
# prepending the sysroot; keep them so that the DESTDIR copy is used.
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
flags=$(pkg-config --cflags --libs lfmap liburcu-qsbr) || { echo "pkg-config lfmap failed"; exit 1; }
echo "    pkg-config --cflags --libs lfmap liburcu-qsbr: $flags"
case $flags in *"-I$dest/usr/include"*) ;; *) fail "Cflags do not point into DESTDIR" ;; esac
case $flags in *"-L$dest/usr/lib"*) ;; *) fail "Libs do not point into DESTDIR" ;; esac
# The sources may only see the installed headers: no -Iinclude, and
# examples/lfmapd holds no lfmap header of its own.
cp examples/lfmapd/lfmapd.c examples/lfmapd/store.c examples/lfmapd/store.h "$dest/"

echo "== lfmapd against the installed library (shared)"
# shellcheck disable=SC2086
if gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$dest/lfmapd" "$dest/lfmapd.c" "$dest/store.c" \
	$flags -lpthread; then
	resolved=$(LD_LIBRARY_PATH=$lib ldd "$dest/lfmapd" | awk '/liblfmap/ { print $3 }')
	echo "    liblfmap.so.0 => $resolved"
	[ "$resolved" = "$lib/liblfmap.so.0" ] || fail "lfmapd resolves liblfmap to '$resolved'"
else
	fail "building lfmapd against the installed copy"
fi

echo "== lfmapd against the installed library (static, pkg-config --static)"
sflags=$(pkg-config --static --cflags --libs lfmap liburcu-qsbr)
# shellcheck disable=SC2086
if gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$dest/lfmapd-static" "$dest/lfmapd.c" "$dest/store.c" \
	$(echo " $sflags " | sed 's/ -llfmap / -l:liblfmap.a /') -lpthread; then
	readelf -d "$dest/lfmapd-static" | grep -q 'NEEDED.*liblfmap' && fail "static lfmapd needs liblfmap.so"
else
	fail "building static lfmapd against the installed copy"
fi

echo "== two-line client"
cat >"$dest/two.c" <<'C'
#include <lfmap.h>
#include <urcu/urcu-memb.h>
int main(void) { uint64_t v = 0; urcu_memb_register_thread(); struct lfmap *m = lfmap_word_create(NULL);
	return !(m && lfmap_word_put(m, 1, 2, NULL) == 0 && lfmap_word_get(m, 1, &v) == 0 && v == 2 && lfmap_destroy(m) == 0); }
C
# shellcheck disable=SC2086
if gcc -std=c11 -Wall -Wextra -Werror -o "$dest/two" "$dest/two.c" $(pkg-config --cflags --libs lfmap); then
	LD_LIBRARY_PATH=$lib "$dest/two" && echo "    two-line client: ok" || fail "two-line client failed"
else
	fail "building the two-line client"
fi

for bin in lfmapd lfmapd-static; do
	[ -x "$dest/$bin" ] || continue
	echo "== run the installed-build $bin: memccapable -a, SIGTERM"
	name=${bin//-/_} # a shell name: lfmapd_start sets ${name}_pid
	if ! lfmapd_start "$name" env LD_LIBRARY_PATH="$lib" "$dest/$bin" -p 0 -t 2; then
		fail "$bin did not start"
		continue
	fi
	lfmapd_capable "$port" "installed-build $bin"
	srv=${name}_pid
	kill -TERM "${!srv}"
	wait "${!srv}"
	rc=$?
	[ $rc -eq 0 ] || fail "$bin exited with $rc on SIGTERM"
done

echo "== man pages"
nman=0
for so in build/release/liblfmap.so "$lib/liblfmap.so"; do
	missing=
	for sym in $(nm -D --defined-only "$so" | awk '{ print $NF }' | sed 's/@.*//' | grep '^lfmap_' | sort -u); do
		[ -f "$dest/usr/share/man/man3/$sym.3" ] || missing="$missing $sym"
	done
	[ -z "$missing" ] || fail "exported by $so without a man page:$missing"
done
# every installed page renders without groff warnings
for page in "$dest"/usr/share/man/man3/*.3; do
	warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	[ -z "$warn" ] || fail "$(basename "$page"): $warn"
	nman=$((nman + 1))
done
nsym=$(nm -D --defined-only build/release/liblfmap.so | awk '{ print $NF }' | grep -c '^lfmap_')
[ -f "$dest/usr/share/man/man3/lfmap.3" ] || fail "lfmap.3 (overview) not installed"
if sh docs/man/gen-man.sh "$dest/regen" >/dev/null; then
	if ! diff -r docs/man/man3 "$dest/regen" >"$dest/mandiff"; then
		head -40 "$dest/mandiff"
		fail "docs/man/man3 is stale: run make man and commit"
	fi
else
	fail "docs/man/gen-man.sh failed"
fi
echo "summary: installed copy: lfmapd (shared + static) and a two-line client built with pkg-config, memccapable -a passes; $nsym exported symbols, each with a man page ($nman pages lint-clean)"

lfmapd_result lfmapd-install
