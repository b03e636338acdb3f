/* bench/adapters/rculfhash.c - liburcu's rculfhash, compiled twice: urcu-memb
 * (default) and urcu-qsbr (-DBENCH_QSBR). Nodes are malloc'd and freed with
 * call_rcu; the table is created with CDS_LFHT_AUTO_RESIZE|CDS_LFHT_ACCOUNTING.
 * The QSBR variant announces a quiescent state every BENCH_QUIESCE_EVERY ops
 * (the harness calls quiesce), like an event loop. */
#define _GNU_SOURCE
#define _LGPL_SOURCE
#define URCU_API_MAP
#include <stdlib.h>
#include <stddef.h>
#ifdef BENCH_QSBR
#include <urcu/urcu-qsbr.h>
#define ADAPTER bench_rculfhash_qsbr
#define NAME "rculfhash-qsbr"
#else
#include <urcu/urcu-memb.h>
#define ADAPTER bench_rculfhash_memb
#define NAME "rculfhash-memb"
#endif
#include <urcu/rculfhash.h>
#include "../adapter.h"

struct item {
	uint64_t key, val;
	struct cds_lfht_node node;
	struct rcu_head rcu;
};

static int match(struct cds_lfht_node *n, const void *key)
{
	return caa_container_of(n, struct item, node)->key == *(const uint64_t *)key;
}

static void *create(size_t n)
{
	unsigned long sz = 1;
	while (sz < n)
		sz <<= 1;
	return cds_lfht_new(sz, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
}
static void enter(void *m) { (void)m; rcu_register_thread(); }
static void leave(void *m)
{
	(void)m;
#ifdef BENCH_QSBR
	rcu_thread_offline();
#endif
	rcu_unregister_thread();
}
#ifdef BENCH_QSBR
static void quiesce(void *m) { (void)m; rcu_quiescent_state(); }
#define QUIESCE quiesce
#else
#define QUIESCE NULL
#endif

static int get(void *m, uint64_t k, uint64_t *v)
{
	struct cds_lfht_iter it;
	int r = 0;
	rcu_read_lock();
	cds_lfht_lookup(m, bench_hash(k), match, &k, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	if (n) {
		*v = caa_container_of(n, struct item, node)->val;
		r = 1;
	}
	rcu_read_unlock();
	return r;
}
static int insert(void *m, uint64_t k, uint64_t v)
{
	struct item *it = malloc(sizeof(*it));
	if (!it)
		abort();
	it->key = k;
	it->val = v;
	unsigned long h = bench_hash(k);
	cds_lfht_node_init(&it->node);
	rcu_read_lock();
	struct cds_lfht_node *r = cds_lfht_add_unique(m, h, match, &k, &it->node);
	rcu_read_unlock();
	if (r == &it->node)
		return 1;
	free(it);
	return 0;
}
static void free_item(struct rcu_head *h) { free(caa_container_of(h, struct item, rcu)); }
static int remove_(void *m, uint64_t k)
{
	struct cds_lfht_iter it;
	int r = 0;
	rcu_read_lock();
	cds_lfht_lookup(m, bench_hash(k), match, &k, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	if (n && cds_lfht_del(m, n) == 0) {
		call_rcu(&caa_container_of(n, struct item, node)->rcu, free_item);
		r = 1;
	}
	rcu_read_unlock();
	return r;
}
static void destroy(void *m)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	rcu_read_lock();
	cds_lfht_for_each(m, &it, n) {
		if (cds_lfht_del(m, n) == 0)
			call_rcu(&caa_container_of(n, struct item, node)->rcu, free_item);
	}
	rcu_read_unlock();
#ifdef BENCH_QSBR
	rcu_thread_offline(); /* destroy waits for the resize worker */
#endif
	if (cds_lfht_destroy(m, NULL) != 0)
		abort();
#ifdef BENCH_QSBR
	rcu_thread_online();
#endif
	rcu_barrier();
}

const struct bench_adapter ADAPTER = {
	NAME, create, enter, leave, QUIESCE, get, insert, remove_, destroy,
};
