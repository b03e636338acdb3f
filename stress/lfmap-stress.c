/*
 * stress/lfmap-stress.c - stress harness for the lfmap word map with a
 * per-key linearizability check of the recorded history (stress/README.md).
 *
 *   lfmap-stress [-t threads] [-d seconds] [-n ops/thread] [-k keys]
 *                [-z hot%] [-w max_work] [-r resize_ms] [-b] [-i iter_every]
 *                [-m mixed|write|read] [-H max_hist/thread] [-G grow_pct] [-A]
 *                [-R reseed_ms] [-s seed] [-q] [-F]
 *
 * Exit status: 0 no violation, 1 violation(s), 2 usage/setup error.
 * With -F (checker self-test on a real history), 0 means every injected
 * violation was found.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <lfmap.h>

#include "checker.h"
#include "history.h"

#if defined(__SANITIZE_THREAD__)
#define ST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ST_TSAN 1
#endif
#endif
#ifndef ST_TSAN
#define ST_TSAN 0
#endif
#if ST_TSAN
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#endif

/* ---- knobs */
static unsigned nthreads;
static double duration = 5.0;
static uint64_t ops_per_thread; /* 0: run for duration */
static uint64_t nkeys = 1024;
static unsigned hot_pct;        /* % of ops on the hottest 1/16 of the keys */
static unsigned max_work = 1;
static unsigned resize_ms = 5;  /* 0: no resizer thread */
static bool no_background;
static unsigned grow_pct = 75;  /* -G: lfmap_config.grow_pct */
static bool no_auto_grow;       /* -A: LFMAP_F_NO_AUTO_GROW (long chains) */
static unsigned reseed_ms;      /* -R: lfmap_resize(RESEED) every ms; 0: never */
static unsigned iter_every = 20000; /* mean ops between iterations, 0 = never */
static const char *mix_name = "mixed";
static size_t max_hist; /* per thread; 0: 8M ops / threads (at least 100k) */
static uint64_t seed;
static bool quiet;
static bool self_test; /* -F: inject provable violations, expect them found */

/* op mix in percent: get insert put replace remove cas(get+cas) */
struct mix {
	const char *name;
	unsigned pct[6];
};
static const struct mix mixes[] = {
	{ "mixed", { 30, 15, 15, 10, 20, 10 } },
	{ "write", { 5, 25, 20, 10, 30, 10 } },
	{ "read", { 80, 5, 5, 3, 5, 2 } },
};
static const struct mix *mix;

static struct lfmap *map;
static atomic_bool stop;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? splitmix(s) % n : 0;
}

static void rcu_barrier_quiet(void)
{
#if ST_TSAN
	AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
	AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
#endif
	urcu_memb_barrier();
#if ST_TSAN
	AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
	AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
}

/* ---- workers */

struct worker {
	pthread_t th;
	unsigned id;
	uint64_t rng;
	uint64_t seq;
	struct hist_op *hist;
	size_t n;
	uint64_t unexpected; /* return codes outside the documented set */
	uint64_t iters;
	bool full; /* stopped because the history was full */
	unsigned char *seen; /* nkeys + 1 bytes, for iteration misses */
};

static uint64_t next_value(struct worker *w)
{
	return ((uint64_t)(w->id + 1) << 40) | ++w->seq;
}

/* keys 1..k, except that with k >= 4 the last one is key 0 (which lfmap
 * keeps in a side slot outside the tables); the hot keys are the first 1/16 */
static uint64_t pick_key(struct worker *w)
{
	uint64_t i;
	if (hot_pct && below(&w->rng, 100) < hot_pct) {
		uint64_t hot = nkeys / 16 ? nkeys / 16 : 1;
		i = below(&w->rng, hot);
	} else {
		i = below(&w->rng, nkeys);
	}
	return nkeys >= 4 && i == nkeys - 1 ? 0 : i + 1;
}

static bool hist_full(struct worker *w, size_t need)
{
	return w->n + need > max_hist;
}

static struct hist_op *rec(struct worker *w)
{
	struct hist_op *h = &w->hist[w->n++];
	memset(h, 0, sizeof *h);
	h->tid = (uint16_t)w->id;
	return h;
}

struct iter_ctx {
	struct worker *w;
	size_t first;
	bool overflow;
};

static int iter_visit(uint64_t key, uint64_t val, void *arg)
{
	struct iter_ctx *c = arg;
	if (hist_full(c->w, 1)) {
		c->overflow = true;
		return 1;
	}
	struct hist_op *h = rec(c->w);
	h->op = HOP_ITER;
	h->key = key;
	h->out = val;
	return 0;
}

static void do_iterate(struct worker *w)
{
	struct iter_ctx c = { .w = w, .first = w->n };
	bool locked = below(&w->rng, 2);
	if (locked)
		lfmap_read_lock(map);
	uint64_t t0 = now_ns();
	int rc = locked ? lfmap_word_foreach_rcu(map, iter_visit, &c)
			: lfmap_word_foreach(map, iter_visit, &c);
	uint64_t t1 = now_ns();
	if (locked)
		lfmap_read_unlock(map);
	if (rc < 0)
		w->unexpected++;
	/* a complete iteration also records the keys it did not report */
	if (!c.overflow && rc == 0) {
		size_t end = w->n;
		memset(w->seen, 0, (size_t)nkeys + 1);
		for (size_t i = c.first; i < end; i++)
			if (w->hist[i].key <= nkeys)
				w->seen[w->hist[i].key] = 1;
		for (uint64_t k = 0; k <= nkeys; k++)
			if (!w->seen[k] && (k || nkeys >= 4) && (k <= nkeys - (nkeys >= 4))) {
				struct hist_op *h = rec(w);
				h->op = HOP_ITER_MISS;
				h->key = k;
			}
	}
	for (size_t i = c.first; i < w->n; i++) {
		w->hist[i].inv = t0;
		w->hist[i].res = t1;
	}
	w->iters++;
}

static void do_op(struct worker *w)
{
	unsigned r = (unsigned)below(&w->rng, 100), kind = 0, acc = 0;
	for (kind = 0; kind < 5; kind++) {
		acc += mix->pct[kind];
		if (r < acc)
			break;
	}
	uint64_t key = pick_key(w);
	bool rcu = below(&w->rng, 2); /* _rcu entry point in our section, or the locking one */
	uint64_t out = 0, exp = 0;
	int rc;
	struct hist_op *h = rec(w);
	h->key = key;

	if (kind == 5) { /* cas: read the current value, then cas it */
		h->op = HOP_GET;
		if (rcu)
			lfmap_read_lock(map);
		h->inv = now_ns();
		rc = rcu ? lfmap_word_get_rcu(map, key, &out) : lfmap_word_get(map, key, &out);
		h->res = now_ns();
		if (rcu)
			lfmap_read_unlock(map);
		h->rc = rc;
		h->out = rc == 0 ? out : 0;
		exp = rc == 0 ? out : next_value(w); /* absent: a value never stored */
		h = rec(w);
		h->key = key;
	}
	uint64_t v = next_value(w);
	if (rcu)
		lfmap_read_lock(map);
	h->inv = now_ns();
	switch (kind) {
	case 0:
		h->op = HOP_GET;
		rc = rcu ? lfmap_word_get_rcu(map, key, &out) : lfmap_word_get(map, key, &out);
		break;
	case 1:
		h->op = HOP_INSERT;
		rc = rcu ? lfmap_word_insert_rcu(map, key, v, &out)
			 : lfmap_word_insert(map, key, v, &out);
		break;
	case 2:
		h->op = HOP_PUT;
		rc = rcu ? lfmap_word_put_rcu(map, key, v, &out) : lfmap_word_put(map, key, v, &out);
		break;
	case 3:
		h->op = HOP_REPLACE;
		rc = rcu ? lfmap_word_replace_rcu(map, key, v, &out)
			 : lfmap_word_replace(map, key, v, &out);
		break;
	case 4:
		h->op = HOP_REMOVE;
		rc = rcu ? lfmap_word_remove_rcu(map, key, &out) : lfmap_word_remove(map, key, &out);
		break;
	default: {
		h->op = HOP_CAS;
		uint64_t e = exp;
		rc = rcu ? lfmap_word_cas_rcu(map, key, &e, v) : lfmap_word_cas(map, key, &e, v);
		out = e;
		break;
	}
	}
	h->res = now_ns();
	if (rcu)
		lfmap_read_unlock(map);
	h->rc = rc;
	h->arg = h->op == HOP_GET || h->op == HOP_REMOVE ? 0 : v;
	h->expect = h->op == HOP_CAS ? exp : 0;
	/* out is meaningful only for these outcomes */
	bool has_out = (h->op == HOP_GET && rc == 0) || (h->op == HOP_INSERT && rc == -EEXIST) ||
		       (h->op == HOP_PUT && rc == 1) || (h->op == HOP_REPLACE && rc == 0) ||
		       (h->op == HOP_REMOVE && rc == 0) || (h->op == HOP_CAS && rc == -ECANCELED);
	h->out = has_out ? out : 0;
	if (rc < 0 && rc != -ENOENT && rc != -EEXIST && rc != -ECANCELED)
		w->unexpected++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	urcu_memb_register_thread();
	uint64_t deadline = now_ns() + (uint64_t)(duration * 1e9);
	uint64_t done = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (ops_per_thread ? done >= ops_per_thread : (done & 255) == 0 && now_ns() >= deadline)
			break;
		if (iter_every && below(&w->rng, iter_every) == 0) {
			if (hist_full(w, (size_t)nkeys + 2)) {
				w->full = true;
				break;
			}
			do_iterate(w);
		} else {
			if (hist_full(w, 2)) {
				w->full = true;
				break;
			}
			do_op(w);
		}
		done++;
	}
	urcu_memb_unregister_thread();
	return NULL;
}

/* ---- resizer: cycles GROW, SHRINK, COMPACT every resize_ms and drives
 * migration steps in between */

struct resizer_stats {
	uint64_t started, eagain, einval, other, steps;
};
static struct resizer_stats rstats;

static void *resizer_main(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;
	static const enum lfmap_resize kinds[3] = { LFMAP_RESIZE_GROW, LFMAP_RESIZE_SHRINK,
						    LFMAP_RESIZE_COMPACT };
	unsigned k = 0;
	urcu_memb_register_thread();
	uint64_t next = now_ns();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (now_ns() >= next) {
			next = now_ns() + (uint64_t)resize_ms * 1000000u;
			int rc = lfmap_resize(map, kinds[k]);
			if (rc == 0) {
				rstats.started++;
				k = (k + 1) % 3;
			} else if (rc == -EAGAIN) {
				rstats.eagain++;
			} else if (rc == -EINVAL && kinds[k] == LFMAP_RESIZE_SHRINK) {
				rstats.einval++;
				k = (k + 1) % 3;
			} else {
				rstats.other++;
			}
		}
		int rc = lfmap_migrate_step(map, 1 + (size_t)below(&rng, 4));
		rstats.steps++;
		if (rc < 0)
			rstats.other++;
		struct timespec ts = { 0, 200000 }; /* 0.2 ms */
		nanosleep(&ts, NULL);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

/* ---- reseeder (-R): lfmap_resize(map, LFMAP_RESIZE_RESEED) every
 * reseed_ms ms, nothing else; a refused request (-EAGAIN: a migration is
 * running or the last replaced table is not reclaimed yet) is retried
 * every 0.2 ms until one starts, then the period begins again */

struct reseeder_stats {
	uint64_t started, eagain, other;
};
static struct reseeder_stats xstats;

static void *reseeder_main(void *arg)
{
	(void)arg;
	urcu_memb_register_thread();
	uint64_t next = now_ns() + (uint64_t)reseed_ms * 1000000u;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (now_ns() >= next) {
			int rc = lfmap_resize(map, LFMAP_RESIZE_RESEED);
			if (rc == 0) {
				xstats.started++;
				next = now_ns() + (uint64_t)reseed_ms * 1000000u;
			} else if (rc == -EAGAIN) {
				xstats.eagain++;
			} else {
				xstats.other++; /* -ENOTSUP, ...: counted as unexpected */
				next = now_ns() + (uint64_t)reseed_ms * 1000000u;
			}
		}
		struct timespec ts = { 0, 200000 }; /* 0.2 ms */
		nanosleep(&ts, NULL);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

/* ---- end */

static int quiesce(void)
{
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 1000; i++) {
			int rc = lfmap_migrate_step(map, 0);
			if (rc == 0)
				break;
			if (rc < 0)
				return rc;
		}
		rcu_barrier_quiet();
		struct lfmap_stats st;
		if (lfmap_stats(map, &st))
			return -EINVAL;
		if (!st.migrating)
			return 0;
	}
	return -EBUSY;
}

struct final_ctx {
	struct chk_kv *kv;
	size_t n, cap;
};

static int final_visit(uint64_t key, uint64_t val, void *arg)
{
	struct final_ctx *f = arg;
	if (f->n == f->cap) {
		size_t c = f->cap ? f->cap * 2 : 1024;
		struct chk_kv *p = realloc(f->kv, c * sizeof *p);
		if (!p)
			return -ENOMEM;
		f->kv = p;
		f->cap = c;
	}
	f->kv[f->n++] = (struct chk_kv){ key, val };
	return 0;
}

/*
 * -F: in each thread's history, find a successful overwrite (replace, put
 * that replaced, remove) of value v, then make a later get of the same
 * thread return v for that key. The get starts after the overwrite
 * responded, so v was provably gone: a stale read (resurrected remove if
 * the overwrite was a remove). Returns the number of faults injected.
 */
static size_t inject_faults(struct hist_op *h, size_t n)
{
	size_t injected = 0;
	for (size_t i = 0; i < n; i++) {
		bool ow = (h[i].op == HOP_REPLACE && h[i].rc == 0) ||
			  (h[i].op == HOP_PUT && h[i].rc == 1) || (h[i].op == HOP_REMOVE && h[i].rc == 0);
		if (!ow)
			continue;
		for (size_t j = i + 1; j < n && j < i + 1000; j++)
			if (h[j].tid == h[i].tid && h[j].op == HOP_GET) {
				h[j].key = h[i].key;
				h[j].rc = 0;
				h[j].out = h[i].out;
				injected++;
				break;
			}
		break;
	}
	return injected;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lfmap-stress [-t threads] [-d seconds] [-n ops/thread] [-k keys]\n"
		"                    [-z hot%%] [-w max_work] [-r resize_ms] [-b]\n"
		"                    [-i iter_every] [-m mixed|write|read] [-H hist/thread]\n"
		"                    [-G grow_pct] [-A] [-R reseed_ms] [-s seed] [-q] [-F]\n");
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nthreads = 4 * (unsigned)(ncpu > 0 ? ncpu : 1);
	seed = now_ns() ^ ((uint64_t)getpid() << 32);
	int c;
	while ((c = getopt(argc, argv, "t:d:n:k:z:w:r:bi:m:H:G:AR:s:qFh")) != -1) {
		switch (c) {
		case 't': nthreads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'd': duration = strtod(optarg, NULL); break;
		case 'n': ops_per_thread = strtoull(optarg, NULL, 0); break;
		case 'k': nkeys = strtoull(optarg, NULL, 0); break;
		case 'z': hot_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'w': max_work = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': resize_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': no_background = true; break;
		case 'G': grow_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'A': no_auto_grow = true; break;
		case 'R': reseed_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'i': iter_every = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': mix_name = optarg; break;
		case 'H': max_hist = (size_t)strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'q': quiet = true; break;
		case 'F': self_test = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
		if (!strcmp(mixes[i].name, mix_name))
			mix = &mixes[i];
	if (!max_hist && nthreads >= 1) {
		max_hist = 8000000 / nthreads;
		if (max_hist < 100000)
			max_hist = 100000;
		if (max_hist < (size_t)nkeys + 16)
			max_hist = (size_t)nkeys + 16;
	}
	if (!mix || nthreads < 1 || nthreads > 4096 || nkeys < 1 || hot_pct > 100 ||
	    max_work < 1 || grow_pct < 21 || grow_pct > 100 || max_hist < (size_t)nkeys + 16 || optind != argc) {
		usage(stderr);
		return 2;
	}

	printf("lfmap-stress: seed %" PRIu64 " threads %u duration %.1fs ops/thread %" PRIu64
	       " keys %" PRIu64 " hot %u%% max_work %u resize_ms %u background %s iter_every %u"
	       " mix %s hist/thread %zu grow_pct %u reseed_ms %u%s%s\n",
	       seed, nthreads, duration, ops_per_thread, nkeys, hot_pct, max_work, resize_ms,
	       no_background ? "off" : "on", iter_every, mix->name, max_hist, grow_pct, reseed_ms,
	       no_auto_grow ? " no-auto-grow" : "", ST_TSAN ? " (tsan)" : "");
	printf("replay: %s -t %u -d %g -n %" PRIu64 " -k %" PRIu64 " -z %u -w %u -r %u%s -i %u"
	       " -m %s -H %zu -G %u%s -R %u -s %" PRIu64 "\n",
	       argv[0], nthreads, duration, ops_per_thread, nkeys, hot_pct, max_work, resize_ms,
	       no_background ? " -b" : "", iter_every, mix->name, max_hist, grow_pct,
	       no_auto_grow ? " -A" : "", reseed_ms, seed);
	fflush(stdout);

	urcu_memb_register_thread();
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.size_hint = 0;
	cfg.max_work = max_work;
	cfg.grow_pct = grow_pct;
	if (grow_pct != 75) /* else the default shrink_pct */
		cfg.shrink_pct = grow_pct / 8;
	cfg.flags = LFMAP_F_FIXED_SEED | (no_background ? LFMAP_F_NO_BACKGROUND : 0) |
		    (no_auto_grow ? LFMAP_F_NO_AUTO_GROW : 0);
	cfg.seed = seed;
	map = lfmap_word_create(&cfg);
	if (!map) {
		fprintf(stderr, "lfmap_word_create: %s\n", strerror(errno));
		return 2;
	}

	struct worker *ws = calloc(nthreads, sizeof *ws);
	/* one array, a slice per thread, compacted in place at the end */
	struct hist_op *all = malloc((size_t)nthreads * max_hist * sizeof *all);
	if (!ws || !all) {
		fprintf(stderr, "out of memory for histories (-H)\n");
		return 2;
	}
	uint64_t srng = seed;
	for (unsigned i = 0; i < nthreads; i++) {
		ws[i].id = i;
		ws[i].rng = splitmix(&srng);
		ws[i].hist = all + (size_t)i * max_hist;
		ws[i].seen = malloc((size_t)nkeys + 1);
		if (!ws[i].seen)
			return 2;
	}
	uint64_t t0 = now_ns();
	atomic_store(&stop, false);
	pthread_t rz;
	uint64_t rz_seed = splitmix(&srng);
	if (resize_ms && pthread_create(&rz, NULL, resizer_main, &rz_seed))
		return 2;
	pthread_t rs;
	if (reseed_ms && pthread_create(&rs, NULL, reseeder_main, NULL))
		return 2;
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]))
			return 2;
	/* blocking in join is fine for urcu-memb */
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(ws[i].th, NULL);
	atomic_store(&stop, true);
	if (resize_ms)
		pthread_join(rz, NULL);
	if (reseed_ms)
		pthread_join(rs, NULL);
	uint64_t t1 = now_ns();

	int rc = quiesce();
	struct lfmap_stats st;
	lfmap_stats(map, &st);
	struct final_ctx fin = { 0 };
	int frc = lfmap_word_foreach(map, final_visit, &fin);
	size_t exact = 0;
	int crc = lfmap_count_exact(map, &exact);
	size_t approx = lfmap_count_approx(map);

	size_t total = 0;
	uint64_t unexpected = 0, iters = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		total += ws[i].n;
		unexpected += ws[i].unexpected;
		iters += ws[i].iters;
	}
	size_t k = 0, full = 0, injected = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		if (self_test)
			injected += inject_faults(ws[i].hist, ws[i].n);
		memmove(all + k, ws[i].hist, ws[i].n * sizeof *all);
		k += ws[i].n;
		full += ws[i].full;
		free(ws[i].seen);
	}
	if (full)
		printf("note: %zu of %u threads stopped early with a full history (-H %zu)\n",
		       full, nthreads, max_hist);
	printf("run: %.2fs, %zu ops recorded (%.0f ops/s), %" PRIu64 " iterations; resizer: %" PRIu64
	       " started, %" PRIu64 " EAGAIN, %" PRIu64 " EINVAL, %" PRIu64 " other, %" PRIu64
	       " steps; migrations %" PRIu64 "/%" PRIu64 " (g %" PRIu64 " s %" PRIu64
	       " c %" PRIu64 " reseed %" PRIu64 "), evacuated by writers %" PRIu64
	       ", background %" PRIu64 "; reseeder: %" PRIu64 " started, %" PRIu64 " EAGAIN, %" PRIu64
	       " other\n",
	       (double)(t1 - t0) / 1e9, total, (double)total / ((double)(t1 - t0) / 1e9), iters,
	       rstats.started, rstats.eagain, rstats.einval, rstats.other, rstats.steps,
	       st.migrations_finished, st.migrations_started, st.grows, st.shrinks,
	       st.compactions, st.seed_changes, st.evacuated_by_writers,
	       st.evacuated_by_background, xstats.started, xstats.eagain, xstats.other);
	fflush(stdout);

	int bad = 0;
	if (rc) {
		printf("FAIL quiesce: %d\n", rc);
		bad = 1;
	}
	if (frc) {
		printf("FAIL final lfmap_word_foreach: %d\n", frc);
		bad = 1;
	}
	if (unexpected) {
		printf("FAIL %" PRIu64 " unexpected return codes\n", unexpected);
		bad = 1;
	}
	if (xstats.other) {
		printf("FAIL lfmap_resize(RESEED) failed %" PRIu64 " times (not -EAGAIN)\n",
		       xstats.other);
		bad = 1;
	}
	if (crc || exact != fin.n || approx != fin.n) {
		printf("violation end_state: count_exact %zu (rc %d), count_approx %zu, final "
		       "foreach %zu entries\n",
		       exact, crc, approx, fin.n);
		bad = 1;
	}

	uint64_t c0 = now_ns();
	struct chk_options opt = { .final = fin.kv,
				   .nfinal = fin.n,
				   .have_final = true,
				   .log = quiet ? NULL : stdout,
				   .max_report = 20 };
	struct chk_result res;
	long v = chk_check(all, total, &opt, &res);
	uint64_t c1 = now_ns();
	if (v < 0) {
		printf("FAIL checker: out of memory\n");
		return 2;
	}
	for (int i = 0; i < CHK_NCLASS; i++)
		if (res.count[i] || i == CHK_UNDECIDED)
			printf("%-22s %" PRIu64 "\n", chk_class_name[i], res.count[i]);
	printf("checked %" PRIu64 " ops on %" PRIu64 " keys in %.2fs (%" PRIu64
	       " search steps, %" PRIu64 " branch states): %" PRIu64 " violations, %" PRIu64
	       " bad keys\n",
	       res.ops, res.keys, (double)(c1 - c0) / 1e9, res.search_steps, res.branch_states,
	       chk_violations(&res), res.keys_bad);
	if (v > 0)
		bad = 1;
	/* One machine-readable line for scripts/experiments.sh. The count
	 * mismatch of the end-state check above is a duplicate key when the
	 * counts exceed the entries iteration found, else an end-state error.
	 * ops_to_first: ops that had responded when the first violating op
	 * responded (all ops if only the end state is wrong; - if none). */
	{
		uint64_t dup = res.count[CHK_DUPLICATE], endst = res.count[CHK_END_STATE];
		if (crc || exact != fin.n || approx != fin.n) {
			if (crc == 0 && (exact > fin.n || approx > fin.n))
				dup++;
			else
				endst++;
		}
		char first[32] = "-";
		if (res.first_bad_res != CHK_NONE || dup > res.count[CHK_DUPLICATE] ||
		    endst > res.count[CHK_END_STATE]) {
			size_t before = 0;
			for (size_t i = 0; i < total; i++)
				if (all[i].res <= res.first_bad_res)
					before++;
			snprintf(first, sizeof first, "%zu", before);
		}
		printf("result: ops %zu lost_insert %" PRIu64 " lost_update %" PRIu64
		       " resurrected %" PRIu64 " stale_read %" PRIu64 " duplicate %" PRIu64
		       " end_state %" PRIu64 " phantom %" PRIu64 " bad_response %" PRIu64
		       " nonlinearizable %" PRIu64 " unexpected_rc %" PRIu64 " ops_to_first %s"
		       " seed_changes %" PRIu64 "\n",
		       total, res.count[CHK_LOST_INSERT], res.count[CHK_LOST_UPDATE],
		       res.count[CHK_RESURRECTED], res.count[CHK_STALE_READ], dup, endst,
		       res.count[CHK_PHANTOM], res.count[CHK_BAD_RESPONSE],
		       res.count[CHK_NONLINEARIZABLE], unexpected, first, st.seed_changes);
	}
	if (self_test) {
		uint64_t found = res.count[CHK_STALE_READ] + res.count[CHK_RESURRECTED];
		printf("self-test: %zu violations injected, %" PRIu64 " stale reads + resurrected"
		       " removes found, %" PRIu64 " violations in all\n",
		       injected, found, chk_violations(&res));
		bad = !(injected > 0 && found >= injected && rc == 0 && frc == 0 && !unexpected);
	}
	printf("%s (seed %" PRIu64 ")\n", bad ? "FAIL" : "PASS", seed);

	free(all);
	free(fin.kv);
	free(ws);
	rcu_barrier_quiet();
	lfmap_destroy(map);
	urcu_memb_unregister_thread();
	return bad;
}
