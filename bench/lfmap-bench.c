/*
 * bench/lfmap-bench.c - throughput / latency / memory harness for lfmap and
 * its peers (adapters in bench/adapters/, interface in bench/adapter.h).
 *
 *   lfmap-bench --list
 *   lfmap-bench --smoke all|MAP[,MAP...]
 *   lfmap-bench --map MAP --keys N [--threads 1,2,4] [--workloads a,b,...]
 *               [--duration S] [--ops K] [--sample P] [--churn-duration S]
 *               [--warmup K] [--growth-timeout S] [--header]
 *
 * Workloads (steady ones run on one map prefilled with the N even keys
 * 2,4,..,2N, in this order whatever the order given, so read-only runs
 * before anything changes the key set):
 *   read-only       100% get of present (even) keys; every miss is an error
 *   absent          100% get of keys in [2N+1, 4N] (never inserted)
 *   read-mostly     90% get / 5% insert / 5% remove, keys uniform in [1,2N]
 *   read-mostly-zipf  same, keys Zipf(s=0.99) over [1,2N] (rank r -> key r+1)
 *   balanced        50 / 25 / 25, uniform;   balanced-zipf: Zipf
 *   write-heavy     0 / 50 / 50, uniform
 *   growth          per thread count: a new map created with hint 0, the
 *                   threads insert N distinct keys together, EVERY insert is
 *                   timed; mops = N / wall time
 *   churn           per thread count: a new map with N keys; each thread
 *                   inserts new distinct keys and removes its oldest one
 *                   (sliding window, live size stays N); RSS sampled every
 *                   50 ms; a "#churn" line gives the plateau check
 * Every process also prints a "prefill" row (1 thread): insert rate of the
 * prefill and, in rss_mib, the RSS growth it caused (memory per entry).
 *
 * BENCH_KEY_SCRAMBLE=1: every key above is passed through a fixed bijection
 * of the 64-bit integers (K() below; 0 only for 0) before it reaches a map,
 * values unchanged. The workloads' dense key ranges become keys spread over
 * all 64 bits: a map whose bucket index is a multiply-shift of the key
 * (lfmap's word map) gets an unusually even spread from an arithmetic
 * progression of keys, and this shows what it does without that help
 * (docs/PERFORMANCE.md, "Lookup cost"). The smoke checks are not scrambled.
 *
 * Output: tab-separated rows
 *   map workload keys threads mops p50_ns p99_ns p999_ns max_ns rss_mib
 * Steady workloads time one operation in P (--sample, default 64) with two
 * clock_gettime(CLOCK_MONOTONIC) calls (the calibrated cost of one call pair
 * is subtracted); growth times every insert. Latency percentiles come from a
 * log-linear histogram (64 sub-buckets per power of two, < 1.6% error); max
 * is exact. rss_mib is the process RSS at the end of the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>
#include "adapter.h"

static const struct bench_adapter *adapters[] = {
	&bench_lfmap_word, &bench_lfmap_node, &bench_rculfhash_memb, &bench_rculfhash_qsbr,
	&bench_ck_hs, &bench_rwlock_oa, &bench_striped_oa, &bench_cuckoo, &bench_tbb,
	&bench_null, &bench_node_floor, &bench_lfmap_word_qsbr, &bench_lfmap_node_qsbr,
};
#define NADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

static uint64_t key_scramble; /* BENCH_KEY_SCRAMBLE: 0 off, 1 on */

/* The workloads' key as the map sees it: k itself, or under
 * BENCH_KEY_SCRAMBLE an odd multiply, xorshift, odd multiply, xorshift (each
 * step invertible, so distinct keys stay distinct and only 0 maps to 0). */
static inline uint64_t K(uint64_t k)
{
	if (!key_scramble)
		return k;
	k *= 0x9E3779B97F4A7C15ull;
	k ^= k >> 29;
	k *= 0xBF58476D1CE4E5B9ull;
	k ^= k >> 32;
	return k;
}

static void die(const char *msg)
{
	fprintf(stderr, "lfmap-bench: %s\n", msg);
	exit(2);
}

/* ---------------- time, RSS, RNG ---------------- */
static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t clock_cost; /* ns of one timed empty interval (median) */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
static void calibrate_clock(void)
{
	uint64_t d[1001];
	for (int i = 0; i < 1001; i++) {
		uint64_t t0 = now_ns();
		d[i] = now_ns() - t0;
	}
	qsort(d, 1001, sizeof(d[0]), cmp_u64);
	clock_cost = d[500];
}

static double rss_mib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}
static inline uint64_t below(uint64_t r32, uint64_t range) /* r32 < 2^32 */
{
	return (r32 * range) >> 32;
}

/* ---------------- latency histogram ---------------- */
#define HBUCKETS (64 + 58 * 64)
struct hist {
	uint64_t n, max;
	uint64_t c[HBUCKETS];
};
static inline unsigned hidx(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned m = 63 - (unsigned)__builtin_clzll(v); /* >= 6 */
	unsigned shift = m - 6;
	return 64 + shift * 64 + (unsigned)((v >> shift) - 64);
}
static uint64_t hval(unsigned i)
{
	if (i < 64)
		return i;
	unsigned shift = (i - 64) / 64, sub = (i - 64) % 64;
	/* middle of the bucket */
	return ((uint64_t)(64 + sub) << shift) + (((uint64_t)1 << shift) >> 1);
}
static inline void hadd(struct hist *h, uint64_t v)
{
	v = v > clock_cost ? v - clock_cost : 0;
	h->c[hidx(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}
static void hmerge(struct hist *to, const struct hist *from)
{
	to->n += from->n;
	if (from->max > to->max)
		to->max = from->max;
	for (unsigned i = 0; i < HBUCKETS; i++)
		to->c[i] += from->c[i];
}
static uint64_t hpct(const struct hist *h, double p)
{
	if (!h->n)
		return 0;
	uint64_t want = (uint64_t)ceil(p * (double)h->n), acc = 0;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HBUCKETS; i++) {
		acc += h->c[i];
		if (acc >= want) {
			uint64_t v = hval(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* ---------------- configuration ---------------- */
enum wl { WL_RO, WL_ABSENT, WL_RM, WL_RMZ, WL_BAL, WL_BALZ, WL_WH, WL_GROWTH, WL_CHURN, WL_N };
static const char *wl_name[WL_N] = {
	"read-only", "absent", "read-mostly", "read-mostly-zipf", "balanced",
	"balanced-zipf", "write-heavy", "growth", "churn",
};
static const int wl_get_pct[WL_N] = { 100, 100, 90, 90, 50, 50, 0, 0, 0 };
static const int wl_ins_pct[WL_N] = { 0, 0, 5, 5, 25, 25, 50, 0, 0 };

static const struct bench_adapter *A;
static uint64_t nkeys = 1000;
static double duration = 0.5, churn_duration = 2.0;
static uint64_t fixed_ops; /* per thread; 0: fixed duration */
static unsigned sample_every = 64;

/* Zipf(s) ranks over [0, n): the Gray et al. generator, precomputed into a
 * shared array that threads read from random offsets (no pow() per op). */
#define ZIPF_SAMPLES (1u << 20)
static uint32_t *zipf;
static void zipf_init(uint64_t n, double s)
{
	double zetan = 0, zeta2 = 1.0 + pow(0.5, s);
	for (uint64_t i = 1; i <= n; i++)
		zetan += 1.0 / pow((double)i, s);
	double alpha = 1.0 / (1.0 - s);
	double eta = (1.0 - pow(2.0 / (double)n, 1.0 - s)) / (1.0 - zeta2 / zetan);
	zipf = malloc(ZIPF_SAMPLES * sizeof(*zipf));
	if (!zipf)
		die("out of memory");
	uint64_t st = 0x1234567;
	for (uint32_t i = 0; i < ZIPF_SAMPLES; i++) {
		double u = (double)(xorshift(&st) >> 11) / 9007199254740992.0;
		double uz = u * zetan;
		uint64_t r;
		if (uz < 1.0)
			r = 0;
		else if (uz < zeta2)
			r = 1;
		else
			r = (uint64_t)((double)n * pow(eta * u - eta + 1.0, alpha));
		if (r >= n)
			r = n - 1;
		zipf[i] = (uint32_t)r;
	}
}

/* ---------------- runs ---------------- */
struct worker {
	pthread_t th;
	unsigned id, nthreads;
	enum wl wl;
	void *map;
	uint64_t ops, errors;
	uint64_t t_end;
	struct hist *h;
	/* growth: this thread's minor page faults and involuntary context
	 * switches while inserting (getrusage RUSAGE_THREAD) */
	long minflt, nivcsw;
} __attribute__((aligned(64)));

static atomic_int go, stop;
static atomic_uint ready;

static void wait_go(void)
{
	atomic_fetch_add(&ready, 1);
	while (!atomic_load_explicit(&go, memory_order_acquire))
		sched_yield();
}

/* The op loop, specialised per workload (wl is a constant in each work_*
 * function below): under callgrind each work_* function's inclusive cost is
 * exactly one workload's operations plus the harness's own per-op work. */
static inline __attribute__((always_inline)) void steady_body(struct worker *w, enum wl wl,
							       uint64_t nops)
{
	const struct bench_adapter *a = A;
	void *m = w->map;
	uint64_t s = 0x9E3779B97F4A7C15ull * (w->id + 1) ^ (uint64_t)wl << 32 ^ nkeys ^ nops;
	const uint64_t range = 2 * nkeys;
	const unsigned gp = (unsigned)wl_get_pct[wl];
	const unsigned ip = gp + (unsigned)wl_ins_pct[wl];
	const int zipfed = wl == WL_RMZ || wl == WL_BALZ;
	uint32_t zi = (uint32_t)xorshift(&s) & (ZIPF_SAMPLES - 1);
	const unsigned smask = sample_every - 1;
	uint64_t ops = 0, errors = 0, v;
	for (;;) {
		for (int i = 0; i < BENCH_QUIESCE_EVERY; i++) {
			uint64_t x = xorshift(&s);
			unsigned pct = (unsigned)(((x & 0xffff) * 100) >> 16);
			uint64_t key;
			if (wl == WL_RO)
				key = 2 * (1 + below(x >> 32, nkeys));
			else if (wl == WL_ABSENT)
				key = range + 1 + below(x >> 32, range);
			else if (zipfed)
				key = 1 + zipf[zi++ & (ZIPF_SAMPLES - 1)];
			else
				key = 1 + below(x >> 32, range);
			uint64_t t0 = 0;
			int timed = ((unsigned)ops & smask) == 0;
			if (timed)
				t0 = now_ns();
			if (pct < gp) {
				int r = a->get(m, K(key), &v);
				if (wl == WL_RO && (!r || v != key))
					errors++;
				else if (wl == WL_ABSENT && r)
					errors++;
				else if (r && v != key)
					errors++;
			} else if (pct < ip) {
				a->insert(m, K(key), key);
			} else {
				a->remove(m, K(key));
			}
			if (timed)
				hadd(w->h, now_ns() - t0);
			ops++;
		}
		if (a->quiesce)
			a->quiesce(m);
		if (nops ? ops >= nops : atomic_load_explicit(&stop, memory_order_relaxed))
			break;
	}
	w->ops += ops;
	w->errors += errors;
}
#define WORK(fn, wl) \
	static __attribute__((noinline)) void fn(struct worker *w, uint64_t n) { steady_body(w, wl, n); }
WORK(work_read_only, WL_RO)
WORK(work_absent, WL_ABSENT)
WORK(work_read_mostly, WL_RM)
WORK(work_read_mostly_zipf, WL_RMZ)
WORK(work_balanced, WL_BAL)
WORK(work_balanced_zipf, WL_BALZ)
WORK(work_write_heavy, WL_WH)
/* cache warm-up before counted work (not counted: its own function) */
WORK(warmup_read_only, WL_RO)
WORK(warmup_absent, WL_ABSENT)
WORK(warmup_read_mostly, WL_RM)
WORK(warmup_read_mostly_zipf, WL_RMZ)
WORK(warmup_balanced, WL_BAL)
WORK(warmup_balanced_zipf, WL_BALZ)
WORK(warmup_write_heavy, WL_WH)
static void (*const work_fn[])(struct worker *, uint64_t) = {
	work_read_only, work_absent, work_read_mostly, work_read_mostly_zipf,
	work_balanced, work_balanced_zipf, work_write_heavy,
};
static void (*const warmup_fn[])(struct worker *, uint64_t) = {
	warmup_read_only, warmup_absent, warmup_read_mostly, warmup_read_mostly_zipf,
	warmup_balanced, warmup_balanced_zipf, warmup_write_heavy,
};
static uint64_t warmup_ops;

static void *steady_worker(void *arg)
{
	struct worker *w = arg;
	A->thread_enter(w->map);
	if (fixed_ops && warmup_ops) {
		warmup_fn[w->wl](w, warmup_ops);
		w->ops = w->errors = 0;
	}
	wait_go();
	work_fn[w->wl](w, fixed_ops);
	w->t_end = now_ns();
	A->thread_exit(w->map);
	return NULL;
}

static void *growth_worker(void *arg)
{
	struct worker *w = arg;
	void *m = w->map;
	uint64_t per = nkeys / w->nthreads;
	uint64_t first = w->id * per + 1;
	if (w->id == w->nthreads - 1)
		per = nkeys - w->id * per;
	A->thread_enter(m);
	wait_go();
	struct rusage ru0, ru1;
	getrusage(RUSAGE_THREAD, &ru0);
	for (uint64_t k = first; k < first + per; k++) {
		uint64_t t0 = now_ns();
		int r = A->insert(m, K(k), k);
		hadd(w->h, now_ns() - t0);
		if (r != 1)
			w->errors++;
		if (A->quiesce && (k & (BENCH_QUIESCE_EVERY - 1)) == 0)
			A->quiesce(m); /* untimed, like an event loop between batches */
	}
	w->t_end = now_ns();
	getrusage(RUSAGE_THREAD, &ru1);
	w->minflt = ru1.ru_minflt - ru0.ru_minflt;
	w->nivcsw = ru1.ru_nivcsw - ru0.ru_nivcsw;
	A->thread_exit(m);
	w->ops = per;
	return NULL;
}

/* churn: thread t owns keys 1 + t + T*j; window W = N/T keys per thread */
static uint64_t churn_key(const struct worker *w, uint64_t j)
{
	return 1 + w->id + (uint64_t)w->nthreads * j;
}
static void *churn_worker(void *arg)
{
	struct worker *w = arg;
	void *m = w->map;
	uint64_t W = nkeys / w->nthreads, j = W, ops = 0;
	const unsigned smask = sample_every - 1;
	A->thread_enter(m);
	wait_go();
	for (;;) {
		for (int i = 0; i < BENCH_QUIESCE_EVERY / 2; i++, j++) {
			int timed = ((unsigned)ops & smask) == 0;
			uint64_t t0 = timed ? now_ns() : 0;
			if (A->insert(m, K(churn_key(w, j)), j) != 1)
				w->errors++;
			if (timed)
				hadd(w->h, now_ns() - t0);
			if (A->remove(m, K(churn_key(w, j - W))) != 1)
				w->errors++;
			ops += 2;
		}
		if (A->quiesce)
			A->quiesce(m);
		if (atomic_load_explicit(&stop, memory_order_relaxed))
			break;
	}
	w->t_end = now_ns();
	A->thread_exit(m);
	w->ops = ops;
	return NULL;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* RSS samples of a churn run */
static double rss_samp[4096];
static unsigned n_rss;

/* summed over the workers of the last run_threads (growth_worker sets them) */
static long last_minflt, last_nivcsw;

static int run_threads(enum wl wl, void *m, unsigned T, void *(*fn)(void *), double dur,
		       struct hist *tot, uint64_t *opsp, uint64_t *errp, double *secs)
{
	struct worker *w = aligned_alloc(64, sizeof(*w) * T);
	if (!w)
		die("out of memory");
	atomic_store(&go, 0);
	atomic_store(&stop, 0);
	atomic_store(&ready, 0);
	for (unsigned i = 0; i < T; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].nthreads = T;
		w[i].wl = wl;
		w[i].map = m;
		w[i].h = calloc(1, sizeof(struct hist));
		if (!w[i].h)
			die("out of memory");
		if (pthread_create(&w[i].th, NULL, fn, &w[i]))
			die("pthread_create");
	}
	while (atomic_load(&ready) < T)
		sched_yield();
	uint64_t t0 = now_ns();
	atomic_store_explicit(&go, 1, memory_order_release);
	if (dur > 0 && !fixed_ops) {
		if (wl == WL_CHURN) {
			n_rss = 0;
			double step = 0.05;
			for (double t = 0; t < dur && n_rss < 4096; t += step) {
				sleep_s(step);
				rss_samp[n_rss++] = rss_mib();
			}
		} else {
			sleep_s(dur);
		}
		atomic_store(&stop, 1);
	}
	uint64_t ops = 0, err = 0, tend = t0;
	for (unsigned i = 0; i < T; i++) {
		pthread_join(w[i].th, NULL);
		ops += w[i].ops;
		err += w[i].errors;
		if (w[i].t_end > tend)
			tend = w[i].t_end;
		hmerge(tot, w[i].h);
		free(w[i].h);
		last_minflt += w[i].minflt;
		last_nivcsw += w[i].nivcsw;
	}
	free(w);
	*opsp = ops;
	*errp = err;
	*secs = (double)(tend - t0) / 1e9;
	return err ? -1 : 0;
}

static void row(const char *wl, unsigned T, double mops, const struct hist *h, double rss)
{
	printf("%s\t%s\t%llu\t%u\t%.3f\t%llu\t%llu\t%llu\t%llu\t%.1f\n", A->name, wl,
	       (unsigned long long)nkeys, T, mops, (unsigned long long)hpct(h, 0.50),
	       (unsigned long long)hpct(h, 0.99), (unsigned long long)hpct(h, 0.999),
	       (unsigned long long)h->max, rss);
	fflush(stdout);
}

static int failed;

static void prefill(void *m)
{
	if (A == &bench_null)
		return;
	A->thread_enter(m);
	for (uint64_t k = 2; k <= 2 * nkeys; k += 2) {
		if (A->insert(m, K(k), k) != 1) {
			fprintf(stderr, "%s: prefill insert of %llu failed\n", A->name,
				(unsigned long long)k);
			exit(1);
		}
		if (A->quiesce && (k & 127) == 0)
			A->quiesce(m);
	}
	A->thread_exit(m);
}

static void run_steady(const int *want, const unsigned *threads, unsigned nthr)
{
	struct hist *h = calloc(1, sizeof(*h));
	double rss0 = rss_mib();
	void *m = A->create(nkeys);
	if (!m)
		die("create failed");
	A->thread_enter(m);
	A->thread_exit(m);
	uint64_t t0 = now_ns();
	prefill(m);
	double secs = (double)(now_ns() - t0) / 1e9;
	row("prefill", 1, (double)nkeys / secs / 1e6, h, rss_mib() - rss0);
	/* under callgrind --instr-atstart=no: instrument from here on */
	CALLGRIND_START_INSTRUMENTATION;
	for (int wl = WL_RO; wl <= WL_WH; wl++) {
		if (!want[wl])
			continue;
		for (unsigned ti = 0; ti < nthr; ti++) {
			uint64_t ops, err;
			memset(h, 0, sizeof(*h));
			run_threads(wl, m, threads[ti], steady_worker, duration, h, &ops, &err,
				    &secs);
			if (err && A != &bench_null) { /* null has no contents */
				fprintf(stderr, "%s %s T=%u: %llu wrong results\n", A->name,
					wl_name[wl], threads[ti], (unsigned long long)err);
				failed = 1;
			}
			row(wl_name[wl], threads[ti], (double)ops / secs / 1e6, h, rss_mib());
		}
	}
	A->thread_enter(m);
	A->destroy(m);
	A->thread_exit(m);
	free(h);
}

/* A growth run that has not finished after --growth-timeout seconds is
 * reported as "#timeout" (seen with rculfhash 0.13.2: a lost resize request
 * leaves the table at its first size and inserts walk ever longer chains). */
static unsigned growth_timeout = 60;
static char timeout_msg[256];
static void on_alarm(int sig)
{
	(void)sig;
	ssize_t r = write(1, timeout_msg, strlen(timeout_msg));
	(void)r;
	_exit(3);
}

static void run_growth(const unsigned *threads, unsigned nthr)
{
	signal(SIGALRM, on_alarm);
	struct hist *h = calloc(1, sizeof(*h));
	for (unsigned ti = 0; ti < nthr; ti++) {
		unsigned T = threads[ti];
		void *m = A->create(0);
		if (!m)
			die("create failed");
		uint64_t ops, err;
		double secs;
		memset(h, 0, sizeof(*h));
		snprintf(timeout_msg, sizeof(timeout_msg),
			 "#timeout\t%s\tgrowth\t%llu\t%u\t%u s\n", A->name,
			 (unsigned long long)nkeys, T, growth_timeout);
		fflush(stdout);
		alarm(growth_timeout);
		last_minflt = last_nivcsw = 0;
		run_threads(WL_GROWTH, m, T, growth_worker, 0, h, &ops, &err, &secs);
		alarm(0);
		/* page faults and preemptions the inserting threads suffered:
		 * what the latency tail is made of besides the map's own work */
		printf("#faults\t%s\t%llu\t%u\tminflt=%ld\tnivcsw=%ld\n", A->name,
		       (unsigned long long)nkeys, T, last_minflt, last_nivcsw);
		/* every 7th key must be there */
		A->thread_enter(m);
		for (uint64_t k = 1; k <= nkeys; k += 7) {
			uint64_t v;
			if (A->get(m, K(k), &v) != 1 || v != k)
				err++;
			if (A->quiesce && (k & 511) == 1)
				A->quiesce(m);
		}
		if (err) {
			fprintf(stderr, "%s growth T=%u: %llu wrong results\n", A->name, T,
				(unsigned long long)err);
			failed = 1;
		}
		printf("#growth\t%s\t%llu\t%u\tp9999_ns=%llu\n", A->name,
		       (unsigned long long)nkeys, T, (unsigned long long)hpct(h, 0.9999));
		row("growth", T, (double)nkeys / secs / 1e6, h, rss_mib());
		A->destroy(m);
		A->thread_exit(m);
	}
	free(h);
}

static void run_churn(const unsigned *threads, unsigned nthr)
{
	struct hist *h = calloc(1, sizeof(*h));
	for (unsigned ti = 0; ti < nthr; ti++) {
		unsigned T = threads[ti];
		void *m = A->create(nkeys);
		if (!m)
			die("create failed");
		uint64_t W = nkeys / T;
		A->thread_enter(m);
		for (uint64_t j = 0; j < W; j++)
			for (unsigned t = 0; t < T; t++) {
				A->insert(m, K(1 + t + (uint64_t)T * j), j); /* = churn_key */
				if (A->quiesce && (j & 63) == 0)
					A->quiesce(m);
			}
		A->thread_exit(m);
		uint64_t ops, err;
		double secs;
		memset(h, 0, sizeof(*h));
		run_threads(WL_CHURN, m, T, churn_worker, churn_duration, h, &ops, &err, &secs);
		if (err) {
			fprintf(stderr, "%s churn T=%u: %llu wrong results\n", A->name, T,
				(unsigned long long)err);
			failed = 1;
		}
		/* plateau: RSS at 1/3 of the run vs the peak of the rest
		 * (growth_pct); and, since migrations make RSS a sawtooth (old
		 * and new table coexist until a grace period), the peak of the
		 * last third vs the peak of the middle third (peak_growth_pct):
		 * a sawtooth whose peaks do not rise is bounded memory. */
		double warm = n_rss ? rss_samp[n_rss / 3] : 0, peak = 0, endr = 0;
		double peak_mid = 0, peak_last = 0;
		for (unsigned i = n_rss / 3; i < n_rss; i++) {
			if (rss_samp[i] > peak)
				peak = rss_samp[i];
			double *pk = i < 2 * n_rss / 3 ? &peak_mid : &peak_last;
			if (rss_samp[i] > *pk)
				*pk = rss_samp[i];
		}
		if (n_rss)
			endr = rss_samp[n_rss - 1];
		double growth = warm > 0 ? (peak - warm) / warm * 100.0 : 0;
		double pgrowth = peak_mid > 0 ? (peak_last - peak_mid) / peak_mid * 100.0 : 0;
		const char *dump = getenv("BENCH_RSS_DUMP");
		FILE *df = dump && *dump ? fopen(dump, "a") : NULL;
		if (df) {
			for (unsigned i = 0; i < n_rss; i++)
				fprintf(df, "%s\t%u\t%u\t%.1f\n", A->name, T, i, rss_samp[i]);
			fclose(df);
		}
		printf("#churn\t%s\t%llu\t%u\twarm_mib=%.1f\tpeak_mib=%.1f\tend_mib=%.1f\t"
		       "growth_pct=%.1f\tplateau=%s\tsamples=%u\tpeak_mid_mib=%.1f\t"
		       "peak_last_mib=%.1f\tpeak_growth_pct=%.1f\n",
		       A->name, (unsigned long long)nkeys, T, warm, peak, endr, growth,
		       growth <= 5.0 ? "yes" : "no", n_rss, peak_mid, peak_last, pgrowth);
		row("churn", T, (double)ops / secs / 1e6, h, peak);
		A->thread_enter(m);
		A->destroy(m);
		A->thread_exit(m);
	}
	free(h);
}

/* ---------------- correctness smoke check ---------------- */
#define SMOKE_N 20000
static int smoke_fail(const char *what, uint64_t k)
{
	fprintf(stderr, "SMOKE FAIL %s: %s (key %llu)\n", A->name, what, (unsigned long long)k);
	return 1;
}

struct smoke_arg {
	void *m;
	unsigned id;
	int bad;
};
#define MT_THREADS 4
#define MT_KEYS 4096 /* per thread */
#define MT_SHARED 2048
static void *smoke_thread(void *argp)
{
	struct smoke_arg *a = argp;
	void *m = a->m;
	unsigned char model[MT_KEYS] = { 0 };
	uint64_t s = 88172645463325252ull + a->id, v;
	uint64_t base = 1000000 + (uint64_t)a->id * MT_KEYS;
	A->thread_enter(m);
	wait_go();
	for (int i = 0; i < 200000 && !a->bad; i++) {
		uint64_t x = xorshift(&s);
		uint64_t j = below(x >> 32, MT_KEYS), k = base + j;
		unsigned op = (unsigned)(x & 3);
		if (op == 0) {
			int r = A->insert(m, k, k * 3);
			if (r != !model[j])
				a->bad = smoke_fail("mt insert result", k);
			model[j] = 1;
		} else if (op == 1) {
			int r = A->remove(m, k);
			if (r != model[j])
				a->bad = smoke_fail("mt remove result", k);
			model[j] = 0;
		} else if (op == 2) {
			int r = A->get(m, k, &v);
			if (r != model[j] || (r && v != k * 3))
				a->bad = smoke_fail("mt get result", k);
		} else {
			uint64_t sk = 1 + below(x >> 40 & 0xffffff, MT_SHARED);
			if (A->get(m, sk, &v) != 1 || v != sk + 5)
				a->bad = smoke_fail("mt shared get", sk);
		}
		if ((i & 63) == 0 && A->quiesce)
			A->quiesce(m);
	}
	for (uint64_t j = 0; j < MT_KEYS && !a->bad; j++)
		if (A->get(m, base + j, &v) != model[j])
			a->bad = smoke_fail("mt final state", base + j);
	A->thread_exit(m);
	return NULL;
}

static int smoke(void)
{
	uint64_t v;
	int bad = 0;
	/* single thread, from the smallest map (growth included) */
	void *m = A->create(0);
	if (!m)
		return smoke_fail("create", 0);
	A->thread_enter(m);
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k++) {
		if (A->insert(m, k, k * 7) != 1)
			bad = smoke_fail("insert new", k);
		if (A->quiesce && (k & 63) == 0)
			A->quiesce(m);
	}
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k++)
		if (A->insert(m, k, 1) != 0)
			bad = smoke_fail("insert present", k);
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k++)
		if (A->get(m, k, &v) != 1 || v != k * 7)
			bad = smoke_fail("get present", k);
	for (uint64_t k = SMOKE_N + 1; k <= 2 * SMOKE_N && !bad; k++)
		if (A->get(m, k, &v) != 0)
			bad = smoke_fail("get absent", k);
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k += 2)
		if (A->remove(m, k) != 1)
			bad = smoke_fail("remove present", k);
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k += 2)
		if (A->remove(m, k) != 0)
			bad = smoke_fail("remove absent", k);
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k++) {
		int r = A->get(m, k, &v);
		if ((k & 1) ? r != 0 : (r != 1 || v != k * 7))
			bad = smoke_fail("get after remove", k);
	}
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k += 2)
		if (A->insert(m, k, k * 7) != 1)
			bad = smoke_fail("reinsert", k);
	for (uint64_t k = 1; k <= SMOKE_N && !bad; k++)
		if (A->get(m, k, &v) != 1 || v != k * 7)
			bad = smoke_fail("get after reinsert", k);
	A->destroy(m);
	A->thread_exit(m);
	if (bad)
		return 1;

	/* multi thread: private key ranges checked against per-thread models
	 * while every thread also reads a shared prefilled range; the map grows
	 * from its smallest size meanwhile */
	m = A->create(0);
	A->thread_enter(m);
	for (uint64_t k = 1; k <= MT_SHARED; k++)
		if (A->insert(m, k, k + 5) != 1)
			return smoke_fail("mt prefill", k);
	A->thread_exit(m);
	struct smoke_arg args[MT_THREADS];
	pthread_t th[MT_THREADS];
	atomic_store(&go, 0);
	atomic_store(&ready, 0);
	for (unsigned i = 0; i < MT_THREADS; i++) {
		args[i] = (struct smoke_arg){ m, i, 0 };
		if (pthread_create(&th[i], NULL, smoke_thread, &args[i]))
			die("pthread_create");
	}
	while (atomic_load(&ready) < MT_THREADS)
		sched_yield();
	atomic_store(&go, 1);
	for (unsigned i = 0; i < MT_THREADS; i++) {
		pthread_join(th[i], NULL);
		bad |= args[i].bad;
	}
	A->thread_enter(m);
	A->destroy(m);
	A->thread_exit(m);
	return bad;
}

/* ---------------- main ---------------- */
static const struct bench_adapter *find_adapter(const char *name)
{
	for (size_t i = 0; i < NADAPTERS; i++)
		if (!strcmp(adapters[i]->name, name))
			return adapters[i];
	fprintf(stderr, "lfmap-bench: unknown map '%s' (--list)\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *map = NULL, *wls = "read-mostly", *smoke_list = NULL;
	unsigned threads[16] = { 1 }, nthr = 1;
	int header = 0;
	const char *ks = getenv("BENCH_KEY_SCRAMBLE");
	key_scramble = ks != NULL && atoi(ks) != 0;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--list")) {
			for (size_t j = 0; j < NADAPTERS; j++)
				puts(adapters[j]->name);
			return 0;
		} else if (!strcmp(o, "--header")) {
			header = 1;
			continue;
		}
		if (!val)
			die("option needs a value");
		i++;
		if (!strcmp(o, "--map"))
			map = val;
		else if (!strcmp(o, "--smoke"))
			smoke_list = val;
		else if (!strcmp(o, "--keys"))
			nkeys = strtoull(val, NULL, 0);
		else if (!strcmp(o, "--workloads"))
			wls = val;
		else if (!strcmp(o, "--duration"))
			duration = atof(val);
		else if (!strcmp(o, "--churn-duration"))
			churn_duration = atof(val);
		else if (!strcmp(o, "--ops"))
			fixed_ops = strtoull(val, NULL, 0);
		else if (!strcmp(o, "--growth-timeout"))
			growth_timeout = (unsigned)atoi(val);
		else if (!strcmp(o, "--warmup"))
			warmup_ops = strtoull(val, NULL, 0);
		else if (!strcmp(o, "--sample"))
			sample_every = (unsigned)atoi(val);
		else if (!strcmp(o, "--threads")) {
			nthr = 0;
			char *dup = strdup(val), *sv, *t;
			for (t = strtok_r(dup, ",", &sv); t && nthr < 16; t = strtok_r(NULL, ",", &sv))
				threads[nthr++] = (unsigned)atoi(t);
			free(dup);
		} else
			die("unknown option (see the comment at the top of bench/lfmap-bench.c)");
	}
	if (sample_every == 0 || (sample_every & (sample_every - 1)))
		die("--sample must be a power of two");
	if (nkeys < 16 || nkeys > (UINT64_C(1) << 30))
		die("--keys out of range");
	for (unsigned i = 0; i < nthr; i++)
		if (threads[i] < 1 || threads[i] > 64)
			die("--threads: 1..64");
	calibrate_clock();

	if (smoke_list) {
		int bad = 0;
		char *dup = strdup(smoke_list), *sv, *t;
		for (t = strtok_r(dup, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
			size_t lo = 0, hi = NADAPTERS;
			if (strcmp(t, "all")) {
				A = find_adapter(t);
				int r = smoke();
				printf("smoke %-16s %s\n", A->name, r ? "FAIL" : "ok");
				bad |= r;
				continue;
			}
			for (size_t j = lo; j < hi; j++) {
				A = adapters[j];
				if (A == &bench_null)
					continue;
				int r = smoke();
				printf("smoke %-16s %s\n", A->name, r ? "FAIL" : "ok");
				fflush(stdout);
				bad |= r;
			}
		}
		free(dup);
		return bad;
	}
	if (!map)
		die("--map NAME or --smoke or --list");
	A = find_adapter(map);
	/* refuse to measure a map that does not pass its smoke check */
	if (A != &bench_null && smoke()) {
		fprintf(stderr, "lfmap-bench: %s failed its smoke check, no numbers\n", A->name);
		return 1;
	}
	int want[WL_N] = { 0 }, any_steady = 0;
	char *dup = strdup(wls), *sv, *t;
	for (t = strtok_r(dup, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
		int k;
		for (k = 0; k < WL_N; k++)
			if (!strcmp(t, wl_name[k]))
				break;
		if (k == WL_N) {
			fprintf(stderr, "lfmap-bench: unknown workload '%s'\n", t);
			return 2;
		}
		want[k] = 1;
		if (k <= WL_WH)
			any_steady = 1;
	}
	free(dup);
	if (want[WL_RMZ] || want[WL_BALZ])
		zipf_init(2 * nkeys, 0.99);
	if (header)
		printf("map\tworkload\tkeys\tthreads\tmops\tp50_ns\tp99_ns\tp999_ns\tmax_ns\trss_mib\n");
	if (any_steady)
		run_steady(want, threads, nthr);
	if (want[WL_GROWTH])
		run_growth(threads, nthr);
	if (want[WL_CHURN])
		run_churn(threads, nthr);
	free(zipf);
	return failed;
}
