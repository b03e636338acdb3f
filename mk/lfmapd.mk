# mk/lfmapd.mk - lfmapd, the memcached-protocol daemon on lfmap (issue 5).
#   make lfmapd          build/release/lfmapd (against build/release/liblfmap.a)
#   make lfmapd-asan     build/debug/lfmapd (clang ASan+UBSan, build/debug/liblfmap.a)
#   make bench-daemon    memcached vs lfmapd under memcslap/memcaslap
#                        -> bench/results/daemon.tsv (not part of make check)
#   make install-man     man pages (docs/man/man3) into $(DESTDIR)$(MANDIR)/man3
#   make man             regenerate docs/man/man3 from include/lfmap/*.h
.PHONY: lfmapd lfmapd-asan bench-daemon install-man man

LFMAPD_SRC  := examples/lfmapd/lfmapd.c examples/lfmapd/store.c
LFMAPD_HDR  := $(wildcard examples/lfmapd/*.h)
LFMAPD_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Iinclude
LFMAPD_LIBS = $$(pkg-config --libs liburcu-qsbr liburcu-memb) -lpthread
MANDIR     ?= $(PREFIX)/share/man

lfmapd: build/release/lfmapd

build/release/lfmapd: all $(LFMAPD_SRC) $(LFMAPD_HDR)
	gcc $(LFMAPD_CFLAGS) -o $@ $(LFMAPD_SRC) build/release/liblfmap.a $(LFMAPD_LIBS)

lfmapd-asan: build/debug/lfmapd

build/debug/lfmapd: $(LFMAPD_SRC) $(LFMAPD_HDR)
	sh scripts/gen-ninja.sh && $(NINJA) $(NINJAFLAGS) build/debug/liblfmap.a
	clang $(LFMAPD_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $(LFMAPD_SRC) build/debug/liblfmap.a $(LFMAPD_LIBS)

bench-daemon: lfmapd
	bash bench/daemon/bench-daemon.sh

man:
	sh docs/man/gen-man.sh

install-man:
	$(INSTALL) -d '$(DESTDIR)$(MANDIR)/man3'
	$(INSTALL) -m 644 docs/man/man3/*.3 '$(DESTDIR)$(MANDIR)/man3/'

# libmemcached client for the ketama scale-out check (libmemcached-dev)
.PHONY: lfmapd-ketama-check
lfmapd-ketama-check: build/release/lfmapd-ketama-check
build/release/lfmapd-ketama-check: examples/lfmapd/tools/ketama_check.c
	@mkdir -p build/release
	gcc -std=c11 -O2 -Wall -Wextra -Werror -o $@ $< $$(pkg-config --cflags --libs libmemcached)
