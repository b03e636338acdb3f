/*
 * testutil.h - header-only helpers shared by the Criterion unit tests:
 * RCU thread registration fixtures, a deterministic PRNG, a counting and
 * failure-injecting allocator for struct lfmap_allocator, and small helpers
 * around migrations and statistics.
 *
 * Criterion runs every test in its own process, so each test registers the
 * calling thread with urcu-memb through the tu_rcu_init/tu_rcu_fini fixture
 * (use TestSuite(name, .init = tu_rcu_init, .fini = tu_rcu_fini)).
 */
#ifndef LFMAP_TESTUTIL_H
#define LFMAP_TESTUTIL_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <urcu/urcu-memb.h>

#include <lfmap.h>

#define TU_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ RCU */

static inline void tu_rcu_init(void)
{
	urcu_memb_register_thread();
}

static inline void tu_rcu_fini(void)
{
	urcu_memb_unregister_thread();
}

/* Wait for a grace period and for every pending call_rcu callback. Must be
 * called outside any read-side critical section. */
static inline void tu_quiesce(void)
{
	urcu_memb_synchronize_rcu();
	urcu_memb_barrier();
}

/* ------------------------------------------------------------------ PRNG */

struct tu_rng {
	uint64_t s;
};

static inline uint64_t tu_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline uint64_t tu_next(struct tu_rng *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return tu_mix64(r->s);
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t tu_below(struct tu_rng *r, uint64_t n)
{
	return tu_next(r) % n;
}

/* True with probability num/den. */
static inline bool tu_chance(struct tu_rng *r, unsigned num, unsigned den)
{
	return tu_below(r, den) < num;
}

/* --------------------------------------------------------- test allocator */

/*
 * A thread-safe allocator for config.allocator that
 *  - records every live block (pointer -> size) and flags frees of unknown
 *    pointers, double frees and frees with a size other than the one passed
 *    to alloc;
 *  - checks that align is a power of two <= 4096 and that the block is
 *    aligned;
 *  - fills new blocks with garbage (the contract says memory need not be
 *    zeroed) and freed blocks with another pattern;
 *  - can fail the fail_at-th allocation attempt (1-based), either once or
 *    persistently (every attempt from fail_at on) until disarmed.
 */
struct tu_block {
	void *p;
	size_t size;
	struct tu_block *next;
};

#define TU_ALLOC_NBUCKETS 4096u

struct tu_alloc {
	pthread_mutex_t lock;
	struct tu_block *buckets[TU_ALLOC_NBUCKETS];
	uint64_t attempts;    /* alloc calls */
	uint64_t nallocs;     /* successful allocs */
	uint64_t nfrees;      /* frees */
	uint64_t nfailed;     /* injected failures */
	uint64_t bytes_alloc; /* sum of sizes of successful allocs */
	uint64_t bytes_freed; /* sum of sizes passed to free */
	uint64_t live;        /* live blocks */
	uint64_t errors;      /* contract violations seen */
	char errmsg[256];     /* the first one */
	uint64_t fail_at;     /* 0: never fail */
	bool persistent;      /* fail every attempt >= fail_at */
	bool fail_all;        /* fail every attempt */
};

static inline size_t tu_alloc_hash(const void *p)
{
	return (size_t)(tu_mix64((uint64_t)(uintptr_t)p) % TU_ALLOC_NBUCKETS);
}

static inline void tu_alloc_error(struct tu_alloc *a, const char *what, const void *p,
				  size_t size, size_t other)
{
	if (a->errors++ == 0)
		snprintf(a->errmsg, sizeof(a->errmsg), "%s (ptr %p size %zu / %zu)", what, p,
			 size, other);
}

static inline void *tu_alloc_cb(void *ctx, size_t size, size_t align)
{
	struct tu_alloc *a = ctx;
	void *p = NULL;

	pthread_mutex_lock(&a->lock);
	a->attempts++;
	if (align == 0 || (align & (align - 1)) != 0 || align > 4096)
		tu_alloc_error(a, "bad alignment requested", NULL, size, align);
	if (a->fail_all || (a->fail_at != 0 && (a->attempts == a->fail_at ||
						 (a->persistent && a->attempts > a->fail_at)))) {
		a->nfailed++;
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	pthread_mutex_unlock(&a->lock);

	size_t al = align < sizeof(void *) ? sizeof(void *) : align;
	if ((al & (al - 1)) != 0)
		al = 64;
	if (posix_memalign(&p, al, size ? size : 1) != 0)
		return NULL;
	memset(p, 0xA5, size);
	if (align != 0 && ((uintptr_t)p & (align - 1)) != 0) {
		free(p);
		return NULL;
	}

	struct tu_block *b = malloc(sizeof(*b));
	if (!b) {
		free(p);
		return NULL;
	}
	b->p = p;
	b->size = size;
	pthread_mutex_lock(&a->lock);
	size_t h = tu_alloc_hash(p);
	b->next = a->buckets[h];
	a->buckets[h] = b;
	a->nallocs++;
	a->live++;
	a->bytes_alloc += size;
	pthread_mutex_unlock(&a->lock);
	return p;
}

static inline void tu_free_cb(void *ctx, void *ptr, size_t size)
{
	struct tu_alloc *a = ctx;

	if (!ptr)
		return;
	pthread_mutex_lock(&a->lock);
	a->nfrees++;
	a->bytes_freed += size;
	size_t h = tu_alloc_hash(ptr);
	struct tu_block **pp = &a->buckets[h];
	while (*pp && (*pp)->p != ptr)
		pp = &(*pp)->next;
	struct tu_block *b = *pp;
	if (!b) {
		tu_alloc_error(a, "free of unknown pointer or double free", ptr, size, 0);
		pthread_mutex_unlock(&a->lock);
		return; /* do not pass a foreign pointer to free() */
	}
	if (b->size != size)
		tu_alloc_error(a, "free size differs from alloc size", ptr, size, b->size);
	*pp = b->next;
	a->live--;
	pthread_mutex_unlock(&a->lock);
	memset(ptr, 0x5A, b->size);
	free(b);
	free(ptr);
}

static inline void tu_alloc_init(struct tu_alloc *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
}

static inline struct lfmap_allocator tu_alloc_hooks(struct tu_alloc *a)
{
	struct lfmap_allocator h = { .alloc = tu_alloc_cb, .free = tu_free_cb, .ctx = a };
	return h;
}

/* Arm: fail the n-th attempt from now (1-based), once or persistently. */
static inline void tu_alloc_arm(struct tu_alloc *a, uint64_t n, bool persistent)
{
	pthread_mutex_lock(&a->lock);
	a->fail_at = a->attempts + n;
	a->persistent = persistent;
	pthread_mutex_unlock(&a->lock);
}

static inline void tu_alloc_disarm(struct tu_alloc *a)
{
	pthread_mutex_lock(&a->lock);
	a->fail_at = 0;
	a->persistent = false;
	a->fail_all = false;
	pthread_mutex_unlock(&a->lock);
}

static inline uint64_t tu_alloc_attempts(struct tu_alloc *a)
{
	pthread_mutex_lock(&a->lock);
	uint64_t n = a->attempts;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* The map under test allocates through a: at least one successful alloc
 * (catches a config whose allocator hooks were not set). */
static inline void tu_alloc_assert_used(struct tu_alloc *a)
{
	pthread_mutex_lock(&a->lock);
	uint64_t n = a->nallocs;
	pthread_mutex_unlock(&a->lock);
	cr_assert_geq(n, 1, "nothing was allocated through the test allocator");
}

/* After lfmap_destroy (which runs the barrier) everything must be back. */
static inline void tu_alloc_assert_balanced(struct tu_alloc *a, const char *ctx)
{
	urcu_memb_barrier();
	pthread_mutex_lock(&a->lock);
	uint64_t live = a->live, ba = a->bytes_alloc, bf = a->bytes_freed;
	uint64_t na = a->nallocs, nf = a->nfrees, err = a->errors;
	char msg[256];
	memcpy(msg, a->errmsg, sizeof(msg));
	pthread_mutex_unlock(&a->lock);
	cr_assert_eq(err, 0, "%s: allocator contract violated %" PRIu64 " time(s): %s", ctx, err,
		     msg);
	cr_assert_eq(live, 0, "%s: %" PRIu64 " blocks leaked (%" PRIu64 " allocs, %" PRIu64
		     " frees)", ctx, live, na, nf);
	cr_assert_eq(ba, bf, "%s: bytes allocated %" PRIu64 " != bytes freed %" PRIu64, ctx, ba,
		     bf);
}

static inline void tu_alloc_release(struct tu_alloc *a)
{
	for (size_t i = 0; i < TU_ALLOC_NBUCKETS; i++) {
		struct tu_block *b = a->buckets[i];
		while (b) {
			struct tu_block *n = b->next;
			free(b->p);
			free(b);
			b = n;
		}
		a->buckets[i] = NULL;
	}
	pthread_mutex_destroy(&a->lock);
}

/* ------------------------------------------------------- map helpers */

static inline struct lfmap_stats tu_stats(struct lfmap *m)
{
	struct lfmap_stats st;
	memset(&st, 0xff, sizeof(st));
	int rc = lfmap_stats(m, &st);
	cr_assert_eq(rc, 0, "lfmap_stats returned %d", rc);
	return st;
}

/* Finish the running migration with lfmap_migrate_step(map, 0). */
static inline void tu_finish_migration(struct lfmap *m)
{
	int rc = lfmap_migrate_step(m, 0);
	cr_assert_eq(rc, 0, "lfmap_migrate_step(map, 0) returned %d, expected 0", rc);
	cr_assert_eq(tu_stats(m).migrating, 0, "migration still running after migrate_step(0)");
}

/*
 * Start a resize of the given kind, retrying after grace periods while the
 * previous table is not reclaimed yet. Returns the final return value.
 */
static inline int tu_resize_retry(struct lfmap *m, enum lfmap_resize kind)
{
	int rc = lfmap_resize(m, kind);
	for (int i = 0; rc == -EAGAIN && i < 100; i++) {
		if (tu_stats(m).migrating)
			lfmap_migrate_step(m, 0);
		tu_quiesce();
		rc = lfmap_resize(m, kind);
	}
	return rc;
}

/* A node-map config with the usual test callbacks filled in by the caller. */
static inline struct lfmap_config tu_config(void)
{
	struct lfmap_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	lfmap_config_init(&cfg);
	return cfg;
}

/* tu_config() whose allocator is the test allocator a (initialised here;
 * tu_alloc_release(a) when done). */
static inline struct lfmap_config tu_alloc_config(struct tu_alloc *a)
{
	tu_alloc_init(a);
	struct lfmap_config cfg = tu_config();
	cfg.allocator = tu_alloc_hooks(a);
	return cfg;
}

/* ------------------------------------------------------- test node type */

#define TU_NODE_MAGIC 0x4e4f4445u

struct tu_node {
	uint64_t key;
	struct lfmap_node node; /* deliberately not the first member */
	uint64_t val;
	uint32_t magic;
	int freed_by_map; /* count of node_free calls */
};

enum tu_hash_mode {
	TU_HASH_GOOD = 0,  /* seeded mix */
	TU_HASH_MOD4 = 1,  /* key % 4: massive full-hash collisions */
	TU_HASH_CONST = 2, /* every key hashes to the same value */
	/* No callbacks: the built-in fixed-size key (lfmap_config.key_size),
	 * tu_node.key in place. */
	TU_KEY_U64 = 3,    /* key_size 8: the inline path */
	TU_KEY_BYTES6 = 4, /* key_size 6: lfmap_hash_bytes + memcmp (keys < 2^48) */
};
#define TU_KEY_BUILTIN(mode) ((mode) >= TU_KEY_U64)

struct tu_node_cb {
	int mode;                  /* enum tu_hash_mode */
	uint64_t last_seed;        /* seed seen by the hash function */
	uint64_t hash_calls;
	uint64_t bad_arg;          /* calls with a wrong cb_arg/NULL args */
	uint64_t node_free_calls;
	uint64_t foreign_free;     /* node_free on a node with bad magic */
};

static inline uint64_t tu_hash_of(int mode, uint64_t key, uint64_t seed)
{
	switch (mode) {
	case TU_HASH_MOD4:
		return key % 4;
	case TU_HASH_CONST:
		return UINT64_C(0x1234567887654321);
	default:
		return tu_mix64(key ^ tu_mix64(seed));
	}
}

static inline uint64_t tu_node_hash(const void *key, uint64_t seed, void *arg)
{
	struct tu_node_cb *cb = arg;
	if (!key || !cb) {
		if (cb)
			__atomic_fetch_add(&cb->bad_arg, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_fetch_add(&cb->hash_calls, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&cb->last_seed, seed, __ATOMIC_RELAXED);
	return tu_hash_of(cb->mode, *(const uint64_t *)key, seed);
}

static inline struct tu_node *tu_node_of(const struct lfmap_node *n)
{
	return lfmap_container_of(n, struct tu_node, node);
}

static inline int tu_node_match(const struct lfmap_node *node, const void *key, void *arg)
{
	struct tu_node_cb *cb = arg;
	if (!node || !key) {
		if (cb)
			__atomic_fetch_add(&cb->bad_arg, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return tu_node_of(node)->key == *(const uint64_t *)key;
}

static inline const void *tu_node_key_of(const struct lfmap_node *node, void *arg)
{
	struct tu_node_cb *cb = arg;
	if (!node) {
		if (cb)
			__atomic_fetch_add(&cb->bad_arg, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	return &tu_node_of(node)->key;
}

static inline void tu_node_free_cb(struct lfmap_node *node, void *arg)
{
	struct tu_node_cb *cb = arg;
	struct tu_node *n = tu_node_of(node);
	cb->node_free_calls++;
	if (n->magic != TU_NODE_MAGIC) {
		cb->foreign_free++;
		return;
	}
	n->freed_by_map++;
}

static inline struct tu_node *tu_node_new(uint64_t key, uint64_t val)
{
	struct tu_node *n = calloc(1, sizeof(*n));
	cr_assert_not_null(n);
	n->key = key;
	n->val = val;
	n->magic = TU_NODE_MAGIC;
	n->node.hash = UINT64_C(0xdeadbeefdeadbeef);
	return n;
}

static inline void tu_node_delete(struct tu_node *n)
{
	if (!n)
		return;
	cr_assert_eq(n->magic, TU_NODE_MAGIC, "freeing a node with bad magic");
	n->magic = 0;
	free(n);
}

static inline struct lfmap_config tu_node_config(struct tu_node_cb *cb, int mode)
{
	memset(cb, 0, sizeof(*cb));
	cb->mode = mode;
	struct lfmap_config cfg = tu_config();
	if (TU_KEY_BUILTIN(mode)) {
		/* tu_node.key sits before the node: a negative offset;
		 * little-endian, so 6 bytes are the key's low 48 bits. */
		cfg.key_size = mode == TU_KEY_U64 ? 8 : 6;
		cfg.key_offset = LFMAP_KEY_OFFSET(struct tu_node, node, key);
	} else {
		cfg.hash = tu_node_hash;
		cfg.match = tu_node_match;
		cfg.key_of = tu_node_key_of;
	}
	cfg.cb_arg = cb;
	return cfg;
}

#endif /* LFMAP_TESTUTIL_H */
