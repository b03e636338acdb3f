/* bench/probes/growth-probe.c - which inserts of a growth are slow, and
 * when? Grows an lfmap word map from the smallest size (or from a size
 * hint) to N keys with T threads, timing every insert, and prints each
 * insert above a threshold with its time since the start, next to the
 * map's migration trace lines (docs/PERFORMANCE.md, "Growth", session 7).
 *   build/bench/growth-probe [-t THREADS] [-n KEYS] [-s THRESHOLD_NS]
 *                            [-h SIZE_HINT] [-f FLAGS] [-a] [-m] [-F]
 *   -a  allocate from 1 GiB faulted in first, with LFMAP_F_ALLOC_ZEROED
 *   -m  a second thread calls lfmap_migrate_step(map, 64) in a loop
 *   -F  read the thread's minor page faults around every insert (outside
 *       the timed interval) and print them with each slow insert
 * Output: "slow T ms D us thread I [faults F]" lines, "trace T ms <line>" lines and a
 * summary line with the count of slow inserts (p99.9 <= threshold iff it
 * is at most N / 1000). */
#define _GNU_SOURCE
#include <lfmap.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#define MAX_SLOW 400000
#define MAX_TRACE 256

static struct lfmap *map;
static uint64_t nkeys = 4000000, threshold = 2000, t0;
static int nthreads = 1, stop_helper, count_faults;
static struct { uint64_t at, ns; int thread; long faults; } slow[MAX_SLOW];
static int nslow;
static struct { uint64_t at; char line[200]; } traces[MAX_TRACE];
static int ntraces;
static char *arena;
static size_t arena_size = (size_t)1 << 30, arena_used; /* __atomic */

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *arena_alloc(void *ctx, size_t size, size_t align)
{
	(void)ctx;
	size_t old = __atomic_load_n(&arena_used, __ATOMIC_RELAXED), at;
	do {
		at = (old + align - 1) & ~(align - 1);
		if (at + size > arena_size)
			return NULL;
	} while (!__atomic_compare_exchange_n(&arena_used, &old, at + size, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return arena + at;
}
static void arena_free(void *ctx, void *p, size_t size) { (void)ctx, (void)p, (void)size; }

static void trace(void *arg, const char *line)
{
	(void)arg;
	int i = __atomic_fetch_add(&ntraces, 1, __ATOMIC_RELAXED);
	if (i < MAX_TRACE) {
		traces[i].at = now_ns() - t0;
		snprintf(traces[i].line, sizeof traces[i].line, "%s", line);
	}
}

static long thread_faults(void)
{
	struct rusage ru;
	if (!count_faults || getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return ru.ru_minflt + ru.ru_majflt;
}

static void *inserter(void *arg)
{
	int id = (int)(intptr_t)arg;
	urcu_memb_register_thread();
	for (uint64_t k = (uint64_t)id + 1; k <= nkeys; k += (uint64_t)nthreads) {
		long f = thread_faults();
		uint64_t a = now_ns();
		int r = lfmap_word_insert(map, k, k, NULL);
		uint64_t d = now_ns() - a;
		f = thread_faults() - f;
		if (r != 0) {
			fprintf(stderr, "insert %llu: %d\n", (unsigned long long)k, r);
			exit(1);
		}
		if (d > threshold) {
			int i = __atomic_fetch_add(&nslow, 1, __ATOMIC_RELAXED);
			if (i < MAX_SLOW) {
				slow[i].at = a - t0;
				slow[i].ns = d;
				slow[i].thread = id;
				slow[i].faults = f;
			}
		}
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static void *helper(void *arg)
{
	(void)arg;
	urcu_memb_register_thread();
	while (!__atomic_load_n(&stop_helper, __ATOMIC_RELAXED))
		if (lfmap_migrate_step(map, 64) != 1)
			for (int i = 0; i < 200; i++)
				__builtin_ia32_pause();
	urcu_memb_unregister_thread();
	return NULL;
}

int main(int argc, char **argv)
{
	struct lfmap_config cfg;
	int c, use_arena = 0, use_helper = 0;
	lfmap_config_init(&cfg);
	while ((c = getopt(argc, argv, "t:n:s:h:f:amF")) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 'n': nkeys = strtoull(optarg, NULL, 0); break;
		case 's': threshold = strtoull(optarg, NULL, 0); break;
		case 'h': cfg.size_hint = strtoull(optarg, NULL, 0); break;
		case 'f': cfg.flags |= (unsigned)strtoul(optarg, NULL, 0); break;
		case 'a': use_arena = 1; break;
		case 'm': use_helper = 1; break;
		case 'F': count_faults = 1; break;
		default:
			fprintf(stderr, "usage: growth-probe [-t T] [-n N] [-s NS] [-h HINT] [-f FLAGS] [-a] [-m] [-F]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > 64)
		return 2;
	if (use_arena) {
		arena = mmap(NULL, arena_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (arena == MAP_FAILED)
			return 1;
		(void)madvise(arena, arena_size, MADV_HUGEPAGE);
		for (size_t o = 0; o < arena_size; o += 4096)
			arena[o] = 0;
		cfg.allocator.alloc = arena_alloc;
		cfg.allocator.free = arena_free;
		cfg.flags |= LFMAP_F_ALLOC_ZEROED;
	}
	cfg.trace = trace;
	map = lfmap_word_create(&cfg);
	if (map == NULL)
		return 1;
	pthread_t th[64], help;
	t0 = now_ns();
	if (use_helper)
		pthread_create(&help, NULL, helper, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, inserter, (void *)(intptr_t)i);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	uint64_t elapsed = now_ns() - t0;
	__atomic_store_n(&stop_helper, 1, __ATOMIC_RELAXED);
	if (use_helper)
		pthread_join(help, NULL);
	for (int i = 0; i < ntraces && i < MAX_TRACE; i++)
		printf("trace %.3f ms %s\n", traces[i].at / 1e6, traces[i].line);
	for (int i = 0; i < nslow && i < MAX_SLOW; i++)
		printf(count_faults ? "slow %.3f ms %.1f us thread %d faults %ld\n"
				    : "slow %.3f ms %.1f us thread %d\n",
		       slow[i].at / 1e6, slow[i].ns / 1e3, slow[i].thread, slow[i].faults);
	printf("summary: %llu keys, %d threads, %.3f s, %d inserts above %llu ns (p99.9 allows %llu)\n",
	       (unsigned long long)nkeys, nthreads, elapsed / 1e9, nslow,
	       (unsigned long long)threshold, (unsigned long long)(nkeys / 1000));
	lfmap_destroy(map);
	return 0;
}
