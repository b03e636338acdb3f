/* bench/adapters/lfmap.c - lfmap's word-key map and intrusive node map,
 * used through the public API only, the way a daemon would use them. The
 * node map's read-side sections use the flavor's inline rcu_read_lock
 * (_LGPL_SOURCE), as the rculfhash adapter does and as lfmap/node.h allows;
 * the word map takes its read lock inside each call.
 * Compiled twice, like rculfhash.c: urcu-memb (lfmap-word, lfmap-node: the
 * maps of make bench's matrix) and, with -DBENCH_QSBR, urcu-qsbr
 * (lfmap-word-qsbr, lfmap-node-qsbr: the maps' config names the QSBR flavor
 * and threads announce a quiescent state every BENCH_QUIESCE_EVERY ops, as
 * rculfhash-qsbr's do; side measurements, not in the matrix). */
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#ifdef BENCH_QSBR
#include <urcu/urcu-qsbr.h>
#define B_FLAVOR (&urcu_qsbr_flavor)
#define B_READ_LOCK urcu_qsbr_read_lock
#define B_READ_UNLOCK urcu_qsbr_read_unlock
#define B_REGISTER urcu_qsbr_register_thread
#define B_BARRIER urcu_qsbr_barrier
#define B_SUFFIX "-qsbr"
#define B_WORD bench_lfmap_word_qsbr
#define B_NODE bench_lfmap_node_qsbr
#else
#include <urcu/urcu-memb.h>
#define B_FLAVOR (&urcu_memb_flavor)
#define B_READ_LOCK urcu_memb_read_lock
#define B_READ_UNLOCK urcu_memb_read_unlock
#define B_REGISTER urcu_memb_register_thread
#define B_BARRIER urcu_memb_barrier
#define B_SUFFIX ""
#define B_WORD bench_lfmap_word
#define B_NODE bench_lfmap_node
#endif
#include <lfmap.h>
#include "../adapter.h"

#ifndef BENCH_QSBR
uint64_t bench_hash(uint64_t key) { return lfmap_hash_u64(key, BENCH_SEED); }
#endif

/* BENCH_LFMAP_ARENA_MIB=N: the map allocates from an N MiB arena mapped
 * and faulted in (huge pages where the kernel gives them) when the map is
 * created, a bump allocator that never reuses: what a daemon that hands
 * lfmap pre-faulted memory through lfmap_config.allocator would see. No
 * first touch of a page happens on an insert, and with LFMAP_F_ALLOC_ZEROED
 * lfmap does not clear a new table in the insert that starts a migration
 * (growth-latency experiments, docs/PERFORMANCE.md "Growth"). One map at a
 * time per process. */
static struct {
	char *base;
	size_t size;
	size_t used; /* atomic: __atomic builtins */
} arena;
static void *arena_alloc(void *ctx, size_t size, size_t align)
{
	(void)ctx;
	size_t old = __atomic_load_n(&arena.used, __ATOMIC_RELAXED), at;
	do {
		at = (old + align - 1) & ~(align - 1);
		if (at + size > arena.size)
			return NULL;
	} while (!__atomic_compare_exchange_n(&arena.used, &old, at + size, 1,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return arena.base + at;
}
static void arena_free(void *ctx, void *p, size_t size) { (void)ctx, (void)p, (void)size; }
static void arena_setup(struct lfmap_config *c)
{
	const char *e = getenv("BENCH_LFMAP_ARENA_MIB");
	if (e == NULL || atoi(e) <= 0)
		return;
	arena.size = (size_t)atoi(e) << 20;
	arena.used = 0;
	void *p = mmap(NULL, arena.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();
	(void)madvise(p, arena.size, MADV_HUGEPAGE);
	for (size_t o = 0; o < arena.size; o += 4096)
		((volatile char *)p)[o] = 0;
	arena.base = p;
	c->allocator.alloc = arena_alloc;
	c->allocator.free = arena_free;
	c->flags |= LFMAP_F_ALLOC_ZEROED; /* fresh pages, never reused */
}
static void arena_release(void)
{
	if (arena.base != NULL)
		munmap(arena.base, arena.size);
	arena.base = NULL;
}

/* BENCH_LFMAP_GROW_PCT overrides the grow threshold (bench/sweep.sh);
 * BENCH_LFMAP_MAX_WORK the migration work per update, BENCH_LFMAP_FLAGS
 * adds LFMAP_F_* flags (growth-latency experiments, docs/PERFORMANCE.md),
 * BENCH_LFMAP_SIZE_HINT replaces the size hint of every map the harness
 * creates (a first table big enough that write-heavy traffic, or a growth
 * run, never grows it). */
static void tune(struct lfmap_config *c)
{
	arena_setup(c);
	const char *g = getenv("BENCH_LFMAP_GROW_PCT");
	if (g && *g)
		c->grow_pct = (unsigned)atoi(g);
	g = getenv("BENCH_LFMAP_MAX_WORK");
	if (g && *g)
		c->max_work = (unsigned)atoi(g);
	g = getenv("BENCH_LFMAP_FLAGS");
	if (g && *g)
		c->flags |= (unsigned)strtoul(g, NULL, 0);
	g = getenv("BENCH_LFMAP_SIZE_HINT");
	if (g && *g)
		c->size_hint = (size_t)strtoull(g, NULL, 0);
}

static void lf_enter(void *m) { (void)m; B_REGISTER(); }
static void lf_exit(void *m)
{
	(void)m;
#ifdef BENCH_QSBR
	urcu_qsbr_thread_offline();
	urcu_qsbr_unregister_thread();
#else
	urcu_memb_unregister_thread();
#endif
}
#ifdef BENCH_QSBR
static void lf_quiesce(void *m) { (void)m; urcu_qsbr_quiescent_state(); }
#define B_QUIESCE lf_quiesce
/* destroy waits for grace periods (rcu_barrier), which an online QSBR
 * thread would hold up */
#define B_OFFLINE() urcu_qsbr_thread_offline()
#define B_ONLINE() urcu_qsbr_thread_online()
#else
#define B_QUIESCE NULL
#define B_OFFLINE() ((void)0)
#define B_ONLINE() ((void)0)
#endif

/* ---- word-key map: values inline, each call takes the read lock ---- */
static void *w_create(size_t n)
{
	struct lfmap_config c;
	lfmap_config_init(&c);
	c.flavor = B_FLAVOR;
	c.size_hint = n;
	c.flags |= LFMAP_F_FIXED_SEED;
	c.seed = BENCH_SEED;
	tune(&c);
	return lfmap_word_create(&c);
}
static int w_get(void *m, uint64_t k, uint64_t *v) { return lfmap_word_get(m, k, v) == 0; }
static int w_ins(void *m, uint64_t k, uint64_t v) { return lfmap_word_insert(m, k, v, NULL) == 0; }
static int w_rem(void *m, uint64_t k) { return lfmap_word_remove(m, k, NULL) == 0; }
/* BENCH_LFMAP_STATS=1: lfmap_stats of each map on stderr when it is
 * destroyed (how many migrations ran in a measurement, and of which kind). */
static void print_stats(void *m, const char *name)
{
	const char *e = getenv("BENCH_LFMAP_STATS");
	struct lfmap_stats st;
	if (e == NULL || e[0] != '1' || lfmap_stats(m, &st) != 0)
		return;
	fprintf(stderr,
		"#stats %s entries=%llu buckets=%llu overflow=%llu claimed=%llu "
		"tombstones=%llu migrating=%llu started=%llu grows=%llu shrinks=%llu compactions=%llu "
		"by_writers=%llu by_background=%llu longest_migration_ms=%.1f\n",
		name, (unsigned long long)st.entries, (unsigned long long)st.buckets,
		(unsigned long long)st.overflow_buckets,
		(unsigned long long)st.claimed_slots, (unsigned long long)st.tombstones,
		(unsigned long long)st.migrating, (unsigned long long)st.migrations_started,
		(unsigned long long)st.grows, (unsigned long long)st.shrinks,
		(unsigned long long)st.compactions,
		(unsigned long long)st.evacuated_by_writers,
		(unsigned long long)st.evacuated_by_background,
		st.longest_migration_ns / 1e6);
}
static void w_destroy(void *m)
{
	print_stats(m, "lfmap-word" B_SUFFIX);
	B_OFFLINE();
	lfmap_destroy(m);
	B_ONLINE();
	arena_release();
}

const struct bench_adapter B_WORD = {
	"lfmap-word" B_SUFFIX, w_create, lf_enter, lf_exit, B_QUIESCE, w_get, w_ins, w_rem, w_destroy,
};

/* ---- intrusive node map: one malloc'd item per entry, freed after a grace
 * period with lfmap_call_rcu ---- */
struct item {
	uint64_t key, val;
	struct lfmap_node node;
	struct rcu_head rcu;
};
static uint64_t n_hash(const void *k, uint64_t seed, void *a)
{
	(void)a;
	return lfmap_hash_u64(*(const uint64_t *)k, seed);
}
static int n_match(const struct lfmap_node *n, const void *k, void *a)
{
	(void)a;
	return lfmap_container_of(n, struct item, node)->key == *(const uint64_t *)k;
}
static const void *n_key(const struct lfmap_node *n, void *a)
{
	(void)a;
	return &lfmap_container_of(n, struct item, node)->key;
}
static void n_free(struct lfmap_node *n, void *a)
{
	(void)a;
	free(lfmap_container_of(n, struct item, node));
}
static void *n_create(size_t n)
{
	struct lfmap_config c;
	lfmap_config_init(&c);
	c.flavor = B_FLAVOR;
	c.size_hint = n;
	c.flags |= LFMAP_F_FIXED_SEED;
	c.seed = BENCH_SEED;
	/* The built-in 8-byte key (no callbacks), as a user with integer keys
	 * would configure it; LFMAP_BENCH_NODE_CALLBACKS=1 measures the
	 * callback path instead (docs/PERFORMANCE.md, "The node map"). */
	const char *cb = getenv("LFMAP_BENCH_NODE_CALLBACKS");
	if (cb != NULL && cb[0] == '1') {
		c.hash = n_hash;
		c.match = n_match;
		c.key_of = n_key;
	} else {
		c.key_size = sizeof(uint64_t);
		c.key_offset = LFMAP_KEY_OFFSET(struct item, node, key);
	}
	c.node_free = n_free;
	tune(&c);
	return lfmap_create(&c);
}
static int n_get(void *m, uint64_t k, uint64_t *v)
{
	int r = 0;
	B_READ_LOCK();
	struct lfmap_node *n = lfmap_lookup_rcu(m, &k);
	if (n) {
		*v = lfmap_container_of(n, struct item, node)->val;
		r = 1;
	}
	B_READ_UNLOCK();
	return r;
}
static int n_ins(void *m, uint64_t k, uint64_t v)
{
	struct item *it = malloc(sizeof(*it));
	if (!it)
		abort();
	it->key = k;
	it->val = v;
	B_READ_LOCK();
	int r = lfmap_insert_rcu(m, &it->node, NULL);
	B_READ_UNLOCK();
	if (r == 0)
		return 1;
	free(it); /* never published */
	if (r != -EEXIST)
		abort();
	return 0;
}
static struct lfmap *cb_map; /* one node map per process at a time */
static void item_free_cb(struct rcu_head *h)
{
	lfmap_rcu_callback_enter(cb_map, h);
	free(lfmap_container_of(h, struct item, rcu));
}
static int n_rem(void *m, uint64_t k)
{
	struct lfmap_node *old;
	B_READ_LOCK();
	int r = lfmap_remove_rcu(m, &k, &old);
	if (r == 0)
		lfmap_call_rcu(m, &lfmap_container_of(old, struct item, node)->rcu, item_free_cb);
	B_READ_UNLOCK();
	return r == 0;
}
static void *n_create_reg(size_t n)
{
	void *m = n_create(n);
	cb_map = m;
	return m;
}
static void n_destroy(void *m)
{
	print_stats(m, "lfmap-node" B_SUFFIX);
	B_OFFLINE();
	B_BARRIER(); /* pending item frees */
	if (lfmap_destroy(m) != 0)
		abort();
	B_ONLINE();
	arena_release();
}

const struct bench_adapter B_NODE = {
	"lfmap-node" B_SUFFIX, n_create_reg, lf_enter, lf_exit, B_QUIESCE, n_get, n_ins, n_rem, n_destroy,
};
