/*
 * examples/demo.c - lfmap in one page: grow a word map from empty to
 * 1,000,000 keys while it is being read.
 *
 *   4 writer threads insert disjoint keys (key -> key * 3, as a check);
 *   4 reader threads look up keys the writers have already inserted and
 *     check every value;
 *   the map starts at the smallest table (size_hint 0) and grows by
 *     incremental migrations while all of this runs; each finished
 *     migration prints a trace line.
 *
 * At the end it prints the map's statistics and the throughput, and checks
 * that exactly 1,000,000 keys are present. Exit status 0 on success, 1 on
 * any mismatch.
 *
 * Build: cc -std=c11 -O2 demo.c -llfmap -lurcu-memb -lurcu-common -lpthread
 * (or `make demo` in the lfmap tree).
 */
#include <lfmap.h>
#include <urcu/urcu-memb.h> /* every thread using a map registers with RCU */

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NKEYS 1000000u
#define NWRITERS 4
#define NREADERS 4
#define PER_WRITER (NKEYS / NWRITERS)

static struct lfmap *map;

/* How many keys each writer has inserted so far (readers only look those up). */
static _Atomic uint64_t progress[NWRITERS];
static atomic_int writers_running = NWRITERS;
static _Atomic uint64_t reads_done, read_errors, write_errors;

static uint64_t key_of(int writer, uint64_t i)
{
	return (uint64_t)writer * PER_WRITER + i + 1; /* 1 .. NKEYS */
}

static uint64_t value_of(uint64_t key)
{
	return key * 3;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Migration trace: lfmap calls this once per finished migration. */
static void trace_line(void *arg, const char *line)
{
	(void)arg;
	printf("  [trace] %s\n", line);
}

static void *writer(void *arg)
{
	int w = (int)(intptr_t)arg;
	urcu_memb_register_thread();
	for (uint64_t i = 0; i < PER_WRITER; i++) {
		uint64_t k = key_of(w, i);
		int rc = lfmap_word_insert(map, k, value_of(k), NULL);
		if (rc != 0) {
			fprintf(stderr, "writer %d: insert %" PRIu64 " failed: %d\n", w, k, rc);
			atomic_fetch_add(&write_errors, 1);
		}
		/* release: a reader that sees the new progress finds the key */
		atomic_store_explicit(&progress[w], i + 1, memory_order_release);
	}
	atomic_fetch_sub(&writers_running, 1);
	urcu_memb_unregister_thread();
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)((intptr_t)arg + 1);
	uint64_t n = 0;
	urcu_memb_register_thread();
	while (atomic_load_explicit(&writers_running, memory_order_relaxed) > 0) {
		/* xorshift: pick a writer and one of the keys it already inserted */
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		int w = (int)(rng % NWRITERS);
		uint64_t done = atomic_load_explicit(&progress[w], memory_order_acquire);
		if (done == 0)
			continue;
		uint64_t k = key_of(w, (rng >> 8) % done), v = 0;
		int rc = lfmap_word_get(map, k, &v);
		if (rc != 0 || v != value_of(k)) {
			if (atomic_fetch_add(&read_errors, 1) < 5)
				fprintf(stderr, "reader: key %" PRIu64 ": rc %d value %" PRIu64
						", want %" PRIu64 "\n",
					k, rc, v, value_of(k));
		}
		n++;
	}
	atomic_fetch_add(&reads_done, n);
	urcu_memb_unregister_thread();
	return NULL;
}

int main(void)
{
	urcu_memb_register_thread();

	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.size_hint = 0;       /* start from the smallest table: watch it grow */
	cfg.trace = trace_line;  /* or: LFMAP_TRACE=1 in the environment */
	map = lfmap_word_create(&cfg);
	if (map == NULL) {
		perror("lfmap_word_create");
		return 1;
	}

	printf("lfmap demo: %u keys, %d writers and %d readers, starting from an empty map\n",
	       NKEYS, NWRITERS, NREADERS);
	printf("migrations (one trace line each):\n");

	pthread_t wt[NWRITERS], rt[NREADERS];
	double t0 = now_s();
	for (int i = 0; i < NREADERS; i++)
		pthread_create(&rt[i], NULL, reader, (void *)(intptr_t)i);
	for (int i = 0; i < NWRITERS; i++)
		pthread_create(&wt[i], NULL, writer, (void *)(intptr_t)i);
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(wt[i], NULL);
	double t_write = now_s() - t0;
	for (int i = 0; i < NREADERS; i++)
		pthread_join(rt[i], NULL);
	double t_all = now_s() - t0;

	/* Let a migration still in flight finish before reading the stats. */
	while (lfmap_migrate_step(map, 0) == 1)
		;

	struct lfmap_stats st;
	size_t exact = 0;
	lfmap_stats(map, &st);
	int rc = lfmap_count_exact(map, &exact);

	printf("\nmap statistics (lfmap_stats):\n");
	printf("  entries               %12" PRIu64 "\n", st.entries);
	printf("  buckets               %12" PRIu64 "  (%u slots each)\n", st.buckets,
	       lfmap_slots_per_bucket());
	printf("  load factor           %12.3f\n", st.load_factor);
	printf("  overflow buckets      %12" PRIu64 "\n", st.overflow_buckets);
	printf("  tombstones            %12" PRIu64 "\n", st.tombstones);
	printf("  longest chain         %12" PRIu64 " buckets\n", st.longest_chain);
	printf("  migrations            %12" PRIu64 " started, %" PRIu64 " finished (%" PRIu64
	       " grows)\n",
	       st.migrations_started, st.migrations_finished, st.grows);
	printf("  buckets evacuated     %12" PRIu64 " by writers, %" PRIu64 " in the background\n",
	       st.evacuated_by_writers, st.evacuated_by_background);
	printf("  longest migration     %12.3f ms\n", (double)st.longest_migration_ns / 1e6);

	uint64_t reads = atomic_load(&reads_done);
	printf("\nthroughput:\n");
	printf("  inserts  %10u in %.3f s = %6.2f Mops/s (%d threads)\n", NKEYS, t_write,
	       NKEYS / t_write / 1e6, NWRITERS);
	printf("  lookups  %10" PRIu64 " in %.3f s = %6.2f Mops/s (%d threads)\n", reads, t_all,
	       (double)reads / t_all / 1e6, NREADERS);

	int ok = 1;
	if (rc != 0 || exact != NKEYS) {
		printf("\nMISMATCH: lfmap_count_exact = %zu (rc %d), want %u\n", exact, rc, NKEYS);
		ok = 0;
	}
	if (st.entries != NKEYS) {
		printf("MISMATCH: stats.entries = %" PRIu64 ", want %u\n", st.entries, NKEYS);
		ok = 0;
	}
	if (atomic_load(&read_errors) || atomic_load(&write_errors)) {
		printf("MISMATCH: %" PRIu64 " bad lookups, %" PRIu64 " failed inserts\n",
		       (uint64_t)atomic_load(&read_errors), (uint64_t)atomic_load(&write_errors));
		ok = 0;
	}
	if (ok)
		printf("\nOK: count_exact = %zu, every lookup returned the value written\n", exact);

	lfmap_destroy(map);
	urcu_memb_unregister_thread();
	return ok ? 0 : 1;
}
