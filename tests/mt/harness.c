/*
 * tests/mt/harness.c - see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if MT_TSAN
#include <sanitizer/tsan_interface.h>
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#endif

/* ------------------------------------------------------------ registry */

#define MT_MAX_TESTS 128
#define MT_NAME_MAX 96
#define MT_REASON_MAX 768
#define MT_PRINT_FAILS 8

struct mt_test {
	char name[MT_NAME_MAX];
	mt_test_fn fn;
	const void *arg;
};

static struct mt_test tests[MT_MAX_TESTS];
static int ntests;

static uint64_t run_seed;
static unsigned run_scale = 1;
static bool run_verbose;
static uint64_t cur_test_seed;
static const char *cur_test_name = "";

static atomic_int fail_count;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_reason[MT_REASON_MAX];

static int npassed, nfailed;

/* watchdog */
static _Atomic uint64_t wd_test_start_ns; /* 0: no test running */
static uint64_t wd_timeout_ns;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

void mt_register(const char *name, mt_test_fn fn, const void *arg)
{
	if (ntests == MT_MAX_TESTS) {
		fprintf(stderr, "harness: too many tests\n");
		exit(2);
	}
	snprintf(tests[ntests].name, MT_NAME_MAX, "%s", name);
	tests[ntests].fn = fn;
	tests[ntests].arg = arg;
	ntests++;
}

const struct mt_mode mt_mode_bg = { "bg", 0, false };
const struct mt_mode mt_mode_driven = { "driven", LFMAP_F_NO_BACKGROUND, true };

void mt_register_modes(const char *name, mt_test_fn fn)
{
	char buf[MT_NAME_MAX];
	snprintf(buf, sizeof buf, "%s/%s", name, mt_mode_bg.name);
	mt_register(buf, fn, &mt_mode_bg);
	snprintf(buf, sizeof buf, "%s/%s", name, mt_mode_driven.name);
	mt_register(buf, fn, &mt_mode_driven);
}

void mt_fail_at(const char *file, int line, const char *fmt, ...)
{
	char msg[MT_REASON_MAX];
	const char *base = strrchr(file, '/');
	int off = snprintf(msg, sizeof msg, "%s:%d: ", base ? base + 1 : file, line);
	va_list ap;
	va_start(ap, fmt);
	if (off > 0 && (size_t)off < sizeof msg)
		vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
	va_end(ap);

	int n = atomic_fetch_add(&fail_count, 1);
	if (n == 0) {
		pthread_mutex_lock(&fail_lock);
		snprintf(fail_reason, sizeof fail_reason, "%s", msg);
		pthread_mutex_unlock(&fail_lock);
	}
	if (n < MT_PRINT_FAILS) {
		pthread_mutex_lock(&print_lock);
		fprintf(stderr, "  [%s] %s\n", cur_test_name, msg);
		pthread_mutex_unlock(&print_lock);
	}
}

bool mt_failed(void)
{
	return atomic_load_explicit(&fail_count, memory_order_relaxed) != 0;
}

bool mt_verbose(void)
{
	return run_verbose;
}

void mt_note(const char *fmt, ...)
{
	if (!run_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&print_lock);
	fprintf(stderr, "  [%s] ", cur_test_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&print_lock);
	va_end(ap);
}

/* ---------------------------------------------------------- scale, time */

unsigned mt_scale(void)
{
	return run_scale;
}

size_t mt_iters(size_t base)
{
	size_t n = base * run_scale;
	if (MT_TSAN)
		n /= 20;
	return n ? n : 1;
}

size_t mt_iters_min(size_t base, size_t min)
{
	size_t n = mt_iters(base);
	return n < min ? min : n;
}

int mt_threads(int n)
{
	if (MT_TSAN) {
		n /= 2;
		if (n < 4)
			n = 4;
	}
	return n;
}

uint64_t mt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mt_deadline_ms(uint64_t base_ms)
{
	return mt_now_ns() + base_ms * run_scale * 1000000u;
}

void mt_sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000u, (long)(us % 1000000u) * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------- RNG */

void mt_rng_init(struct mt_rng *r, uint64_t seed)
{
	uint64_t x = mt_mix64(seed + UINT64_C(0x9E3779B97F4A7C15));
	r->s = x ? x : UINT64_C(0x853c49e6748fea9b);
}

uint64_t mt_seed(void)
{
	return run_seed;
}

uint64_t mt_test_seed(void)
{
	return cur_test_seed;
}

/* --------------------------------------------------------------- threads */

struct mt_group {
	int n;
	pthread_t *tids;
	struct mt_thread *ts;
	pthread_barrier_t start;
	pthread_barrier_t phase;
};

static atomic_uint spawn_counter;

/* Each thread's block: its struct mt_thread followed by the function. */
struct mt_thread_block {
	struct mt_thread t; /* first member */
	mt_thread_fn fn;
};

static void *thread_main(void *p)
{
	struct mt_thread_block *b = p;
	urcu_memb_register_thread();
	pthread_barrier_wait(&b->t.group->start);
	b->fn(&b->t);
	urcu_memb_unregister_thread();
	return NULL;
}

struct mt_group *mt_spawn(int n, mt_thread_fn fn, void *arg)
{
	struct mt_group *g = calloc(1, sizeof *g);
	struct mt_thread_block *blocks = calloc((size_t)n, sizeof *blocks);
	if (!g || !blocks || n <= 0) {
		fprintf(stderr, "harness: out of memory\n");
		exit(2);
	}
	g->n = n;
	g->tids = calloc((size_t)n, sizeof *g->tids);
	g->ts = &blocks[0].t;
	pthread_barrier_init(&g->start, NULL, (unsigned)n);
	pthread_barrier_init(&g->phase, NULL, (unsigned)n);
	unsigned sc = atomic_fetch_add(&spawn_counter, 1);
	for (int i = 0; i < n; i++) {
		struct mt_thread *t = &blocks[i].t;
		blocks[i].fn = fn;
		t->id = i;
		t->n = n;
		t->arg = arg;
		t->group = g;
		mt_rng_init(&t->rng, cur_test_seed ^ mt_mix64(((uint64_t)sc << 32) | (uint64_t)i));
	}
	for (int i = 0; i < n; i++) {
		int rc = pthread_create(&g->tids[i], NULL, thread_main, &blocks[i]);
		if (rc) {
			fprintf(stderr, "harness: pthread_create: %s\n", strerror(rc));
			exit(2);
		}
	}
	return g;
}

void mt_join(struct mt_group *g)
{
	for (int i = 0; i < g->n; i++)
		pthread_join(g->tids[i], NULL);
	pthread_barrier_destroy(&g->start);
	pthread_barrier_destroy(&g->phase);
	free(g->tids);
	free((struct mt_thread_block *)(void *)g->ts);
	free(g);
}

void mt_run_threads(int n, mt_thread_fn fn, void *arg)
{
	mt_join(mt_spawn(n, fn, arg));
}

void mt_barrier(struct mt_thread *t)
{
	pthread_barrier_wait(&t->group->phase);
}

/* ------------------------------------------------------------ map modes */

#define MT_TRACE_COUNTERS 1024
static _Atomic uint64_t trace_counters[MT_TRACE_COUNTERS];
static atomic_uint trace_next;

static void trace_cb(void *arg, const char *line)
{
	_Atomic uint64_t *c = arg;
	atomic_fetch_add(c, 1);
	if (run_verbose) {
		pthread_mutex_lock(&print_lock);
		fprintf(stderr, "  [%s] trace: %s%s", cur_test_name, line,
			(*line && line[strlen(line) - 1] == '\n') ? "" : "\n");
		pthread_mutex_unlock(&print_lock);
	}
}

void mt_config(struct lfmap_config *cfg, const struct mt_mode *mode)
{
	lfmap_config_init(cfg);
	cfg->size_hint = 0;
	cfg->max_work = 1;
	cfg->flags |= mode->flags | LFMAP_F_FIXED_SEED;
	cfg->seed = mt_mix64(cur_test_seed ^ UINT64_C(0x5eed));
	cfg->trace = trace_cb;
	unsigned i = atomic_fetch_add(&trace_next, 1) % MT_TRACE_COUNTERS;
	atomic_store(&trace_counters[i], 0);
	cfg->trace_arg = &trace_counters[i];
}

uint64_t mt_trace_lines(const struct lfmap_config *cfg)
{
	if (cfg->trace != trace_cb)
		return 0;
	return atomic_load((_Atomic uint64_t *)cfg->trace_arg);
}

struct mt_resizer {
	pthread_t tid;
	struct lfmap *map;
	const struct mt_mode *mode;
	atomic_bool stop;
	struct mt_resizer_stats st;
	uint64_t seed;
};

static void *resizer_main(void *p)
{
	struct mt_resizer *r = p;
	static const enum lfmap_resize kinds[3] = { LFMAP_RESIZE_GROW, LFMAP_RESIZE_SHRINK,
						    LFMAP_RESIZE_COMPACT };
	struct mt_rng rng;
	mt_rng_init(&rng, r->seed);
	unsigned k = 0;
	urcu_memb_register_thread();
	while (!atomic_load_explicit(&r->stop, memory_order_acquire) && !mt_failed()) {
		r->st.loops++;
		/* The map calls and the migration work run inside one of our
		 * read-side sections (they nest): lfmap's own sections carry
		 * the map's private TSan grace-period address, which the
		 * tests' call_rcu callbacks cannot acquire, while mt_read_unlock
		 * releases the harness's (see mt_rcu_cb_enter). */
		mt_read_lock(r->map);
		int rc = lfmap_resize(r->map, kinds[k]);
		if (rc == 0) {
			/* advance only on success, so that GROW and SHRINK
			 * alternate and the table size stays bounded */
			r->st.started++;
			k = (k + 1) % 3;
		} else if (rc == -EAGAIN) {
			r->st.eagain++;
		} else if (rc == -EINVAL && kinds[k] == LFMAP_RESIZE_SHRINK) {
			r->st.einval++; /* minimum-size table */
			k = (k + 1) % 3;
		} else {
			MT_FAIL("lfmap_resize(%d) returned %d", (int)kinds[k], rc);
		}
		if (r->mode->steps) {
			int nsteps = 1 + (int)mt_rng_below(&rng, 4);
			for (int i = 0; i < nsteps; i++) {
				rc = lfmap_migrate_step(r->map, 1 + (size_t)mt_rng_below(&rng, 8));
				r->st.steps++;
				if (rc < 0) {
					MT_FAIL("lfmap_migrate_step returned %d", rc);
					break;
				}
				if (rc == 0)
					break;
			}
		}
		mt_read_unlock(r->map);
		sched_yield();
		if ((r->st.loops & 63) == 0)
			mt_sleep_us(50);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

struct mt_resizer *mt_resizer_start(struct lfmap *map, const struct mt_mode *mode)
{
	struct mt_resizer *r = calloc(1, sizeof *r);
	if (!r) {
		fprintf(stderr, "harness: out of memory\n");
		exit(2);
	}
	r->map = map;
	r->mode = mode;
	r->seed = cur_test_seed ^ mt_mix64(atomic_fetch_add(&spawn_counter, 1) + 0x1000);
	atomic_init(&r->stop, false);
	int rc = pthread_create(&r->tid, NULL, resizer_main, r);
	if (rc) {
		fprintf(stderr, "harness: pthread_create: %s\n", strerror(rc));
		exit(2);
	}
	return r;
}

void mt_resizer_stop(struct mt_resizer *r, struct mt_resizer_stats *out)
{
	atomic_store_explicit(&r->stop, true, memory_order_release);
	pthread_join(r->tid, NULL);
	mt_note("resizer: %" PRIu64 " started, %" PRIu64 " EAGAIN, %" PRIu64
		" EINVAL, %" PRIu64 " steps",
		r->st.started, r->st.eagain, r->st.einval, r->st.steps);
	if (out)
		*out = r->st;
	free(r);
}

void mt_run_resized(struct lfmap *map, const struct mt_mode *mode, int n, mt_thread_fn fn,
		    void *arg)
{
	struct mt_resizer *r = mt_resizer_start(map, mode);
	mt_run_threads(n, fn, arg);
	mt_resizer_stop(r, NULL);
}

void mt_quiesce(struct lfmap *map)
{
	/* Finishing a migration retires the old table with call_rcu, and the
	 * retirement callback re-checks the load, which may start the next
	 * (auto grow/shrink) migration: repeat until a barrier leaves none. */
	for (int round = 0;; round++) {
		for (int i = 0;; i++) {
			mt_read_lock(map); /* see resizer_main */
			int rc = lfmap_migrate_step(map, 0);
			mt_read_unlock(map);
			if (rc == 0)
				break;
			if (rc < 0) {
				MT_FAIL("lfmap_migrate_step(map, 0) returned %d", rc);
				return;
			}
			if (i == 1000) {
				MT_FAIL("lfmap_migrate_step(map, 0) still returns 1 after %d "
					"calls on a quiescent map",
					i);
				return;
			}
		}
		mt_rcu_barrier();
		struct lfmap_stats st;
		if (lfmap_stats(map, &st) != 0) {
			MT_FAIL("lfmap_stats failed");
			return;
		}
		if (!st.migrating)
			break;
		if (round == 100) {
			MT_FAIL("a quiescent map keeps starting migrations (%d rounds)", round);
			return;
		}
	}
}

void mt_check_stats(struct lfmap *map, const struct lfmap_config *cfg, uint64_t want,
		    uint64_t side_entries)
{
	struct lfmap_stats st;
	memset(&st, 0xa5, sizeof st);
	int rc = lfmap_stats(map, &st);
	MT_CHECK_RC(rc, 0, "lfmap_stats");
	if (rc)
		return;
	uint64_t spb = lfmap_slots_per_bucket();
	mt_note("stats: entries %" PRIu64 " buckets %" PRIu64 " slots %" PRIu64
		" overflow %" PRIu64 " claimed %" PRIu64 " tombstones %" PRIu64
		" chain %" PRIu64 " load %.3f migrations %" PRIu64 "/%" PRIu64
		" (g %" PRIu64 " s %" PRIu64 " c %" PRIu64 ") evac w %" PRIu64
		" bg %" PRIu64 " longest %.3f ms",
		st.entries, st.buckets, st.slots, st.overflow_buckets, st.claimed_slots,
		st.tombstones, st.longest_chain, st.load_factor, st.migrations_finished,
		st.migrations_started, st.grows, st.shrinks, st.compactions,
		st.evacuated_by_writers, st.evacuated_by_background,
		(double)st.longest_migration_ns / 1e6);

	MT_CHECK(spb >= 1 && spb <= 64, "slots per bucket %" PRIu64, spb);
	MT_CHECK(st.entries == want, "stats.entries %" PRIu64 ", want %" PRIu64, st.entries,
		 want);
	MT_CHECK(st.migrating == 0, "stats.migrating %" PRIu64 " after quiesce", st.migrating);
	MT_CHECK(st.migrations_started == st.migrations_finished,
		 "started %" PRIu64 " finished %" PRIu64 " on a quiescent map",
		 st.migrations_started, st.migrations_finished);
	/* reseeds: the flood defence may run one in any test with churn */
	MT_CHECK(st.grows + st.shrinks + st.compactions + st.seed_changes == st.migrations_finished,
		 "grows %" PRIu64 " + shrinks %" PRIu64 " + compactions %" PRIu64
		 " + reseeds %" PRIu64 " != finished %" PRIu64,
		 st.grows, st.shrinks, st.compactions, st.seed_changes, st.migrations_finished);
	MT_CHECK(st.buckets >= 1 && (st.buckets & (st.buckets - 1)) == 0,
		 "buckets %" PRIu64 " not a power of two", st.buckets);
	MT_CHECK(st.slots == (st.buckets + st.overflow_buckets) * spb,
		 "slots %" PRIu64 " != (buckets %" PRIu64 " + overflow %" PRIu64 ") * %" PRIu64,
		 st.slots, st.buckets, st.overflow_buckets, spb);
	MT_CHECK(st.tombstones <= st.claimed_slots, "tombstones %" PRIu64 " > claimed %" PRIu64,
		 st.tombstones, st.claimed_slots);
	MT_CHECK(st.claimed_slots <= st.slots, "claimed %" PRIu64 " > slots %" PRIu64,
		 st.claimed_slots, st.slots);
	MT_CHECK(st.claimed_slots - st.tombstones + side_entries == want,
		 "claimed %" PRIu64 " - tombstones %" PRIu64 " + side %" PRIu64
		 " != entries %" PRIu64,
		 st.claimed_slots, st.tombstones, side_entries, want);
	MT_CHECK(st.longest_chain >= 1 && st.longest_chain <= 1 + st.overflow_buckets,
		 "longest_chain %" PRIu64 " with %" PRIu64 " overflow buckets",
		 st.longest_chain, st.overflow_buckets);
	double lf = (double)st.entries / ((double)st.buckets * (double)spb);
	double dlf = st.load_factor > lf ? st.load_factor - lf : lf - st.load_factor;
	MT_CHECK(dlf <= 1e-6 * (lf + 1),
		 "load_factor %.6f, want entries/(buckets*spb) = %.6f", st.load_factor, lf);
	if (st.migrations_finished > 0) {
		MT_CHECK(st.evacuated_by_writers + st.evacuated_by_background > 0,
			 "%" PRIu64 " migrations finished but no bucket evacuated",
			 st.migrations_finished);
		MT_CHECK(st.longest_migration_ns >= st.last_migration_ns,
			 "longest_migration_ns %" PRIu64 " < last %" PRIu64,
			 st.longest_migration_ns, st.last_migration_ns);
	}
	if (cfg && cfg->trace == trace_cb && !getenv("LFMAP_TRACE_IGNORE"))
		MT_CHECK(mt_trace_lines(cfg) == st.migrations_finished,
			 "%" PRIu64 " trace lines for %" PRIu64 " finished migrations",
			 mt_trace_lines(cfg), st.migrations_finished);
	size_t n = 0;
	rc = lfmap_count_exact(map, &n);
	MT_CHECK_RC(rc, 0, "lfmap_count_exact");
	MT_CHECK(n == want, "count_exact %zu, want %" PRIu64, n, want);
	MT_CHECK(lfmap_count_approx(map) == want, "count_approx %zu, want %" PRIu64,
		 lfmap_count_approx(map), want);
}

/* --------------------------------------------- disjoint-insert driver */

size_t mt_disjoint_run(struct mt_disjoint *d, struct lfmap *map, const struct mt_mode *mode,
		       mt_thread_fn fn, size_t per_thread_base, uint64_t deadline_ms,
		       int (*count_exact)(struct lfmap *map, size_t *n))
{
	memset(d, 0, sizeof *d);
	d->map = map;
	d->nthreads = mt_threads(16);
	d->per_thread = mt_iters(per_thread_base);
	d->deadline = mt_deadline_ms(deadline_ms);
	d->done = calloc((size_t)d->nthreads, sizeof *d->done);
	if (!d->done) {
		fprintf(stderr, "harness: out of memory\n");
		exit(2);
	}
	mt_run_resized(map, mode, d->nthreads, fn, d);
	size_t total = 0;
	for (int t = 0; t < d->nthreads; t++)
		total += d->done[t];
	mt_note("%zu keys inserted by %d threads", total, d->nthreads);
	size_t n = 0;
	int rc = count_exact ? count_exact(map, &n) : lfmap_count_exact(map, &n);
	MT_CHECK_RC(rc, 0, "lfmap_count_exact");
	MT_CHECK(n == total, "count_exact %zu before quiesce, want %zu", n, total);
	MT_CHECK(lfmap_count_approx(map) == total, "count_approx %zu, want %zu",
		 lfmap_count_approx(map), total);
	return total;
}

void mt_disjoint_free(struct mt_disjoint *d)
{
	free(d->done);
	d->done = NULL;
}

/* ------------------------------------------------ same-key race driver */

static void race_phase(struct mt_thread *t, struct mt_race *r, bool insert, bool racing)
{
	size_t K = r->nkeys, start = (size_t)mt_rng_below(&t->rng, K);
	for (size_t j = 0; j < K && !mt_failed(); j++) {
		size_t idx = (start + j) % K;
		if (!racing && idx % (size_t)t->n != (size_t)t->id)
			continue;
		if (insert) {
			if (r->ops->insert(t, r, idx, racing)) {
				atomic_fetch_add(&r->winners[idx], 1);
				atomic_store(&r->winner_of[idx], t->id);
			}
		} else if (r->ops->remove(t, r, idx, racing)) {
			atomic_fetch_add(&r->winners[idx], 1);
		}
	}
}

/* thread 0, between barriers */
static void race_verify(struct mt_race *r, bool after_insert)
{
	size_t bad = 0;
	for (size_t idx = 0; idx < r->nkeys; idx++) {
		int w = atomic_load(&r->winners[idx]);
		if (w != 1) {
			if (bad++ < 3)
				MT_FAIL("round %" PRIu64 " key index %zu: %d %s winners", r->round,
					idx, w,
					after_insert ? r->ops->insert_name : r->ops->remove_name);
		} else if (!r->ops->check_key(r, idx, after_insert, bad < 3)) {
			bad++;
		}
		atomic_store(&r->winners[idx], 0);
	}
	size_t n = 0, want = after_insert ? r->nkeys : 0;
	int rc = r->ops->count_exact ? r->ops->count_exact(r->map, &n)
				     : lfmap_count_exact(r->map, &n);
	MT_CHECK_RC(rc, 0, "lfmap_count_exact");
	MT_CHECK(n == want, "round %" PRIu64 ": count_exact %zu, want %zu", r->round, n, want);
	MT_CHECK(lfmap_count_approx(r->map) == want, "round %" PRIu64 ": count_approx %zu, want %zu",
		 r->round, lfmap_count_approx(r->map), want);
}

static void race_thread(struct mt_thread *t)
{
	struct mt_race *r = t->arg;
	for (;;) {
		/* insert phase: a race, or disjoint prefill */
		race_phase(t, r, true, r->race_insert);
		mt_barrier(t);
		if (t->id == 0)
			race_verify(r, true);
		mt_barrier(t);
		race_phase(t, r, false, !r->race_insert);
		mt_barrier(t);
		if (t->id == 0) {
			race_verify(r, false);
			r->round++;
			r->rounds_done++;
			atomic_store(&r->go_on, !mt_failed() && r->rounds_done < r->max_rounds &&
							!mt_expired(r->deadline));
		}
		mt_barrier(t);
		if (!atomic_load(&r->go_on))
			break;
	}
}

void mt_race_init(struct mt_race *r, struct lfmap *map, const struct mt_race_ops *ops,
		  void *ctx, bool race_insert, size_t nkeys_base, size_t nkeys_min,
		  uint64_t deadline_ms)
{
	memset(r, 0, sizeof *r);
	r->map = map;
	r->ops = ops;
	r->ctx = ctx;
	r->race_insert = race_insert;
	r->round = 1;
	r->nkeys = mt_iters_min(nkeys_base, nkeys_min);
	r->max_rounds = mt_iters_min(40, 3);
	r->deadline = mt_deadline_ms(deadline_ms);
	atomic_init(&r->go_on, false);
	r->winners = calloc(r->nkeys, sizeof *r->winners);
	r->winner_of = calloc(r->nkeys, sizeof *r->winner_of);
	if (!r->winners || !r->winner_of) {
		fprintf(stderr, "harness: out of memory\n");
		exit(2);
	}
}

void mt_race_run(struct mt_race *r, const struct mt_mode *mode)
{
	mt_run_resized(r->map, mode, mt_threads(16), race_thread, r);
	mt_note("%zu rounds of %zu keys", r->rounds_done, r->nkeys);
}

void mt_race_free(struct mt_race *r)
{
	free(r->winners);
	free(r->winner_of);
	r->winners = r->winner_of = NULL;
}

/* ---------------------------------------------------- iterate driver */

int mt_visit_key(struct mt_visit *v, bool stable, uint64_t idx)
{
	const char *what = stable ? "stable" : "churn";
	uint32_t *seen;
	if (stable && idx < v->it->nstable) {
		seen = &v->seen_stable[idx];
		v->nstable_seen++;
	} else if (!stable && idx < v->it->nchurn) {
		seen = &v->seen_churn[idx];
	} else {
		MT_FAIL("iterator %d visited %s key %" PRIu64 ", out of range", v->tid, what, idx);
		return 1;
	}
	if (*seen == v->epoch) {
		MT_FAIL("iterator %d visited %s key %" PRIu64 " twice in one iteration", v->tid,
			what, idx);
		return 1;
	}
	*seen = v->epoch;
	return 0;
}

int mt_visit_tagged(struct mt_visit *v, uint64_t key)
{
	uint64_t tag = key & MT_TAG_MASK;
	if (tag != MT_STABLE_TAG && tag != MT_CHURN_TAG) {
		MT_FAIL("iterator %d visited foreign key %#" PRIx64, v->tid, key);
		return 1;
	}
	return mt_visit_key(v, tag == MT_STABLE_TAG, key & ~MT_TAG_MASK);
}

static void iterator(struct mt_thread *t, struct mt_iter *it)
{
	struct mt_visit v = { .it = it, .tid = t->id };
	v.seen_stable = calloc(it->nstable, sizeof(uint32_t));
	v.seen_churn = calloc(it->nchurn, sizeof(uint32_t));
	if (!v.seen_stable || !v.seen_churn) {
		fprintf(stderr, "harness: out of memory\n");
		exit(2);
	}
	size_t n;
	for (n = 0; n < it->max_iterations && !mt_failed(); n++) {
		if (n >= 2 && mt_expired(it->deadline))
			break;
		v.epoch++;
		v.nstable_seen = 0;
		int rc = it->ops->iterate(it->map, &v, n);
		if (rc != 0) {
			if (!mt_failed())
				MT_FAIL("foreach returned %d", rc);
			break;
		}
		if (v.nstable_seen != it->nstable) {
			size_t first = 0;
			while (first < it->nstable && v.seen_stable[first] == v.epoch)
				first++;
			MT_FAIL("iteration %zu of thread %d saw %zu of %zu stable keys "
				"(first missing: index %zu)",
				n, t->id, v.nstable_seen, it->nstable, first);
		}
		if (it->ops->check_count && (n & 7) == 3) {
			size_t cnt = 0;
			MT_CHECK_RC(lfmap_count_exact(it->map, &cnt), 0, "lfmap_count_exact");
			MT_CHECK(cnt >= it->nstable && cnt <= it->nstable + it->nchurn,
				 "count_exact %zu during churn, want %zu..%zu", cnt, it->nstable,
				 it->nstable + it->nchurn);
		}
	}
	atomic_fetch_add(&it->iterations, n);
	atomic_fetch_sub(&it->iterators_left, 1);
	free(v.seen_stable);
	free(v.seen_churn);
}

static void iter_thread(struct mt_thread *t)
{
	struct mt_iter *it = t->arg;
	if (t->id < it->niters) {
		iterator(t, it);
		return;
	}
	/* churn other keys until the iterators finish */
	while (atomic_load_explicit(&it->iterators_left, memory_order_relaxed) > 0 && !mt_failed())
		it->ops->churn(t, it, (size_t)mt_rng_below(&t->rng, it->nchurn));
}

void mt_iter_init(struct mt_iter *it, struct lfmap *map, const struct mt_iter_ops *ops,
		  void *ctx, size_t nstable_base, size_t nstable_min, size_t nchurn,
		  size_t max_iterations_base)
{
	memset(it, 0, sizeof *it);
	it->map = map;
	it->ops = ops;
	it->ctx = ctx;
	it->nstable = mt_iters_min(nstable_base, nstable_min);
	it->nchurn = nchurn;
	it->nthreads = mt_threads(16);
	it->niters = it->nthreads / 4;
	it->max_iterations = mt_iters_min(max_iterations_base, 20);
	atomic_init(&it->iterators_left, it->niters);
	atomic_init(&it->iterations, 0);
}

void mt_iter_run(struct mt_iter *it, const struct mt_mode *mode, uint64_t deadline_ms)
{
	struct mt_resizer *r = mt_resizer_start(it->map, mode);
	it->deadline = mt_deadline_ms(deadline_ms);
	mt_run_threads(it->nthreads, iter_thread, it);
	mt_resizer_stop(r, NULL);
	mt_note("%zu iterations", (size_t)atomic_load(&it->iterations));
}

/* ----------------------------------------------------- RCU, TSan-aware */

#if MT_TSAN
static char mt_gp; /* TSan sync address standing for "a grace period" */
#endif

void mt_read_lock(struct lfmap *map)
{
	lfmap_read_lock(map);
}

void mt_read_unlock(struct lfmap *map)
{
#if MT_TSAN
	__tsan_release(&mt_gp);
#endif
	lfmap_read_unlock(map);
}

void mt_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
#if MT_TSAN
	__tsan_release(head);
#endif
	urcu_memb_call_rcu(head, fn);
}

void mt_rcu_cb_enter(struct rcu_head *head)
{
#if MT_TSAN
	__tsan_acquire(&mt_gp);
	__tsan_acquire(head);
#else
	(void)head;
#endif
}

void mt_synchronize_rcu(void)
{
	urcu_memb_synchronize_rcu();
#if MT_TSAN
	__tsan_acquire(&mt_gp);
#endif
}

void mt_rcu_barrier(void)
{
#if MT_TSAN
	AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
	AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
#endif
	urcu_memb_barrier();
#if MT_TSAN
	AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
	AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
}

/* ---------------------------------------------------------------- main */

static void print_summary_and_exit_if(bool hung, const char *name)
{
	if (!hung)
		return;
	pthread_mutex_lock(&print_lock);
	printf("FAIL %s: timeout after %.0f s (hang or livelock)\n", name,
	       (double)wd_timeout_ns / 1e9);
	printf("%d passed, %d failed\n", npassed, nfailed + 1);
	fflush(stdout);
	_exit(1);
}

static void *watchdog_main(void *p)
{
	(void)p;
	for (;;) {
		mt_sleep_us(500000);
		uint64_t start = atomic_load(&wd_test_start_ns);
		if (start && mt_now_ns() - start > wd_timeout_ns)
			print_summary_and_exit_if(true, cur_test_name);
	}
	return NULL;
}

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long v = strtoul(s, &end, 0);
	return *end ? def : v;
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int mt_main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run_scale = (unsigned)env_ulong("LFMAP_MT_SCALE", 1);
	if (run_scale == 0)
		run_scale = 1;
	run_seed = env_ulong("LFMAP_MT_SEED", 0);
	if (!run_seed)
		run_seed = mt_mix64(mt_now_ns() ^ ((uint64_t)getpid() << 32)) & 0xffffffffu;
	run_verbose = env_ulong("LFMAP_MT_VERBOSE", 0) != 0;
	wd_timeout_ns = (uint64_t)env_ulong("LFMAP_MT_TEST_TIMEOUT", 120) *
			run_scale * 1000000000u;

	printf("# %s: seed %" PRIu64 " (LFMAP_MT_SEED), scale %u, %s\n",
	       argc ? argv[0] : "mt", run_seed, run_scale,
	       MT_TSAN ? "tsan (work /20)" : MT_ASAN ? "asan" : "release");

	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog_main, NULL) == 0)
		pthread_detach(wd);

	urcu_memb_register_thread();
	for (int i = 0; i < ntests; i++) {
		struct mt_test *t = &tests[i];
		if (!selected(t->name, argc, argv))
			continue;
		atomic_store(&fail_count, 0);
		fail_reason[0] = 0;
		cur_test_name = t->name;
		cur_test_seed = mt_mix64(run_seed * 1000003u + (uint64_t)i);
		uint64_t t0 = mt_now_ns();
		atomic_store(&wd_test_start_ns, t0);
		t->fn(t->arg);
		atomic_store(&wd_test_start_ns, 0);
		double secs = (double)(mt_now_ns() - t0) / 1e9;
		int nf = atomic_load(&fail_count);
		if (nf == 0) {
			npassed++;
			printf("ok   %s (%.2f s)\n", t->name, secs);
		} else {
			nfailed++;
			pthread_mutex_lock(&fail_lock);
			if (nf > 1)
				printf("FAIL %s: %s (+%d more failures)\n", t->name, fail_reason,
				       nf - 1);
			else
				printf("FAIL %s: %s\n", t->name, fail_reason);
			pthread_mutex_unlock(&fail_lock);
		}
		fflush(stdout);
	}
	urcu_memb_unregister_thread();
	printf("%d passed, %d failed\n", npassed, nfailed);
	fflush(stdout);
	return nfailed ? 1 : 0;
}
