# mk/hardening.mk - hardening tools (issue 6): fuzzing, memory checkers, churn.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_JOBS=1]  libFuzzer run of fuzz/fuzz_map.c
#                     (clang -fsanitize=fuzzer,address,undefined, lib/ built with
#                     the same flags) from fuzz/corpus + fuzz/regressions; new
#                     inputs go to build/fuzz/corpus, crashes to build/fuzz/
#   make fuzz-build   just build build/fuzz/fuzz_map (+ build/fuzz/fuzz_replay,
#                     a plain gcc replay binary for valgrind)
#   make memcheck     release Criterion tests and the hardening tests under
#                     valgrind memcheck (scripts/checks.d/memcheck.sh)
#   make soak-churn [CHURN_OPS=20000000]  long churn run of tests/test_uptime
#                     (RSS plateau, tombstones compacted)
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ_CC      ?= clang
FUZZ_FLAGS    = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Iinclude -Ilib -Ifuzz \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_LIBS     = $$(pkg-config --libs liburcu-memb) -lpthread
FUZZ_DEPS     = fuzz/fuzz_map.c fuzz/fz_driver.h fuzz/fz_replay.c $(wildcard lib/*.c lib/*.h include/*.h include/lfmap/*.h)

.PHONY: fuzz fuzz-build memcheck soak-churn

build/fuzz/fuzz_map: $(FUZZ_DEPS)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined lib/*.c fuzz/fuzz_map.c \
		$(FUZZ_LIBS) -o $@

build/fuzz/fuzz_replay: $(FUZZ_DEPS)
	@mkdir -p build/fuzz
	gcc -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Iinclude -Ilib -Ifuzz -march=x86-64-v3 \
		lib/*.c fuzz/fuzz_map.c fuzz/fz_replay.c $(FUZZ_LIBS) -o $@

fuzz-build: build/fuzz/fuzz_map build/fuzz/fuzz_replay

fuzz: build/fuzz/fuzz_map
	@mkdir -p build/fuzz/corpus
	cd build/fuzz && ./fuzz_map -max_total_time=$(FUZZ_SECONDS) \
		$(if $(filter-out 1,$(FUZZ_JOBS)),-jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS)) -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 corpus ../../fuzz/corpus ../../fuzz/regressions

memcheck:
	sh scripts/gen-ninja.sh && $(NINJA) $(NINJAFLAGS) release
	bash scripts/checks.d/memcheck.sh

soak-churn:
	sh scripts/gen-ninja.sh && $(NINJA) $(NINJAFLAGS) build/release/tests/test_uptime
	LFMAP_CHURN_OPS=$${CHURN_OPS:-20000000} build/release/tests/test_uptime --filter 'uptime/churn*' --verbose
