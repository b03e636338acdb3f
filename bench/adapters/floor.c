/* bench/adapters/floor.c - "node-floor": not a peer, a yardstick. The
 * cheapest concurrent map that still pays what lfmap-node and rculfhash pay
 * per entry: a direct-mapped array of node pointers indexed by the key
 * itself (no hash, no collisions, one CAS or exchange per update), with the
 * same node handling as both adapters: malloc per insert (freed at once if
 * the key is present), urcu-memb read-side sections, and call_rcu + free for
 * every removed node. Its throughput bounds what any map that allocates a
 * node per insert and reclaims it through call_rcu can reach on a workload
 * (docs/PERFORMANCE.md, "The node map"). The array covers keys below
 * max(8 * n_hint, 2^21): every key the harness and its smoke check use. */
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <urcu/urcu-memb.h>
#include "../adapter.h"

struct fnode {
	uint64_t key, val;
	struct rcu_head rcu;
};

struct floor_map {
	uint64_t mask;
	_Atomic(struct fnode *) slot[];
};

static void *f_create(size_t n)
{
	uint64_t want = 8 * (uint64_t)n, p = UINT64_C(1) << 21;
	while (p < want)
		p <<= 1;
	struct floor_map *f = calloc(1, sizeof *f + p * sizeof f->slot[0]);
	if (!f)
		abort();
	f->mask = p - 1;
	return f;
}
static void f_enter(void *m) { (void)m; urcu_memb_register_thread(); }
static void f_exit(void *m) { (void)m; urcu_memb_unregister_thread(); }

static _Atomic(struct fnode *) *f_slot(struct floor_map *f, uint64_t k)
{
	if (k > f->mask)
		abort(); /* outside the array: the yardstick would be wrong */
	return &f->slot[k];
}

static int f_get(void *m, uint64_t k, uint64_t *v)
{
	int r = 0;
	urcu_memb_read_lock();
	/* acquire: the node's contents were written before its publication */
	struct fnode *n = atomic_load_explicit(f_slot(m, k), memory_order_acquire);
	if (n) {
		*v = n->val;
		r = 1;
	}
	urcu_memb_read_unlock();
	return r;
}

static int f_ins(void *m, uint64_t k, uint64_t v)
{
	struct fnode *n = malloc(sizeof *n), *exp = NULL;
	if (!n)
		abort();
	n->key = k;
	n->val = v;
	urcu_memb_read_lock();
	/* release: publishes the node's contents */
	int ok = atomic_compare_exchange_strong_explicit(f_slot(m, k), &exp, n,
							 memory_order_release, memory_order_relaxed);
	urcu_memb_read_unlock();
	if (!ok)
		free(n); /* never published */
	return ok;
}

static void f_free_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct fnode, rcu));
}

static int f_rem(void *m, uint64_t k)
{
	urcu_memb_read_lock();
	/* acquire: we hand the node to call_rcu, which reads nothing of it but
	 * its rcu_head; relaxed would do, acquire keeps it obviously right */
	struct fnode *n = atomic_exchange_explicit(f_slot(m, k), NULL, memory_order_acquire);
	if (n)
		urcu_memb_call_rcu(&n->rcu, f_free_cb);
	urcu_memb_read_unlock();
	return n != NULL;
}

static void f_destroy(void *m)
{
	struct floor_map *f = m;
	urcu_memb_barrier(); /* pending frees */
	for (uint64_t i = 0; i <= f->mask; i++)
		free(atomic_load_explicit(&f->slot[i], memory_order_relaxed));
	free(f);
}

const struct bench_adapter bench_node_floor = {
	"node-floor", f_create, f_enter, f_exit, NULL, f_get, f_ins, f_rem, f_destroy,
};
