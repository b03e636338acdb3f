/* bench/probes/so-lookup.c - what a word-map lookup costs through the
 * library it is linked with (docs/PERFORMANCE.md "Shared library").
 *   so-lookup-static MODE [N]   linked with build/release/liblfmap.a
 *   so-lookup-shared MODE [N]   linked with build/release/liblfmap.so
 * MODE get: lfmap_word_get, which takes the read lock itself; MODE rcu:
 * lfmap_word_get_rcu inside the caller's own inline urcu_memb_read_lock().
 * A 1,000-key map (in cache), N lookups (default 10^8) over a fixed
 * permutation of the keys; prints ns per lookup. For instruction counts run
 * it under callgrind with two values of N and divide the difference of the
 * totals by the difference of N (the setup cancels out). */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lfmap.h>

enum { NKEYS = 1000, RING = 1024 };

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "rcu") != 0)) {
		fprintf(stderr, "usage: %s get|rcu [N]\n", argv[0]);
		return 2;
	}
	int rcu = strcmp(argv[1], "rcu") == 0;
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000000;

	urcu_memb_register_thread();
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.size_hint = NKEYS;
	struct lfmap *m = lfmap_word_create(&cfg);
	if (m == NULL) {
		perror("lfmap_word_create");
		return 1;
	}
	static uint64_t ring[RING];
	uint64_t x = 0x9E3779B97F4A7C15u;
	for (uint64_t i = 0; i < NKEYS; i++) {
		if (lfmap_word_insert(m, i + 1, i, NULL) != 0) {
			fprintf(stderr, "insert failed\n");
			return 1;
		}
	}
	for (int i = 0; i < RING; i++) { /* a fixed pseudo-random walk over the keys */
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ring[i] = x % NKEYS + 1;
	}

	struct timespec t0, t1;
	uint64_t sum = 0, v;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (rcu) {
		for (uint64_t i = 0; i < n; i++) {
			urcu_memb_read_lock();
			if (lfmap_word_get_rcu(m, ring[i & (RING - 1)], &v) == 0)
				sum += v;
			urcu_memb_read_unlock();
		}
	} else {
		for (uint64_t i = 0; i < n; i++)
			if (lfmap_word_get(m, ring[i & (RING - 1)], &v) == 0)
				sum += v;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("%s\t%" PRIu64 " lookups\t%.2f ns/lookup\t(checksum %" PRIu64 ")\n", argv[1], n,
	       n ? ns / (double)n : 0.0, sum);
	lfmap_destroy(m);
	urcu_memb_unregister_thread();
	return 0;
}
