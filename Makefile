# lfmap - Makefile: a thin front end to the hand-written ninja build
# (build.ninja, ninja/*.ninja) and to scripts/run-tests.sh.
#
#   make / make all   release library: build/release/liblfmap.{a,so*}
#   make release      everything of the release variant (tests, mt, demo)
#   make debug        ASan+UBSan variant (build/debug)
#   make tsan         TSan variant (build/tsan) + run every build/tsan/mt/*
#   make check        ci/deps.sh, build all variants, run every test and check
#   make demo         build and run build/release/demo
#   make experiments  barrier-removal experiments (scripts/experiments.sh,
#                     not part of check) -> bench/results/barrier-experiments.md
#   make install      PREFIX=/usr/local LIBDIR=$(PREFIX)/lib DESTDIR=
#   make uninstall    the reverse
#   make compdb       compile_commands.json (release + debug + tsan)
#   make clean        rm -rf build
# NINJAFLAGS is passed to ninja (e.g. NINJAFLAGS=-j1 or -v).

NINJA      ?= ninja
NINJAFLAGS ?=
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=
VERSION     = 0.1.0
SOMAJOR     = 0
INSTALL    ?= install
export NINJA

REL = build/release
# The globbed file lists (build/gen/*.ninja) are refreshed before every ninja
# run; build.ninja also regenerates them itself when a directory changes.
N = sh scripts/gen-ninja.sh && $(NINJA) $(NINJAFLAGS)

.PHONY: all release debug tsan check demo experiments install uninstall compdb clean

all:
	$(N) release-lib

release:
	$(N) release

debug:
	$(N) debug

tsan:
	bash scripts/run-tests.sh tsan

check:
	sh ci/deps.sh
	bash scripts/run-tests.sh check

demo:
	@test -f examples/demo.c || { echo "make demo: examples/demo.c does not exist yet" >&2; exit 1; }
	$(N) $(REL)/demo
	$(REL)/demo

# ${prefix}-relative paths in lfmap.pc when LIBDIR/INCLUDEDIR are under PREFIX.
pc_libdir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
pc_includedir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))

experiments:
	bash scripts/experiments.sh

install: all
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(pc_libdir)|' \
	    -e 's|@INCLUDEDIR@|$(pc_includedir)|' -e 's|@VERSION@|$(VERSION)|' \
	    lfmap.pc.in >$(REL)/lfmap.pc
	$(INSTALL) -d '$(DESTDIR)$(INCLUDEDIR)/lfmap' '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(PKGCONFIGDIR)'
	$(INSTALL) -m 644 include/lfmap.h '$(DESTDIR)$(INCLUDEDIR)/'
	$(INSTALL) -m 644 include/lfmap/*.h '$(DESTDIR)$(INCLUDEDIR)/lfmap/'
	$(INSTALL) -m 644 $(REL)/liblfmap.a '$(DESTDIR)$(LIBDIR)/'
	$(INSTALL) -m 755 $(REL)/liblfmap.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/'
	ln -sfn liblfmap.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/liblfmap.so.$(SOMAJOR)'
	ln -sfn liblfmap.so.$(SOMAJOR) '$(DESTDIR)$(LIBDIR)/liblfmap.so'
	$(INSTALL) -m 644 $(REL)/lfmap.pc '$(DESTDIR)$(PKGCONFIGDIR)/lfmap.pc'

uninstall:
	rm -f '$(DESTDIR)$(INCLUDEDIR)/lfmap.h' '$(DESTDIR)$(LIBDIR)/liblfmap.a' \
	      '$(DESTDIR)$(LIBDIR)/liblfmap.so' '$(DESTDIR)$(LIBDIR)/liblfmap.so.$(SOMAJOR)' \
	      '$(DESTDIR)$(LIBDIR)/liblfmap.so.$(VERSION)' '$(DESTDIR)$(PKGCONFIGDIR)/lfmap.pc'
	rm -f $(patsubst include/lfmap/%,'$(DESTDIR)$(INCLUDEDIR)/lfmap/%',$(wildcard include/lfmap/*.h))
	-rmdir '$(DESTDIR)$(INCLUDEDIR)/lfmap' 2>/dev/null

compdb:
	sh scripts/gen-ninja.sh && $(NINJA) -t compdb cc >compile_commands.json

clean:
	rm -rf build
