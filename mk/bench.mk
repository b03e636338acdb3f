# mk/bench.mk - benchmark harness (bench/, issue 4). Not part of make check.
#   make bench-build   build/bench/lfmap-bench (gcc/g++ -O2, release liblfmap.a)
#   make bench-smoke   every adapter's correctness smoke check
#   make bench-quick   representative subset, < 1 minute
#   make bench         full matrix (~20 min) -> bench/results/{latest.tsv,summary.md,*.png}
#   make bench-sweep   lfmap grow_pct sweep -> bench/results/sweep-grow-pct.{tsv,png}
#   make bench-counts  callgrind/cachegrind per-op counts -> bench/results/counts.tsv
#   make bench-slots   bucket layout sweep (3 slots/64 B vs 7/128 B) -> bench/results/sweep-slots.*
#   make bench-churn   churn at 1,000 and 65,536 keys, every peer -> bench/results/churn-small.*
BENCH_DIR   = build/bench
BENCH_CC   ?= gcc
BENCH_CXX  ?= g++
BENCH_OPT  ?= -O2
BENCH_CFLAGS = $(BENCH_OPT) -g -Wall -Wextra -Iinclude -pthread
BENCH_LIBS = build/release/liblfmap.a $$(pkg-config --libs liburcu-memb liburcu-qsbr liburcu-cds ck tbb) -lstdc++ -lm -lpthread
BENCH_SRCS = bench/lfmap-bench.c bench/adapter.h bench/adapters/lfmap.c \
	bench/adapters/rculfhash.c bench/adapters/ck_hs.c bench/adapters/oa.c bench/adapters/cxx.cc \
	bench/adapters/floor.c

.PHONY: bench-build bench-smoke bench-quick bench bench-counts bench-sweep bench-slots bench-churn

# $(1): output binary, $(2): extra flags (arch)
define bench_link
	@mkdir -p $(dir $(1))
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -c bench/adapters/lfmap.c -o $(1)-lfmap.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -DBENCH_QSBR -c bench/adapters/lfmap.c -o $(1)-lfmap-qsbr.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -c bench/adapters/rculfhash.c -o $(1)-rculfhash-memb.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -DBENCH_QSBR -c bench/adapters/rculfhash.c -o $(1)-rculfhash-qsbr.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -c bench/adapters/ck_hs.c -o $(1)-ck_hs.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -c bench/adapters/oa.c -o $(1)-oa.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -c bench/adapters/floor.c -o $(1)-floor.o
	$(BENCH_CXX) $(BENCH_OPT) -g -std=c++17 -Wall -pthread $(2) -c bench/adapters/cxx.cc -o $(1)-cxx.o
	$(BENCH_CC) $(BENCH_CFLAGS) $(2) -c bench/lfmap-bench.c -o $(1)-main.o
	$(BENCH_CXX) -pthread -o $(1) $(1)-main.o $(1)-lfmap.o $(1)-lfmap-qsbr.o $(1)-rculfhash-memb.o \
		$(1)-rculfhash-qsbr.o $(1)-ck_hs.o $(1)-oa.o $(1)-floor.o $(1)-cxx.o $(BENCH_LIBS)
endef

$(BENCH_DIR)/lfmap-bench: $(BENCH_SRCS) build/release/liblfmap.a
	$(call bench_link,$@,)

# valgrind cannot decode the AVX-512 of -march=native: plain x86-64-v3 here
$(BENCH_DIR)/lfmap-bench-vg: $(BENCH_SRCS) build/release/liblfmap.a
	$(call bench_link,$@,-march=x86-64-v3)

# the library is brought up to date by ninja first, then the binaries are
# relinked only if it (or a bench source) changed
.PHONY: bench-lib
bench-lib:
	sh scripts/gen-ninja.sh && $(NINJA) $(NINJAFLAGS) release-lib

bench-build: bench-lib
	@$(MAKE) --no-print-directory $(BENCH_DIR)/lfmap-bench $(BENCH_DIR)/growth-probe \
		$(BENCH_DIR)/clock-gaps $(BENCH_DIR)/hash-spread \
		$(BENCH_DIR)/so-lookup-static $(BENCH_DIR)/so-lookup-shared \
		$(BENCH_DIR)/migrate-rate

# probes behind docs/PERFORMANCE.md "Growth" (session 7), built with the
# harness so that they keep compiling
$(BENCH_DIR)/growth-probe: bench/probes/growth-probe.c build/release/liblfmap.a
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< build/release/liblfmap.a $$(pkg-config --libs liburcu-memb) -lpthread

# updates inside and outside a migration ("Oversubscription and
# migrations", session 10)
$(BENCH_DIR)/migrate-rate: bench/probes/migrate-rate.c build/release/liblfmap.a
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< build/release/liblfmap.a $$(pkg-config --libs liburcu-memb) -lpthread

$(BENCH_DIR)/clock-gaps: bench/probes/clock-gaps.c
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

# the word map's bucket hash against structured keys ("Lookup cost", session
# 8); it includes lib/internal.h, so it tests the library's own function
$(BENCH_DIR)/hash-spread: bench/probes/hash-spread.c lib/internal.h
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) $$(pkg-config --cflags liburcu-memb) -o $@ $<

# a lookup through liblfmap.a and through liblfmap.so ("Shared library");
# the shared one finds the library in build/release through its rpath
$(BENCH_DIR)/so-lookup-static: bench/probes/so-lookup.c build/release/liblfmap.a
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< build/release/liblfmap.a $$(pkg-config --libs liburcu-memb) -lpthread

$(BENCH_DIR)/so-lookup-shared: bench/probes/so-lookup.c build/release/liblfmap.so
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< -Lbuild/release -llfmap -Wl,-rpath,$(abspath build/release) \
		$$(pkg-config --libs liburcu-memb) -lpthread

bench-churn: bench-build
	bash bench/churn.sh

bench-smoke: bench-build
	$(BENCH_DIR)/lfmap-bench --smoke all

bench-quick: bench-build
	bash bench/run.sh quick

bench: bench-build
	bash bench/run.sh full

bench-counts: bench-lib
	@$(MAKE) --no-print-directory $(BENCH_DIR)/lfmap-bench-vg
	bash bench/counts.sh

# grow threshold sweep of lfmap-word -> bench/results/sweep-grow-pct.{tsv,png}
bench-sweep: bench-build
	bash bench/sweep.sh

bench-slots: bench-build
	@$(MAKE) --no-print-directory $(BENCH_DIR)/lfmap-bench-vg
	bash bench/slots.sh
