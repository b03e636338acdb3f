/*
 * fuzz/fz_driver.h - a model-checking operation driver shared by the libFuzzer
 * target (fuzz/fuzz_map.c) and the allocation-failure sweeps
 * (tests/test_oom.c). Header-only; single-threaded use.
 *
 * One driver runs one map of one kind (word, node or string) side by side
 * with a trivially correct reference model over FZ_NKEYS keys, and checks
 * after every operation that the map and the model agree (the key touched,
 * and with FZ_FULL_CHECK every key, the counts and an iteration).
 *
 * The map uses the driver's failure-injecting allocator: fail the Nth
 * allocation attempt, fail every attempt inside a window, or fail each attempt
 * with probability p. Every operation that may allocate must then return its
 * documented result or -ENOMEM, and a failed operation must change nothing.
 * The allocator counts live blocks and bytes, so fz_close() can check that
 * destroy returned everything.
 *
 * The includer defines FZ_FAIL(msg) (a string; must not return) before
 * including this file.
 */
#ifndef LFMAP_FZ_DRIVER_H
#define LFMAP_FZ_DRIVER_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>
#include <urcu/flavor.h>

#include <lfmap.h>

#ifndef FZ_FAIL
#error "define FZ_FAIL(msg) before including fz_driver.h"
#endif

#define FZ_NKEYS 64
#define FZ_MAXV 512 /* longest string value the driver stores */

enum { FZ_WORD = 0, FZ_NODE = 1, FZ_STR = 2 };
enum { FZ_HASH_GOOD = 0, FZ_HASH_CONST = 1, FZ_HASH_MOD4 = 2 };

/* ------------------------------------------------------------ allocator */

struct fz_alloc {
	pthread_mutex_t lock;
	uint64_t attempts, failed;
	int64_t live, live_bytes, peak_bytes;
	/* failure modes (any may be active) */
	uint64_t fail_at;           /* fail attempt number fail_at (1-based), 0 = off */
	uint64_t win_from, win_to;  /* fail attempts in [win_from, win_to) */
	unsigned prob;              /* fail with probability prob/65536 */
	uint64_t rng;
	size_t cap;                 /* refuse single blocks larger than this (0 = no cap) */
};

static inline uint64_t fz_mix(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

struct fz_hdr {
	size_t size;
	size_t off; /* distance from the raw block to the user pointer */
	uint64_t magic;
};
#define FZ_MAGIC UINT64_C(0xf22a110cf22a110c)

static void *fz_alloc_cb(void *ctx, size_t size, size_t align)
{
	struct fz_alloc *a = ctx;
	if (align == 0 || (align & (align - 1)) != 0 || align > 4096)
		FZ_FAIL("allocator: bad alignment requested");
	pthread_mutex_lock(&a->lock);
	uint64_t n = ++a->attempts;
	bool fail = (a->fail_at != 0 && n == a->fail_at) ||
		    (n >= a->win_from && n < a->win_to) || (a->cap != 0 && size > a->cap);
	if (!fail && a->prob != 0) {
		a->rng = fz_mix(a->rng);
		fail = (a->rng & 0xffff) < a->prob;
	}
	if (fail) {
		a->failed++;
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	pthread_mutex_unlock(&a->lock);
	size_t al = align < 64 ? 64 : align;
	size_t off = al; /* header lives just below the user pointer */
	void *raw = NULL;
	if (size > SIZE_MAX / 2 || posix_memalign(&raw, al, off + size) != 0)
		return NULL;
	char *p = (char *)raw + off;
	struct fz_hdr *h = (struct fz_hdr *)(void *)(p - sizeof(*h));
	h->size = size;
	h->off = off;
	h->magic = FZ_MAGIC;
	memset(p, 0xA5, size < 256 ? size : 256); /* need not be zeroed */
	pthread_mutex_lock(&a->lock);
	a->live++;
	a->live_bytes += (int64_t)size;
	if (a->live_bytes > a->peak_bytes)
		a->peak_bytes = a->live_bytes;
	pthread_mutex_unlock(&a->lock);
	return p;
}

static void fz_free_cb(void *ctx, void *ptr, size_t size)
{
	struct fz_alloc *a = ctx;
	if (ptr == NULL)
		return;
	struct fz_hdr *h = (struct fz_hdr *)(void *)((char *)ptr - sizeof(*h));
	if (h->magic != FZ_MAGIC)
		FZ_FAIL("allocator: free of a block it did not allocate (or double free)");
	if (h->size != size)
		FZ_FAIL("allocator: free size differs from alloc size");
	h->magic = 0;
	pthread_mutex_lock(&a->lock);
	a->live--;
	a->live_bytes -= (int64_t)size;
	pthread_mutex_unlock(&a->lock);
	free((char *)ptr - h->off);
}

static inline void fz_alloc_disarm(struct fz_alloc *a)
{
	pthread_mutex_lock(&a->lock);
	a->fail_at = 0;
	a->win_from = a->win_to = 0;
	a->prob = 0;
	pthread_mutex_unlock(&a->lock);
}

/* ------------------------------------------------- deterministic flavor */

/*
 * urcu-memb with call_rcu deferred to the driver's thread: callbacks are
 * queued and run, after a grace period, by fz_flavor_barrier() (called by
 * fz_quiesce and by lfmap_destroy through flavor->barrier). This is a valid
 * call_rcu (callbacks run after a grace period, outside read-side sections)
 * whose timing is chosen by the test: the background migration work and
 * table reclamation happen at the points the input chooses, every allocation
 * is made by the driver's thread in a reproducible order, and no time is
 * spent waiting for liburcu's call_rcu worker (it sleeps 10 ms between
 * batches, which made the fuzzer run at ~7 inputs per second).
 */
static struct rcu_head **fz_cbq;
static size_t fz_ncbq, fz_capcbq;

static void fz_flavor_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	head->func = func;
	if (fz_ncbq == fz_capcbq) {
		fz_capcbq = fz_capcbq ? 2 * fz_capcbq : 64;
		fz_cbq = realloc(fz_cbq, fz_capcbq * sizeof(*fz_cbq));
		if (!fz_cbq)
			FZ_FAIL("out of memory in the driver");
	}
	fz_cbq[fz_ncbq++] = head;
}

/* Run every queued callback (and those they queue) after grace periods. */
static void fz_flavor_barrier(void)
{
	for (int round = 0; fz_ncbq != 0; round++) {
		if (round > 100000)
			FZ_FAIL("call_rcu callbacks keep requeueing themselves");
		urcu_memb_synchronize_rcu();
		size_t n = fz_ncbq;
		struct rcu_head **batch = malloc(n * sizeof(*batch));
		if (!batch)
			FZ_FAIL("out of memory in the driver");
		memcpy(batch, fz_cbq, n * sizeof(*batch));
		fz_ncbq = 0;
		for (size_t i = 0; i < n; i++)
			batch[i]->func(batch[i]);
		free(batch);
	}
}

static const struct rcu_flavor_struct *fz_flavor(void)
{
	static struct rcu_flavor_struct fl;
	if (fl.read_lock == NULL) {
		fl = urcu_memb_flavor;
		fl.update_call_rcu = fz_flavor_call_rcu;
		fl.barrier = fz_flavor_barrier;
	}
	return &fl;
}

/* ------------------------------------------------------------ the model */

struct fz_node {
	uint64_t key;
	struct lfmap_node ln;
	uint64_t val;
	uint64_t magic;
};
#define FZ_NODE_MAGIC UINT64_C(0x6e6f64656e6f6465)

struct fz_config {
	int kind;           /* FZ_WORD / FZ_NODE / FZ_STR */
	bool liburcu_worker; /* use urcu-memb's own call_rcu worker (timing varies) */
	/* failure injection armed before the map is created (sweeps) */
	uint64_t arm_fail_at, arm_win_from, arm_win_to;
	unsigned arm_prob;
	int hash_mode;      /* node maps: FZ_HASH_* */
	size_t size_hint;
	unsigned grow_pct, shrink_pct, max_work, flags;
	uint64_t seed;
};

struct fz {
	struct fz_config c;
	struct lfmap *m;
	struct fz_alloc al;
	bool present[FZ_NKEYS];
	uint64_t wval[FZ_NKEYS];            /* word value */
	struct fz_node *node[FZ_NKEYS];     /* node map: the mapped node */
	uint16_t slen[FZ_NKEYS];            /* string value: length ... */
	uint8_t sfill[FZ_NKEYS];            /* ... and pattern byte */
	struct fz_node **garbage;           /* removed/replaced nodes, freed after a GP */
	size_t ngarbage, capgarbage;
	/* statistics */
	uint64_t ops, enomem, migrations_seen;
	uint64_t del_enomem; /* lfmap_str_del returned -ENOMEM (undocumented) */
	uint64_t step_enomem, resize_enomem; /* migrate_step / resize said -ENOMEM */
	char msg[512];
};

static struct fz *fz_cur; /* for the node callbacks' arg-free checks */

static void fz_failf(struct fz *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fz_failf(struct fz *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(f->msg, sizeof(f->msg), "kind %d op #%" PRIu64 ": ", f->c.kind, f->ops);
	vsnprintf(f->msg + n, sizeof(f->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	FZ_FAIL(f->msg);
}

#define FZ_CHECK(f, cond, ...)                    \
	do {                                      \
		if (!(cond))                      \
			fz_failf((f), __VA_ARGS__); \
	} while (0)

/* Word keys: 0, UINT64_MAX and scattered values. */
static inline uint64_t fz_wkey(unsigned k)
{
	if (k == 0)
		return 0;
	if (k == 1)
		return UINT64_MAX;
	return fz_mix(k);
}

/* String keys: lengths 0, 1, 2, ... up to 100 bytes; content from k. */
static inline size_t fz_skey(unsigned k, uint8_t *buf)
{
	static const uint8_t lens[8] = { 0, 1, 2, 3, 7, 8, 17, 100 };
	size_t len = k == 0 ? 0 : lens[k % 8] + (k / 8);
	if (k != 0 && len == 0)
		len = 1;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(k * 31 + i * 7);
	/* keys 8 and 16 ... share their first byte pattern with others on
	 * purpose: only length and full content tell them apart */
	return len;
}

static inline void fz_sval(uint8_t fill, size_t len, uint8_t *buf)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(fill + i);
}

/* node callbacks */
static uint64_t fz_node_hash(const void *key, uint64_t seed, void *arg)
{
	struct fz *f = arg;
	uint64_t k = *(const uint64_t *)key;
	switch (f->c.hash_mode) {
	case FZ_HASH_CONST:
		return 42;
	case FZ_HASH_MOD4:
		return k % 4;
	default:
		return lfmap_hash_u64(k, seed);
	}
}

static int fz_node_match(const struct lfmap_node *n, const void *key, void *arg)
{
	(void)arg;
	const struct fz_node *fn = lfmap_container_of(n, struct fz_node, ln);
	if (fn->magic != FZ_NODE_MAGIC)
		FZ_FAIL("match called on a freed or foreign node");
	return fn->key == *(const uint64_t *)key;
}

static const void *fz_node_key_of(const struct lfmap_node *n, void *arg)
{
	(void)arg;
	const struct fz_node *fn = lfmap_container_of(n, struct fz_node, ln);
	if (fn->magic != FZ_NODE_MAGIC)
		FZ_FAIL("key_of called on a freed or foreign node");
	return &fn->key;
}

static void fz_node_free(struct lfmap_node *n, void *arg)
{
	(void)arg;
	struct fz_node *fn = lfmap_container_of(n, struct fz_node, ln);
	if (fn->magic != FZ_NODE_MAGIC)
		FZ_FAIL("node_free called on a freed or foreign node");
	fn->magic = 0;
	free(fn);
}

static struct fz_node *fz_node_new(unsigned k, uint64_t val)
{
	struct fz_node *n = malloc(sizeof(*n));
	if (!n)
		FZ_FAIL("out of memory in the driver");
	n->key = fz_wkey(k);
	n->val = val;
	n->magic = FZ_NODE_MAGIC;
	n->ln.hash = 0x5555;
	return n;
}

static void fz_node_unused(struct fz_node *n) /* never published */
{
	n->magic = 0;
	free(n);
}

static void fz_garbage(struct fz *f, struct fz_node *n)
{
	if (f->ngarbage == f->capgarbage) {
		f->capgarbage = f->capgarbage ? 2 * f->capgarbage : 64;
		f->garbage = realloc(f->garbage, f->capgarbage * sizeof(*f->garbage));
		if (!f->garbage)
			FZ_FAIL("out of memory in the driver");
	}
	f->garbage[f->ngarbage++] = n;
}

/* Wait for a grace period and every callback; free removed nodes. */
static void fz_quiesce(struct fz *f)
{
	if (f->c.liburcu_worker) {
		urcu_memb_synchronize_rcu();
		urcu_memb_barrier();
	} else {
		fz_flavor_barrier();
	}
	for (size_t i = 0; i < f->ngarbage; i++)
		fz_node_unused(f->garbage[i]);
	f->ngarbage = 0;
}

/* ------------------------------------------------------------ checks */

static bool fz_rc_ok(int rc, bool may_enomem, int a, int b, int c)
{
	return rc == a || rc == b || rc == c || (may_enomem && rc == -ENOMEM);
}

/* The map's view of key k agrees with the model. */
static void fz_check_key(struct fz *f, unsigned k)
{
	int rc;
	switch (f->c.kind) {
	case FZ_WORD: {
		uint64_t v = UINT64_MAX;
		rc = lfmap_word_get(f->m, fz_wkey(k), &v);
		FZ_CHECK(f, rc == (f->present[k] ? 0 : -ENOENT), "word get(#%u) = %d, model %d", k,
			 rc, f->present[k]);
		FZ_CHECK(f, !f->present[k] || v == f->wval[k],
			 "word get(#%u) value %" PRIu64 ", model %" PRIu64, k, v, f->wval[k]);
		break;
	}
	case FZ_NODE: {
		uint64_t key = fz_wkey(k);
		lfmap_read_lock(f->m);
		struct lfmap_node *n = lfmap_lookup_rcu(f->m, &key);
		lfmap_read_unlock(f->m);
		FZ_CHECK(f, n == (f->node[k] ? &f->node[k]->ln : NULL),
			 "lookup(#%u) = %p, model %p", k, (void *)n, (void *)f->node[k]);
		break;
	}
	default: {
		uint8_t kb[256], vb[FZ_MAXV + 8], want[FZ_MAXV];
		size_t kl = fz_skey(k, kb), vl = 12345;
		rc = lfmap_str_get(f->m, kl ? kb : NULL, kl, vb, sizeof(vb), &vl);
		FZ_CHECK(f, rc == (f->present[k] ? 0 : -ENOENT), "str get(#%u) = %d, model %d", k,
			 rc, f->present[k]);
		if (rc == 0) {
			fz_sval(f->sfill[k], f->slen[k], want);
			FZ_CHECK(f, vl == f->slen[k] && memcmp(vb, want, vl) == 0,
				 "str get(#%u): value differs (len %zu, model %u)", k, vl,
				 f->slen[k]);
		}
		break;
	}
	}
}

static int fz_kindex_word(uint64_t key)
{
	for (unsigned k = 0; k < FZ_NKEYS; k++)
		if (fz_wkey(k) == key)
			return (int)k;
	return -1;
}

struct fz_iter {
	struct fz *f;
	bool seen[FZ_NKEYS];
	size_t n;
};

static int fz_visit_word(uint64_t key, uint64_t val, void *arg)
{
	struct fz_iter *it = arg;
	int k = fz_kindex_word(key);
	FZ_CHECK(it->f, k >= 0 && it->f->present[k] && !it->seen[k] && it->f->wval[k] == val,
		 "foreach: unexpected, duplicate or wrong entry key %" PRIx64 " (#%d)", key, k);
	it->seen[k] = true;
	it->n++;
	return 0;
}

static int fz_visit_node(struct lfmap_node *n, void *arg)
{
	struct fz_iter *it = arg;
	struct fz_node *fn = lfmap_container_of(n, struct fz_node, ln);
	int k = fz_kindex_word(fn->key);
	FZ_CHECK(it->f, k >= 0 && it->f->node[k] == fn && !it->seen[k],
		 "foreach: unexpected or duplicate node (#%d)", k);
	it->seen[k] = true;
	it->n++;
	return 0;
}

static int fz_visit_str(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct fz_iter *it = arg;
	uint8_t kb[256], want[FZ_MAXV];
	int k = -1;
	for (unsigned i = 0; i < FZ_NKEYS; i++) {
		size_t l = fz_skey(i, kb);
		if (l == klen && (l == 0 || memcmp(kb, key, l) == 0)) {
			k = (int)i;
			break;
		}
	}
	FZ_CHECK(it->f, k >= 0 && it->f->present[k] && !it->seen[k],
		 "str foreach: unexpected or duplicate key (#%d, len %zu)", k, klen);
	fz_sval(it->f->sfill[k], it->f->slen[k], want);
	FZ_CHECK(it->f, vlen == it->f->slen[k] && memcmp(val, want, vlen) == 0,
		 "str foreach: wrong value for #%d", k);
	it->seen[k] = true;
	it->n++;
	return 0;
}

static size_t fz_model_count(const struct fz *f)
{
	size_t n = 0;
	for (unsigned k = 0; k < FZ_NKEYS; k++)
		n += f->c.kind == FZ_NODE ? f->node[k] != NULL : f->present[k];
	return n;
}

/* Everything agrees: every key, foreach, both counts. may_enomem: foreach may
 * fail with -ENOMEM (its de-duplication list allocates under collisions). */
static void fz_check_all(struct fz *f)
{
	for (unsigned k = 0; k < FZ_NKEYS; k++)
		fz_check_key(f, k);
	struct fz_iter it;
	memset(&it, 0, sizeof(it));
	it.f = f;
	int rc;
	lfmap_read_lock(f->m);
	if (f->c.kind == FZ_WORD)
		rc = lfmap_word_foreach_rcu(f->m, fz_visit_word, &it);
	else if (f->c.kind == FZ_NODE)
		rc = lfmap_foreach_rcu(f->m, fz_visit_node, &it);
	else
		rc = lfmap_str_foreach_rcu(f->m, fz_visit_str, &it);
	lfmap_read_unlock(f->m);
	size_t want = fz_model_count(f);
	FZ_CHECK(f, rc == 0 || (rc == -ENOMEM && f->c.kind != FZ_WORD), "foreach = %d", rc);
	if (rc == 0)
		FZ_CHECK(f, it.n == want, "foreach visited %zu, model %zu", it.n, want);
	size_t cnt = 0;
	rc = lfmap_count_exact(f->m, &cnt);
	FZ_CHECK(f, rc == 0 || (rc == -ENOMEM && f->c.kind != FZ_WORD), "count_exact = %d", rc);
	if (rc == 0)
		FZ_CHECK(f, cnt == want, "count_exact %zu, model %zu", cnt, want);
	FZ_CHECK(f, lfmap_count_approx(f->m) == want, "count_approx %zu, model %zu",
		 lfmap_count_approx(f->m), want);
	struct lfmap_stats st;
	FZ_CHECK(f, lfmap_stats(f->m, &st) == 0, "stats failed");
	FZ_CHECK(f, st.entries == want, "stats.entries %" PRIu64 ", model %zu", st.entries, want);
	FZ_CHECK(f, st.migrations_finished <= st.migrations_started &&
			    st.migrations_started - st.migrations_finished == st.migrating,
		 "stats: started %" PRIu64 " finished %" PRIu64 " migrating %" PRIu64,
		 st.migrations_started, st.migrations_finished, st.migrating);
	FZ_CHECK(f, st.tombstones <= st.claimed_slots && st.claimed_slots <= st.slots,
		 "stats: tombstones %" PRIu64 " claimed %" PRIu64 " slots %" PRIu64,
		 st.tombstones, st.claimed_slots, st.slots);
	f->migrations_seen = st.migrations_finished;
}

/* ------------------------------------------------------------ lifecycle */

/* Expected validity of a configuration per the contract of lfmap_config. */
static bool fz_config_valid(const struct fz_config *c)
{
	/* size_hint > SIZE_MAX >> 8 is rejected by lib/map.c; the header does
	 * not say so (reported in docs/RELIABILITY.md) */
	return c->shrink_pct >= 1 && 2 * c->shrink_pct < c->grow_pct && c->grow_pct <= 100 &&
	       c->max_work >= 1 && c->size_hint <= (SIZE_MAX >> 8);
}

/*
 * Create the map. Returns 0, or the negative errno of a failed create (the
 * driver checks that it is the expected one: EINVAL for an invalid
 * configuration, ENOMEM when the allocator failed).
 */
static int fz_open(struct fz *f, const struct fz_config *c)
{
	memset(f, 0, sizeof(*f));
	f->c = *c;
	pthread_mutex_init(&f->al.lock, NULL);
	f->al.rng = c->seed ^ 0x1234;
	f->al.cap = (size_t)1 << 28; /* absurd size hints must fail, not swap */
	f->al.fail_at = c->arm_fail_at;
	f->al.win_from = c->arm_win_from;
	f->al.win_to = c->arm_win_to;
	f->al.prob = c->arm_prob;
	fz_cur = f;
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	if (!c->liburcu_worker)
		cfg.flavor = fz_flavor();
	cfg.size_hint = c->size_hint;
	cfg.grow_pct = c->grow_pct;
	cfg.shrink_pct = c->shrink_pct;
	cfg.max_work = c->max_work;
	cfg.flags = c->flags | LFMAP_F_FIXED_SEED;
	cfg.seed = c->seed;
	cfg.allocator.alloc = fz_alloc_cb;
	cfg.allocator.free = fz_free_cb;
	cfg.allocator.ctx = &f->al;
	cfg.hash = fz_node_hash;
	cfg.match = fz_node_match;
	cfg.key_of = fz_node_key_of;
	cfg.node_free = fz_node_free;
	cfg.cb_arg = f;
	errno = 0;
	if (c->kind == FZ_WORD)
		f->m = lfmap_word_create(&cfg);
	else if (c->kind == FZ_NODE)
		f->m = lfmap_create(&cfg);
	else
		f->m = lfmap_str_create(&cfg);
	if (f->m == NULL) {
		int e = errno;
		bool valid = fz_config_valid(c);
		FZ_CHECK(f, (!valid && e == EINVAL) || (valid && e == ENOMEM),
			 "create failed with errno %d (config valid: %d, hint %zu)", e, valid,
			 c->size_hint);
		FZ_CHECK(f, f->al.live == 0, "failed create leaked %" PRId64 " blocks", f->al.live);
		pthread_mutex_destroy(&f->al.lock);
		return -e;
	}
	FZ_CHECK(f, fz_config_valid(c), "create accepted an invalid configuration (grow %u "
		 "shrink %u max_work %u)", c->grow_pct, c->shrink_pct, c->max_work);
	return 0;
}

/* Disarm, finish migrations, check everything, destroy (with entries still
 * inside), check the allocator is balanced. */
static void fz_close(struct fz *f)
{
	fz_alloc_disarm(&f->al);
	int rc = lfmap_migrate_step(f->m, 0);
	FZ_CHECK(f, rc == 0, "migrate_step(0) after disarm = %d", rc);
	fz_check_all(f);
	/* still usable: a forced compaction runs to the end */
	rc = lfmap_resize(f->m, LFMAP_RESIZE_COMPACT);
	for (int i = 0; rc == -EAGAIN && i < 50; i++) {
		fz_quiesce(f);
		rc = lfmap_resize(f->m, LFMAP_RESIZE_COMPACT);
	}
	FZ_CHECK(f, rc == 0, "compact after disarm = %d", rc);
	rc = lfmap_migrate_step(f->m, 0);
	FZ_CHECK(f, rc == 0, "migrate_step(0) of the compaction = %d", rc);
	fz_check_all(f);
	fz_quiesce(f);
	rc = lfmap_destroy(f->m);
	FZ_CHECK(f, rc == 0, "destroy = %d", rc);
	f->m = NULL;
	for (unsigned k = 0; k < FZ_NKEYS; k++)
		f->node[k] = NULL; /* freed by node_free */
	fz_quiesce(f);
	FZ_CHECK(f, f->al.live == 0 && f->al.live_bytes == 0,
		 "after destroy %" PRId64 " blocks / %" PRId64 " bytes still allocated",
		 f->al.live, f->al.live_bytes);
	free(f->garbage);
	f->garbage = NULL;
	pthread_mutex_destroy(&f->al.lock);
}

/* ------------------------------------------------------------ operations */

static int fz_wcompute_fn(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	(void)key;
	unsigned a = *(const unsigned *)arg;
	if (a % 3 == LFMAP_COMPUTE_SET)
		*newval = cur ? (*cur + 1) & LFMAP_WORD_VALUE_MAX : a;
	return (int)(a % 3);
}

struct fz_ncompute {
	unsigned verdict;
	struct fz_node *nn;
	int calls;
};

static int fz_ncompute_fn(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	(void)cur;
	struct fz_ncompute *c = arg;
	c->calls++;
	if (c->verdict == LFMAP_COMPUTE_SET)
		*newnode = &c->nn->ln;
	return (int)c->verdict;
}

struct fz_scompute {
	unsigned verdict;
	uint8_t buf[FZ_MAXV];
	size_t len;
};

static int fz_scompute_fn(const void *cur, size_t curlen, const void **newval, size_t *newlen,
			  void *arg)
{
	(void)cur;
	(void)curlen;
	struct fz_scompute *c = arg;
	if (c->verdict == LFMAP_COMPUTE_SET) {
		*newval = c->buf;
		*newlen = c->len;
	}
	return (int)c->verdict;
}

/* Failure injection control (op 13). */
static void fz_arm(struct fz *f, unsigned a)
{
	pthread_mutex_lock(&f->al.lock);
	uint64_t now = f->al.attempts;
	switch (a % 4) {
	case 0: /* the Nth attempt from now */
		f->al.fail_at = now + 1 + (a / 4) % 8;
		break;
	case 1: /* everything for a window */
		f->al.win_from = now + 1;
		f->al.win_to = now + 1 + (a / 4) % 24;
		break;
	case 2: /* probability */
		f->al.prob = ((a / 4) % 64) * 1024u;
		break;
	default:
		f->al.fail_at = 0;
		f->al.win_from = f->al.win_to = 0;
		f->al.prob = 0;
		break;
	}
	pthread_mutex_unlock(&f->al.lock);
}

static void fz_step_word(struct fz *f, unsigned op, unsigned k, unsigned a)
{
	uint64_t key = fz_wkey(k), v = ((uint64_t)a * UINT64_C(0x9e3779b97f4a7c15)) >> 2, out = 7;
	if (a % 17 == 0)
		v = LFMAP_WORD_VALUE_MAX;
	int rc;
	switch (op) {
	case 1:
		rc = lfmap_word_insert(f->m, key, v, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -EEXIST, 0), "insert = %d", rc);
		FZ_CHECK(f, rc != 0 || !f->present[k], "insert of a present key succeeded");
		FZ_CHECK(f, rc != -EEXIST || (f->present[k] && out == f->wval[k]),
			 "insert: -EEXIST wrong (present %d)", f->present[k]);
		if (rc == 0) {
			f->present[k] = true;
			f->wval[k] = v;
		}
		break;
	case 2:
		if (a % 29 == 5) { /* out of range */
			rc = lfmap_word_put(f->m, key, LFMAP_WORD_VALUE_MAX + 1 + a, &out);
			FZ_CHECK(f, rc == -ERANGE, "put of a too large value = %d", rc);
			break;
		}
		rc = lfmap_word_put(f->m, key, v, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, 1, 1), "put = %d", rc);
		if (rc >= 0) {
			FZ_CHECK(f, rc == (f->present[k] ? 1 : 0), "put returned %d, present %d", rc,
				 f->present[k]);
			FZ_CHECK(f, rc == 0 || out == f->wval[k], "put: wrong old value");
			f->present[k] = true;
			f->wval[k] = v;
		}
		break;
	case 3:
		rc = lfmap_word_replace(f->m, key, v, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "replace = %d", rc);
		FZ_CHECK(f, rc != 0 || (f->present[k] && out == f->wval[k]), "replace: wrong");
		FZ_CHECK(f, rc != -ENOENT || !f->present[k], "replace: -ENOENT for present key");
		if (rc == 0)
			f->wval[k] = v;
		break;
	case 4:
		rc = lfmap_word_remove(f->m, key, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "remove = %d", rc);
		FZ_CHECK(f, rc != 0 || (f->present[k] && out == f->wval[k]), "remove: wrong");
		FZ_CHECK(f, rc != -ENOENT || !f->present[k], "remove: -ENOENT for present key");
		if (rc == 0)
			f->present[k] = false;
		break;
	case 5: {
		uint64_t exp = (a & 1) && f->present[k] ? f->wval[k] : v ^ 1;
		uint64_t exp0 = exp;
		rc = lfmap_word_cas(f->m, key, &exp, v);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ECANCELED, -ENOENT), "cas = %d", rc);
		if (rc == 0) {
			FZ_CHECK(f, f->present[k] && f->wval[k] == exp0, "cas succeeded wrongly");
			f->wval[k] = v;
		} else if (rc == -ECANCELED) {
			FZ_CHECK(f, f->present[k] && f->wval[k] != exp0 && exp == f->wval[k],
				 "cas: -ECANCELED wrong");
		} else if (rc == -ENOENT) {
			FZ_CHECK(f, !f->present[k], "cas: -ENOENT for a present key");
		}
		break;
	}
	case 6: {
		int64_t d = (a & 1) ? (int64_t)a : -(int64_t)a;
		rc = lfmap_word_fetch_add(f->m, key, d, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, 0, 0), "fetch_add = %d", rc);
		if (rc == 0) {
			uint64_t old = f->present[k] ? f->wval[k] : 0;
			FZ_CHECK(f, out == old, "fetch_add: old %" PRIu64 ", model %" PRIu64, out, old);
			f->wval[k] = (old + (uint64_t)d) & LFMAP_WORD_VALUE_MAX;
			f->present[k] = true;
		}
		break;
	}
	case 7: {
		unsigned arg = a;
		out = 0x777;
		if (a & 4) {
			rc = lfmap_word_compute(f->m, key, fz_wcompute_fn, &arg, &out);
		} else {
			lfmap_read_lock(f->m);
			rc = lfmap_word_compute_rcu(f->m, key, fz_wcompute_fn, &arg, &out);
			lfmap_read_unlock(f->m);
		}
		FZ_CHECK(f, fz_rc_ok(rc, true, (int)(a % 3), (int)(a % 3), (int)(a % 3)),
			 "compute = %d (verdict %u)", rc, a % 3);
		if (rc >= 0) {
			FZ_CHECK(f, f->present[k] ? out == f->wval[k] : out == 0x777,
				 "compute: *old wrong");
			if (rc == LFMAP_COMPUTE_SET) {
				f->wval[k] = f->present[k] ? (f->wval[k] + 1) & LFMAP_WORD_VALUE_MAX
							   : a;
				f->present[k] = true;
			} else if (rc == LFMAP_COMPUTE_REMOVE) {
				f->present[k] = false;
			}
		}
		break;
	}
	default: {
		lfmap_read_lock(f->m);
		rc = lfmap_word_get_rcu(f->m, key, &out);
		lfmap_read_unlock(f->m);
		FZ_CHECK(f, rc == (f->present[k] ? 0 : -ENOENT), "get_rcu = %d", rc);
		break;
	}
	}
	if (rc == -ENOMEM)
		f->enomem++;
}

static void fz_step_node(struct fz *f, unsigned op, unsigned k, unsigned a)
{
	struct fz_node *nn = fz_node_new(k, a);
	struct lfmap_node *out = (struct lfmap_node *)(uintptr_t)1;
	struct fz_node *cur = f->node[k];
	bool used = false;
	int rc;
	lfmap_read_lock(f->m);
	switch (op) {
	case 1:
		if (cur && (a & 8)) { /* the mapped node itself, inserted again */
			rc = lfmap_insert_rcu(f->m, &cur->ln, &out);
			FZ_CHECK(f, (rc == -EEXIST && out == &cur->ln) || rc == -ENOMEM,
				 "re-insert of a mapped node = %d", rc);
			break;
		}
		rc = lfmap_insert_rcu(f->m, &nn->ln, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -EEXIST, 0), "insert = %d", rc);
		FZ_CHECK(f, rc != 0 || !cur, "insert of a present key succeeded");
		FZ_CHECK(f, rc != -EEXIST || (cur && out == &cur->ln), "insert: -EEXIST wrong");
		if (rc == 0) {
			f->node[k] = nn;
			used = true;
		}
		break;
	case 2:
		rc = lfmap_upsert_rcu(f->m, &nn->ln, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, 1, 1), "upsert = %d", rc);
		if (rc >= 0) {
			FZ_CHECK(f, rc == (cur ? 1 : 0) && (rc == 0 || out == &cur->ln),
				 "upsert returned %d, model present %d", rc, cur != NULL);
			if (cur)
				fz_garbage(f, cur);
			f->node[k] = nn;
			used = true;
		}
		break;
	case 3:
		rc = lfmap_replace_rcu(f->m, &nn->ln, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "replace = %d", rc);
		FZ_CHECK(f, rc != 0 || (cur && out == &cur->ln), "replace: wrong");
		FZ_CHECK(f, rc != -ENOENT || !cur, "replace: -ENOENT for a present key");
		if (rc == 0) {
			fz_garbage(f, cur);
			f->node[k] = nn;
			used = true;
		}
		break;
	case 4: {
		uint64_t key = fz_wkey(k);
		rc = lfmap_remove_rcu(f->m, &key, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "remove = %d", rc);
		FZ_CHECK(f, rc != 0 || (cur && out == &cur->ln), "remove: wrong");
		FZ_CHECK(f, rc != -ENOENT || !cur, "remove: -ENOENT for a present key");
		if (rc == 0) {
			fz_garbage(f, cur);
			f->node[k] = NULL;
		}
		break;
	}
	case 5: { /* cmp_replace with the right or a wrong expected node */
		struct fz_node *exp = (cur && (a & 1)) ? cur : fz_node_new(k, 0);
		rc = lfmap_cmp_replace_rcu(f->m, &exp->ln, &nn->ln);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ECANCELED, -ENOENT), "cmp_replace = %d", rc);
		FZ_CHECK(f, rc != 0 || exp == cur, "cmp_replace succeeded wrongly");
		FZ_CHECK(f, rc != -ECANCELED || (cur && exp != cur), "cmp_replace: -ECANCELED wrong");
		FZ_CHECK(f, rc != -ENOENT || !cur, "cmp_replace: -ENOENT for a present key");
		if (rc == 0) {
			fz_garbage(f, cur);
			f->node[k] = nn;
			used = true;
		}
		if (exp != cur)
			fz_node_unused(exp);
		break;
	}
	case 6: { /* remove_node with the right or a wrong node */
		struct fz_node *victim = (cur && (a & 1)) ? cur : nn;
		rc = lfmap_remove_node_rcu(f->m, &victim->ln);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "remove_node = %d", rc);
		FZ_CHECK(f, rc != 0 || victim == cur, "remove_node removed a node not mapped");
		FZ_CHECK(f, rc != -ENOENT || victim != cur, "remove_node: -ENOENT for the mapped node");
		if (rc == 0) {
			fz_garbage(f, cur);
			f->node[k] = NULL;
		}
		break;
	}
	case 7: {
		uint64_t key = fz_wkey(k);
		struct fz_ncompute c = { .verdict = a % 3, .nn = nn };
		rc = lfmap_compute_rcu(f->m, &key, fz_ncompute_fn, &c, &out);
		FZ_CHECK(f, fz_rc_ok(rc, true, (int)(a % 3), (int)(a % 3), (int)(a % 3)),
			 "compute = %d (verdict %u)", rc, a % 3);
		if (rc >= 0) {
			FZ_CHECK(f, out == (cur ? &cur->ln : NULL), "compute: *old wrong");
			if (rc == LFMAP_COMPUTE_SET) {
				if (cur)
					fz_garbage(f, cur);
				f->node[k] = nn;
				used = true;
			} else if (rc == LFMAP_COMPUTE_REMOVE && cur) {
				fz_garbage(f, cur);
				f->node[k] = NULL;
			}
		}
		break;
	}
	default: {
		uint64_t key = fz_wkey(k);
		struct lfmap_node *n = lfmap_lookup_rcu(f->m, &key);
		FZ_CHECK(f, n == (cur ? &cur->ln : NULL), "lookup wrong");
		FZ_CHECK(f, !n || n->hash != 0, "a mapped node has hash 0");
		rc = 0;
		break;
	}
	}
	lfmap_read_unlock(f->m);
	if (!used)
		fz_node_unused(nn);
	if (rc == -ENOMEM)
		f->enomem++;
}

static void fz_step_str(struct fz *f, unsigned op, unsigned k, unsigned a)
{
	uint8_t kb[256], vb[FZ_MAXV];
	size_t kl = fz_skey(k, kb);
	const void *kp = kl ? (const void *)kb : (a & 1) ? NULL : (const void *)kb;
	size_t vl = (a * 7) % (FZ_MAXV + 1);
	if (a % 5 == 0)
		vl = 0;
	uint8_t fill = (uint8_t)(a >> 3);
	fz_sval(fill, vl, vb);
	int rc;
	bool set = false;
	switch (op) {
	case 1:
		rc = lfmap_str_add(f->m, kp, kl, vb, vl);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -EEXIST, 0), "add = %d", rc);
		FZ_CHECK(f, rc != 0 || !f->present[k], "add of a present key succeeded");
		FZ_CHECK(f, rc != -EEXIST || f->present[k], "add: -EEXIST for an absent key");
		set = rc == 0;
		break;
	case 2:
		rc = lfmap_str_set(f->m, kp, kl, vb, vl);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, 1, 1), "set = %d", rc);
		FZ_CHECK(f, rc < 0 || rc == (f->present[k] ? 1 : 0), "set returned %d", rc);
		set = rc >= 0;
		break;
	case 3:
		rc = lfmap_str_replace(f->m, kp, kl, vb, vl);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "replace = %d", rc);
		FZ_CHECK(f, rc != 0 || f->present[k], "replace of an absent key succeeded");
		FZ_CHECK(f, rc != -ENOENT || !f->present[k], "replace: -ENOENT for a present key");
		set = rc == 0;
		break;
	case 4:
	case 6:
		/* str.h documents 0, -ENOENT, -EINVAL for del, but del returns
		 * -ENOMEM while a migration cannot allocate (found by this
		 * fuzzer, fuzz/regressions/str-del-enomem; like
		 * lfmap_remove_rcu, whose contract says so): accepted and
		 * counted, the map must be unchanged */
		rc = lfmap_str_del(f->m, kp, kl);
		FZ_CHECK(f, fz_rc_ok(rc, true, 0, -ENOENT, 0), "del = %d", rc);
		if (rc == -ENOMEM)
			f->del_enomem++;
		FZ_CHECK(f, rc != 0 || f->present[k], "del of an absent key succeeded");
		FZ_CHECK(f, rc != -ENOENT || !f->present[k], "del: -ENOENT for a present key");
		if (rc == 0)
			f->present[k] = false;
		break;
	case 5:
	case 7: {
		struct fz_scompute c = { .verdict = a % 3, .len = vl };
		memcpy(c.buf, vb, vl);
		rc = lfmap_str_compute(f->m, kp, kl, fz_scompute_fn, &c);
		FZ_CHECK(f, fz_rc_ok(rc, true, (int)(a % 3), (int)(a % 3), (int)(a % 3)),
			 "compute = %d (verdict %u)", rc, a % 3);
		memset(c.buf, 0xEE, sizeof(c.buf)); /* the map must have copied it */
		if (rc == LFMAP_COMPUTE_SET)
			set = true;
		else if (rc == LFMAP_COMPUTE_REMOVE)
			f->present[k] = false;
		break;
	}
	default: {
		const void *val = NULL;
		size_t len = 0;
		lfmap_read_lock(f->m);
		rc = lfmap_str_get_rcu(f->m, kp, kl, &val, &len);
		if (rc == 0) {
			uint8_t want[FZ_MAXV];
			fz_sval(f->sfill[k], f->slen[k], want);
			FZ_CHECK(f, len == f->slen[k] && memcmp(val, want, len) == 0,
				 "get_rcu: wrong value");
		}
		lfmap_read_unlock(f->m);
		FZ_CHECK(f, rc == (f->present[k] ? 0 : -ENOENT), "get_rcu = %d", rc);
		/* truncated copy */
		if (f->present[k] && f->slen[k] > 3) {
			size_t full = 0;
			rc = lfmap_str_get(f->m, kp, kl, vb, 3, &full);
			FZ_CHECK(f, rc == -ENOSPC && full == f->slen[k], "short get = %d", rc);
		}
		rc = 0;
		break;
	}
	}
	if (set) {
		f->present[k] = true;
		f->slen[k] = (uint16_t)vl;
		f->sfill[k] = fill;
	}
	if (rc == -ENOMEM)
		f->enomem++;
}

/*
 * One operation: op selects it, k the key (mod FZ_NKEYS), a an argument.
 * With full, every key and the counts are checked afterwards; otherwise the
 * touched key.
 */
static void fz_step(struct fz *f, unsigned op, unsigned k, unsigned a, bool full)
{
	k %= FZ_NKEYS;
	f->ops++;
	op %= 16;
	int rc = 0;
	switch (op) {
	case 8:
		fz_check_all(f);
		return;
	case 9: {
		/* grow, shrink, compact, reseed (every kind) */
		enum lfmap_resize kind = (enum lfmap_resize)(1 + a % 4);
		rc = lfmap_resize(f->m, kind);
		FZ_CHECK(f, rc == 0 || rc == -EAGAIN || rc == -ENOMEM ||
				    (rc == -EINVAL && kind == LFMAP_RESIZE_SHRINK),
			 "resize(%d) = %d", (int)kind, rc);
		if (rc == -ENOMEM) {
			f->enomem++;
			f->resize_enomem++;
		}
		break;
	}
	case 10:
		rc = lfmap_migrate_step(f->m, a % 4);
		FZ_CHECK(f, rc == 0 || rc == 1 || rc == -ENOMEM, "migrate_step = %d", rc);
		if (rc == -ENOMEM) {
			f->enomem++;
			f->step_enomem++;
		}
		break;
	case 11:
		fz_quiesce(f);
		break;
	case 12:
		fz_arm(f, a);
		return;
	default:
		if (op > 12) /* 13..15: more updates */
			op = 1 + a % 7;
		if (f->c.kind == FZ_WORD)
			fz_step_word(f, op, k, a);
		else if (f->c.kind == FZ_NODE)
			fz_step_node(f, op, k, a);
		else
			fz_step_str(f, op, k, a);
		break;
	}
	if (full)
		fz_check_all(f);
	else
		fz_check_key(f, k);
}

#endif /* LFMAP_FZ_DRIVER_H */
