/* bench/probes/migrate-rate.c - how fast do updates run while a migration
 * is in progress, against the same threads outside one? (docs/PERFORMANCE.md
 * "Oversubscription and migrations", session 10.)
 *
 * Prefills a word map created for N keys with the N odd keys of [1, 2N],
 * then T threads run the write-heavy mix of the harness (50% insert, 50%
 * remove, uniform keys in [1, 2N]) for D seconds. The even keys the
 * updates insert claim slots that their removal leaves as tombstones (I1),
 * so after about 1.5N updates overflow buckets pile up and the map grows
 * once: the write-heavy 4M migration of the full matrix. A sampler thread
 * reads the threads' op counters every 5 ms (no map call: lfmap_stats walks
 * the table and would hold the read lock for a long time); the migrations'
 * intervals come from the trace callback (end time and duration). The first
 * 0.3 s are skipped (warm-up).
 *   build/bench/migrate-rate [-t THREADS] [-d SECONDS] [-n KEYS] [-w MAX_WORK]
 * Output: one line: Mops/s outside and during migrations, their ratio, and
 * the migrations seen with their total duration; a migration still running
 * when the run ends is not in the trace, so its samples would count as
 * outside: the line then ends with "UNFINISHED" (run longer). */
#define _GNU_SOURCE
#include <lfmap.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#define MAX_THREADS 64
#define MAX_MIGS 64
#define MAX_SAMPLES 8192
#define SAMPLE_US 5000
#define WARMUP_NS 300000000u

static struct lfmap *map;
static uint64_t nkeys = 4000000;
static int nthreads = 1, stop; /* stop: __atomic */
static struct {
	uint64_t ops; /* __atomic: written by its thread, read by the sampler */
	char pad[56];
} counter[MAX_THREADS];
/* migrations: written by the trace callback (any thread, one at a time:
 * one migration finishes at once per map) and read after the run */
static uint64_t mig_end_ns[MAX_MIGS];
static double mig_ms[MAX_MIGS];
static int nmig; /* __atomic */

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* "... N ms, evacuated ..." (lib/migrate.c finish()) */
static void on_trace(void *arg, const char *line)
{
	(void)arg;
	const char *p = strstr(line, " ms, evacuated");
	int i = __atomic_load_n(&nmig, __ATOMIC_RELAXED);
	if (p == NULL || i >= MAX_MIGS)
		return;
	const char *q = p;
	while (q > line && q[-1] != ' ')
		q--;
	mig_ms[i] = atof(q);
	mig_end_ns[i] = now_ns();
	__atomic_store_n(&nmig, i + 1, __ATOMIC_RELEASE);
}

static void *updater(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t x = UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(id + 1), n = 0;
	urcu_memb_register_thread();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 64; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			uint64_t k = 1 + (x >> 20) % (2 * nkeys);
			if (x & 1)
				(void)lfmap_word_insert(map, k, k, NULL);
			else
				(void)lfmap_word_remove(map, k, NULL);
		}
		n += 64;
		__atomic_store_n(&counter[id].ops, n, __ATOMIC_RELAXED);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = 4;
	unsigned max_work = 0;
	int o;
	while ((o = getopt(argc, argv, "t:d:n:w:")) != -1) {
		switch (o) {
		case 't': nthreads = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'n': nkeys = strtoull(optarg, NULL, 0); break;
		case 'w': max_work = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-t THREADS] [-d SECONDS] [-n KEYS] [-w MAX_WORK]\n",
				argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || nkeys < 1000 || seconds <= 0.5)
		return fprintf(stderr, "bad arguments\n"), 2;

	urcu_memb_register_thread();
	struct lfmap_config c;
	lfmap_config_init(&c);
	c.size_hint = nkeys;
	c.trace = on_trace;
	if (max_work != 0)
		c.max_work = max_work;
	map = lfmap_word_create(&c);
	if (map == NULL)
		return perror("lfmap_word_create"), 1;
	for (uint64_t k = 1; k <= nkeys; k++)
		(void)lfmap_word_insert(map, 2 * k - 1, k, NULL);
	__atomic_store_n(&nmig, 0, __ATOMIC_RELAXED); /* none expected; start clean */

	static uint64_t at[MAX_SAMPLES], ops[MAX_SAMPLES];
	pthread_t th[MAX_THREADS];
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, updater, (void *)(intptr_t)i);
	uint64_t t0 = now_ns();
	int ns = 0;
	while (ns < MAX_SAMPLES && now_ns() - t0 < (uint64_t)(seconds * 1e9)) {
		usleep(SAMPLE_US);
		uint64_t total = 0;
		for (int i = 0; i < nthreads; i++)
			total += __atomic_load_n(&counter[i].ops, __ATOMIC_RELAXED);
		at[ns] = now_ns();
		ops[ns++] = total;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);

	/* An interval counts as "during" if it overlaps a migration. */
	int nm = __atomic_load_n(&nmig, __ATOMIC_ACQUIRE);
	double in_ops = 0, in_s = 0, out_ops = 0, out_s = 0, mig_total = 0;
	for (int j = 1; j < ns; j++) {
		if (at[j] - t0 < WARMUP_NS)
			continue;
		bool during = false;
		for (int k = 0; k < nm; k++) {
			double a = (double)mig_end_ns[k] - mig_ms[k] * 1e6, b = (double)mig_end_ns[k];
			if ((double)at[j] >= a && (double)at[j - 1] <= b)
				during = true;
		}
		double dt = (double)(at[j] - at[j - 1]) / 1e9, d = (double)(ops[j] - ops[j - 1]);
		if (during)
			in_ops += d, in_s += dt;
		else
			out_ops += d, out_s += dt;
	}
	for (int k = 0; k < nm; k++)
		mig_total += mig_ms[k];
	struct lfmap_stats st;
	bool unfinished = lfmap_stats(map, &st) == 0 && st.migrations_started != st.migrations_finished;
	double out_rate = out_s > 0 ? out_ops / out_s / 1e6 : 0, in_rate = in_s > 0 ? in_ops / in_s / 1e6 : 0;
	printf("threads %d keys %llu max_work %u: outside %.2f Mops/s (%.2f s), during %.2f Mops/s "
	       "(%.2f s), ratio %.2f, migrations %d (%.0f ms)%s\n",
	       nthreads, (unsigned long long)nkeys, c.max_work, out_rate, out_s, in_rate, in_s,
	       out_rate > 0 ? in_rate / out_rate : 0, nm, mig_total, unfinished ? " UNFINISHED" : "");
	lfmap_destroy(map);
	urcu_memb_unregister_thread();
	return 0;
}
