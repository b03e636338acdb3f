/*
 * tests/mt/mt_node.c - multithreaded tests of the intrusive node map under
 * forced migrations (modes bg / driven, see harness.h), with a normal seeded
 * hash and with a colliding one (61 distinct hashes: many nodes per hash,
 * long overflow chains).
 *
 *   disjoint_insert  disjoint inserts: all present, counts and stats exact
 *   insert_race      same-key insert_rcu: one winner, losers get its node
 *   remove_race      same-key remove_rcu / lookup+remove_node_rcu: one winner
 *   iterate          foreach_rcu during churn: stable nodes once each
 *   churn            upsert/insert/replace/cmp_replace/remove/remove_node/
 *                    compute with readers; replaced and removed nodes go to
 *                    call_rcu; a node handed out twice is caught by its
 *                    retired flag; compute counters exact; at destroy every
 *                    node still mapped reaches node_free exactly once and
 *                    allocated == freed (LeakSanitizer checks the rest)
 * Variants: /collide (a hash with 61 distinct values), /slowcb (callbacks
 * that sometimes stall, making lagging helpers common), /key8 (no
 * callbacks: the built-in 8-byte key, lfmap_config.key_size).
 *
 *   upsert_only      the smallest workload that must keep one node per key:
 *                    upserts of 64 keys (no remove); afterwards every key is
 *                    mapped once and no node handed back as replaced is
 *                    still mapped
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	struct lfmap_node ln;
	uint64_t key;
	uint64_t val;
	uint64_t check; /* mix(key, val): a freed/reused or torn node fails it */
	atomic_int retired;
	struct rcu_head rh;
};

static inline struct item *item_of(struct lfmap_node *n)
{
	return lfmap_container_of(n, struct item, ln);
}

static uint64_t item_check(uint64_t key, uint64_t val)
{
	return mt_mix64(key * 31 + val) ^ UINT64_C(0xfeedface);
}

/* lifetime accounting, per test */
static _Atomic uint64_t n_alloc, n_free_rcu, n_free_unpub, n_free_destroy;
static atomic_int n_destroy_bad;

static struct item *item_new(uint64_t key, uint64_t val)
{
	struct item *it = malloc(sizeof *it);
	if (!it) {
		MT_FAIL("out of memory");
		return NULL;
	}
	it->ln.hash = 0;
	it->key = key;
	it->val = val;
	it->check = item_check(key, val);
	atomic_init(&it->retired, 0);
	atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
	return it;
}

/* Free a node that was never published (a failed insert/replace). */
static void item_free_unpublished(struct item *it)
{
	atomic_fetch_add_explicit(&n_free_unpub, 1, memory_order_relaxed);
	free(it);
}

static void item_rcu_cb(struct rcu_head *h)
{
	mt_rcu_cb_enter(h);
	struct item *it = lfmap_container_of(h, struct item, rh);
	atomic_fetch_add_explicit(&n_free_rcu, 1, memory_order_relaxed);
	memset(it, 0xdd, sizeof *it); /* poison for release builds */
	free(it);
}

/* Hand a node the map gave back (removed/replaced) to call_rcu. Caller is
 * inside the read lock, so n is still valid. Returned twice = bug. */
static void item_retire(struct lfmap_node *n, const char *what)
{
	struct item *it = item_of(n);
	if (atomic_exchange(&it->retired, 1) != 0) {
		MT_FAIL("%s: node of key %#" PRIx64 " was handed out as removed twice", what,
			it->key);
		return; /* do not double free */
	}
	mt_call_rcu(&it->rh, item_rcu_cb);
}

static void item_validate(struct lfmap_node *n, uint64_t key, const char *what)
{
	struct item *it = item_of(n);
	if (it->key != key || it->check != item_check(it->key, it->val))
		MT_FAIL("%s: node for key %#" PRIx64 " holds key %#" PRIx64 " val %#" PRIx64
			" check %#" PRIx64 " (freed or torn node)",
			what, key, it->key, it->val, it->check);
}

static void node_free_cb(struct lfmap_node *n, void *arg)
{
	(void)arg;
	struct item *it = item_of(n);
	if (atomic_load(&it->retired) != 0 || it->check != item_check(it->key, it->val))
		atomic_fetch_add(&n_destroy_bad, 1);
	atomic_fetch_add(&n_free_destroy, 1);
	free(it);
}

/*
 * Slow-callback mode: hash, match and key_of now and then yield or sleep
 * (up to ~0.25 ms). lfmap calls them in the middle of its operations and of
 * bucket evacuation (key comparisons while copying), so this turns helpers
 * into lagging helpers: a copier stalls while others finish the bucket,
 * forward it and users update the key in the new table.
 */
static atomic_bool slow_cbs;
static _Thread_local uint64_t stall_rng;

static void maybe_stall(void)
{
	if (!atomic_load_explicit(&slow_cbs, memory_order_relaxed))
		return;
	if (stall_rng == 0)
		stall_rng = mt_mix64((uint64_t)(uintptr_t)&stall_rng ^ mt_now_ns()) | 1;
	uint64_t x = stall_rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	stall_rng = x;
	x *= UINT64_C(0x2545F4914F6CDD1D);
	if ((x >> 54) == 0)        /* 1 in 1024 */
		mt_sleep_us(20 + (unsigned)((x >> 8) % 230));
	else if ((x >> 58) == 0)   /* 1 in 64 */
		sched_yield();
}

static uint64_t h_good(const void *key, uint64_t seed, void *arg)
{
	(void)arg;
	maybe_stall();
	return mt_mix64(*(const uint64_t *)key ^ seed);
}

static uint64_t h_collide(const void *key, uint64_t seed, void *arg)
{
	(void)arg;
	maybe_stall();
	return mt_mix64((*(const uint64_t *)key % 61) ^ seed);
}

static int n_match(const struct lfmap_node *n, const void *key, void *arg)
{
	(void)arg;
	maybe_stall();
	return lfmap_container_of(n, struct item, ln)->key == *(const uint64_t *)key;
}

static const void *n_key_of(const struct lfmap_node *n, void *arg)
{
	(void)arg;
	maybe_stall();
	return &lfmap_container_of(n, struct item, ln)->key;
}

struct ntest {
	const struct mt_mode *mode;
	bool collide;
	bool slow;  /* slow-callback mode */
	bool key8;  /* built-in 8-byte key instead of the callbacks */
};

static struct lfmap *make_map(struct lfmap_config *cfg, const struct ntest *nt)
{
	atomic_store(&n_alloc, 0);
	atomic_store(&n_free_rcu, 0);
	atomic_store(&n_free_unpub, 0);
	atomic_store(&n_free_destroy, 0);
	atomic_store(&n_destroy_bad, 0);
	mt_config(cfg, nt->mode);
	atomic_store(&slow_cbs, nt->slow);
	if (nt->key8) {
		cfg->key_size = sizeof(uint64_t);
		cfg->key_offset = LFMAP_KEY_OFFSET(struct item, ln, key);
	} else {
		cfg->hash = nt->collide ? h_collide : h_good;
		cfg->match = n_match;
		cfg->key_of = n_key_of;
	}
	cfg->node_free = node_free_cb;
	struct lfmap *m = lfmap_create(cfg);
	if (!m)
		MT_FAIL("lfmap_create: errno %d", errno);
	return m;
}

/* Quiesce, check that every mapped node is live, destroy, check accounting. */
static int count_live_cb(struct lfmap_node *n, void *arg)
{
	struct item *it = item_of(n);
	if (atomic_load(&it->retired) != 0) {
		MT_FAIL("node of key %#" PRIx64 " is still mapped after being handed out as "
			"removed/replaced",
			it->key);
		return 1;
	}
	if (it->check != item_check(it->key, it->val)) {
		MT_FAIL("mapped node of key %#" PRIx64 " is corrupt", it->key);
		return 1;
	}
	++*(size_t *)arg;
	return 0;
}

/* lfmap_count_exact inside one of our read-side sections: its iteration reads
 * nodes (key comparisons), and our call_rcu callbacks order their frees after
 * our sections only (see mt_read_unlock / mt_rcu_cb_enter in harness.h). */
static int count_exact(struct lfmap *m, size_t *n)
{
	mt_read_lock(m);
	int rc = lfmap_count_exact(m, n);
	mt_read_unlock(m);
	return rc;
}

static void finish_map(struct lfmap *m, const struct lfmap_config *cfg)
{
	mt_quiesce(m); /* includes urcu_memb_barrier: every retired node freed */
	uint64_t alloc = atomic_load(&n_alloc), frcu = atomic_load(&n_free_rcu),
		 funpub = atomic_load(&n_free_unpub);
	uint64_t live = alloc - frcu - funpub;
	size_t visited = 0;
	mt_read_lock(m);
	int rc = lfmap_foreach_rcu(m, count_live_cb, &visited);
	mt_read_unlock(m);
	MT_CHECK_RC(rc, 0, "lfmap_foreach_rcu");
	MT_CHECK(visited == live,
		 "foreach visits %zu nodes, but %" PRIu64 " allocated - %" PRIu64
		 " freed after removal - %" PRIu64 " never published = %" PRIu64,
		 visited, alloc, frcu, funpub, live);
	mt_check_stats(m, cfg, live, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
	uint64_t fd = atomic_load(&n_free_destroy);
	MT_CHECK(fd == live, "destroy passed %" PRIu64 " nodes to node_free, %" PRIu64 " were live",
		 fd, live);
	MT_CHECK(atomic_load(&n_destroy_bad) == 0,
		 "destroy passed %d retired or corrupt nodes to node_free",
		 atomic_load(&n_destroy_bad));
	mt_note("nodes: %" PRIu64 " allocated, %" PRIu64 " freed by call_rcu, %" PRIu64
		" never published, %" PRIu64 " freed by destroy",
		alloc, frcu, funpub, fd);
}

/* ============================================================ 1. disjoint */

static uint64_t dkey(int t, size_t i)
{
	return ((uint64_t)(t + 1) << 40) | (uint64_t)(i + 1);
}

/* the driver is mt_disjoint_run in the harness */
static void disjoint_thread(struct mt_thread *t)
{
	struct mt_disjoint *d = t->arg;
	size_t i;
	for (i = 0; i < d->per_thread && !mt_failed(); i++) {
		if ((i & 255) == 0 && mt_expired(d->deadline))
			break;
		uint64_t k = dkey(t->id, i);
		struct item *it = item_new(k, i);
		if (!it)
			break;
		struct lfmap_node *ex = NULL;
		mt_read_lock(d->map);
		int rc = lfmap_insert_rcu(d->map, &it->ln, &ex);
		if (rc == 0 && (i & 15) == 0) {
			uint64_t k2 = dkey(t->id, (size_t)mt_rng_below(&t->rng, i + 1));
			struct lfmap_node *n = lfmap_lookup_rcu(d->map, &k2);
			if (!n)
				MT_FAIL("own key %#" PRIx64 " not found", k2);
			else
				item_validate(n, k2, "lookup own key");
		}
		mt_read_unlock(d->map);
		if (rc != 0) {
			MT_FAIL("insert key %#" PRIx64 " returned %d", k, rc);
			item_free_unpublished(it);
			break;
		}
	}
	d->done[t->id] = i;
}

static void test_disjoint_insert(const void *arg)
{
	const struct ntest *nt = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, nt);
	if (!m)
		return;
	struct mt_disjoint d;
	size_t total = mt_disjoint_run(&d, m, nt->mode, disjoint_thread,
				       nt->collide ? 1500 : 15000, 3000, count_exact);
	int T = d.nthreads;
	mt_quiesce(m);
	mt_read_lock(m);
	size_t missing = 0;
	for (int t = 0; t < T; t++) {
		for (size_t i = 0; i < d.done[t]; i++) {
			uint64_t k = dkey(t, i);
			struct lfmap_node *nd = lfmap_lookup_rcu(m, &k);
			if (!nd) {
				if (missing++ < 3)
					MT_FAIL("key %#" PRIx64 " missing after quiesce", k);
			} else {
				item_validate(nd, k, "final lookup");
			}
		}
	}
	mt_read_unlock(m);
	MT_CHECK(missing == 0, "%zu of %zu keys missing", missing, total);
	finish_map(m, &cfg);
	MT_CHECK(atomic_load(&n_free_destroy) == total, "destroy freed %" PRIu64 " of %zu",
		 (uint64_t)atomic_load(&n_free_destroy), total);
	mt_disjoint_free(&d);
}

/* ====================================================== 2/3. same-key races */

/* The driver is mt_race_* in the harness; these are the node-map callbacks.
 * r->ctx is the per-key array of winning nodes (_Atomic(struct item *)). */

static uint64_t rkey(uint64_t round, size_t idx)
{
	return (round << 32) | (uint64_t)(idx + 1);
}

static _Atomic(struct item *) *winner_node(struct mt_race *r, size_t idx)
{
	return &((_Atomic(struct item *) *)r->ctx)[idx];
}

static bool race_insert_key(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing)
{
	uint64_t k = rkey(r->round, idx);
	struct item *it = item_new(k, (uint64_t)t->id);
	if (!it)
		return false;
	struct lfmap_node *ex = NULL;
	mt_read_lock(r->map);
	int rc = lfmap_insert_rcu(r->map, &it->ln, &ex);
	if (rc == 0) {
		atomic_store(winner_node(r, idx), it);
	} else if (rc == -EEXIST && racing) {
		if (!ex)
			MT_FAIL("insert -EEXIST without the existing node");
		else
			item_validate(ex, k, "insert -EEXIST existing");
	} else {
		MT_FAIL("insert key %#" PRIx64 " returned %d", k, rc);
	}
	mt_read_unlock(r->map);
	if (rc != 0)
		item_free_unpublished(it);
	return rc == 0;
}

static bool race_remove_key(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing)
{
	bool by_node = t->id & 1; /* odd threads race with remove_node */
	uint64_t k = rkey(r->round, idx);
	struct lfmap_node *rm = NULL;
	int rc;
	mt_read_lock(r->map);
	if (by_node) {
		rm = lfmap_lookup_rcu(r->map, &k);
		rc = rm ? lfmap_remove_node_rcu(r->map, rm) : -ENOENT;
	} else {
		rc = lfmap_remove_rcu(r->map, &k, &rm);
	}
	if (rc == 0) {
		struct item *w = atomic_load(winner_node(r, idx));
		if (!rm || item_of(rm) != w)
			MT_FAIL("remove key %#" PRIx64 " gave node %p, inserted %p", k,
				rm ? (void *)item_of(rm) : NULL, (void *)w);
		else
			item_retire(rm, "remove race");
	} else if (rc != -ENOENT || !racing) {
		MT_FAIL("remove key %#" PRIx64 " returned %d", k, rc);
	}
	mt_read_unlock(r->map);
	return rc == 0;
}

static bool race_check_key(struct mt_race *r, size_t idx, bool after_insert, bool report)
{
	uint64_t k = rkey(r->round, idx);
	bool ok;
	mt_read_lock(r->map);
	struct lfmap_node *n = lfmap_lookup_rcu(r->map, &k);
	if (after_insert) {
		struct item *want = atomic_load(winner_node(r, idx));
		ok = n && item_of(n) == want;
		if (!ok && report)
			MT_FAIL("key %#" PRIx64 ": lookup %p, winner inserted %p", k,
				n ? (void *)item_of(n) : NULL, (void *)want);
	} else {
		ok = !n;
		if (!ok && report)
			MT_FAIL("key %#" PRIx64 " still mapped after its remove", k);
	}
	mt_read_unlock(r->map);
	return ok;
}

static const struct mt_race_ops race_ops = {
	.insert = race_insert_key,
	.remove = race_remove_key,
	.check_key = race_check_key,
	.count_exact = count_exact,
	.insert_name = "insert",
	.remove_name = "remove",
};

static void run_race(const struct ntest *nt, bool race_insert)
{
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, nt);
	if (!m)
		return;
	struct mt_race r;
	mt_race_init(&r, m, &race_ops, NULL, race_insert, nt->collide ? 512 : 2048, 128, 1200);
	r.ctx = calloc(r.nkeys, sizeof(_Atomic(struct item *)));
	if (!r.ctx) {
		MT_FAIL("out of memory");
	} else {
		mt_race_run(&r, nt->mode);
	}
	finish_map(m, &cfg);
	free(r.ctx);
	mt_race_free(&r);
}

static void test_insert_race(const void *arg)
{
	run_race(arg, true);
}

static void test_remove_race(const void *arg)
{
	run_race(arg, false);
}

/* ============================================================ 4. iterate */

/* The driver is mt_iter_* in the harness (keys MT_STABLE_TAG | i and
 * MT_CHURN_TAG | i); these are the node-map callbacks. */

static int visit_cb(struct lfmap_node *n, void *arg)
{
	struct mt_visit *v = arg;
	struct item *it = item_of(n);
	uint64_t key = it->key;
	if (it->check != item_check(key, it->val)) {
		MT_FAIL("iterator %d visited a corrupt node (key %#" PRIx64 ")", v->tid, key);
		return 1;
	}
	return mt_visit_tagged(v, key);
}

static int iter_iterate(struct lfmap *map, struct mt_visit *v, size_t n)
{
	(void)n;
	mt_read_lock(map);
	int rc = lfmap_foreach_rcu(map, visit_cb, v);
	mt_read_unlock(map);
	return rc;
}

static void churn_op(struct mt_thread *t, struct lfmap *m, uint64_t k)
{
	struct item *it = item_new(k, mt_rng_next(&t->rng));
	if (!it)
		return;
	struct lfmap_node *old = NULL;
	bool used = false;
	int rc;
	mt_read_lock(m);
	switch (mt_rng_below(&t->rng, 3)) {
	case 0:
		rc = lfmap_insert_rcu(m, &it->ln, &old);
		if (rc == 0)
			used = true;
		else if (rc != -EEXIST)
			MT_FAIL("churn insert returned %d", rc);
		break;
	case 1:
		rc = lfmap_upsert_rcu(m, &it->ln, &old);
		if (rc == 0 || rc == 1) {
			used = true;
			if (rc == 1) {
				item_validate(old, k, "upsert old");
				item_retire(old, "upsert");
			} else if (old) {
				MT_FAIL("upsert inserted but set *old");
			}
		} else {
			MT_FAIL("churn upsert returned %d", rc);
		}
		break;
	default:
		rc = lfmap_remove_rcu(m, &k, &old);
		if (rc == 0) {
			item_validate(old, k, "remove");
			item_retire(old, "remove");
		} else if (rc != -ENOENT) {
			MT_FAIL("churn remove returned %d", rc);
		}
		break;
	}
	mt_read_unlock(m);
	if (!used)
		item_free_unpublished(it);
}

static void iter_churn(struct mt_thread *t, struct mt_iter *it, size_t idx)
{
	churn_op(t, it->map, MT_CHURN_TAG | idx);
}

static const struct mt_iter_ops iter_ops = {
	.iterate = iter_iterate,
	.churn = iter_churn,
};

static void test_iterate(const void *arg)
{
	const struct ntest *nt = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, nt);
	if (!m)
		return;
	struct mt_iter it;
	mt_iter_init(&it, m, &iter_ops, NULL, nt->collide ? 600 : 3000, 100,
		     nt->collide ? 512 : 4096, 3000);
	mt_read_lock(m);
	for (size_t i = 0; i < it.nstable; i++) {
		struct item *x = item_new(MT_STABLE_TAG | i, i);
		if (x && lfmap_insert_rcu(m, &x->ln, NULL) != 0) {
			MT_FAIL("stable insert failed");
			item_free_unpublished(x);
		}
	}
	mt_read_unlock(m);
	mt_iter_run(&it, nt->mode, 1200);
	finish_map(m, &cfg);
}

/* ============================================================= 7. churn */

#define NCNT 4

struct churn {
	struct lfmap *map;
	size_t nkeys;
	int nwriters;
	size_t ops;
	uint64_t deadline;
	atomic_int writers_left;
	_Atomic uint64_t incs[NCNT];
	_Atomic uint64_t *seen[NCNT];
	size_t maxtotal;
	_Atomic uint64_t reads;
};

static uint64_t ckey(size_t idx)
{
	return UINT64_C(0x3000000000000000) | idx;
}

static uint64_t cntkey(int k)
{
	return UINT64_C(0x5000000000000000) | (uint64_t)k;
}

struct cfn_arg {
	struct item *fresh;
	struct lfmap_node *last_cur;
	int verdict_if_present; /* SET, REMOVE or KEEP */
	int calls;
};

/* counter: install fresh with cur->val + 1 */
static int inc_fn(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	struct cfn_arg *a = arg;
	a->calls++;
	a->last_cur = cur;
	uint64_t v = cur ? item_of(cur)->val + 1 : 1;
	a->fresh->val = v;
	a->fresh->check = item_check(a->fresh->key, v);
	*newnode = &a->fresh->ln;
	return LFMAP_COMPUTE_SET;
}

/* churn compute: a fixed verdict per call */
static int churn_fn(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	struct cfn_arg *a = arg;
	a->calls++;
	a->last_cur = cur;
	if (cur) {
		item_validate(cur, a->fresh->key, "compute cur");
		if (a->verdict_if_present == LFMAP_COMPUTE_SET)
			*newnode = &a->fresh->ln;
		return a->verdict_if_present;
	}
	*newnode = &a->fresh->ln;
	return LFMAP_COMPUTE_SET;
}

static void churn_counter(struct mt_thread *t, struct churn *c)
{
	int k = (int)mt_rng_below(&t->rng, NCNT);
	uint64_t key = cntkey(k);
	struct item *fresh = item_new(key, 0);
	if (!fresh)
		return;
	struct cfn_arg a = { .fresh = fresh };
	struct lfmap_node *old = (struct lfmap_node *)(uintptr_t)1;
	mt_read_lock(c->map);
	int rc = lfmap_compute_rcu(c->map, &key, inc_fn, &a, &old);
	if (rc != LFMAP_COMPUTE_SET) {
		MT_FAIL("counter compute returned %d", rc);
		mt_read_unlock(c->map);
		item_free_unpublished(fresh);
		return;
	}
	if (old != a.last_cur)
		MT_FAIL("compute *old %p is not the cur %p of the effective fn call", (void *)old,
			(void *)a.last_cur);
	uint64_t prev = fresh->val - 1;
	if (old)
		item_retire(old, "counter compute");
	mt_read_unlock(c->map);
	if (prev >= c->maxtotal) {
		MT_FAIL("counter %d: value %" PRIu64 " beyond any possible total", k, prev + 1);
		return;
	}
	uint64_t bit = UINT64_C(1) << (prev & 63);
	if (atomic_fetch_or(&c->seen[k][prev >> 6], bit) & bit)
		MT_FAIL("counter %d: increment from %" PRIu64 " installed twice (lost update)", k,
			prev);
	atomic_fetch_add(&c->incs[k], 1);
}

static void churn_write(struct mt_thread *t, struct churn *c)
{
	size_t idx = (size_t)mt_rng_below(&t->rng, c->nkeys);
	uint64_t k = ckey(idx);
	struct item *it = item_new(k, mt_rng_next(&t->rng) >> 1);
	if (!it)
		return;
	bool used = false;
	struct lfmap_node *old = NULL;
	int rc;
	mt_read_lock(c->map);
	switch (mt_rng_below(&t->rng, 8)) {
	case 0:
		rc = lfmap_insert_rcu(c->map, &it->ln, &old);
		if (rc == 0)
			used = true;
		else if (rc == -EEXIST)
			item_validate(old, k, "insert existing");
		else
			MT_FAIL("insert returned %d", rc);
		break;
	case 1:
		rc = lfmap_upsert_rcu(c->map, &it->ln, &old);
		if (rc == 1) {
			item_validate(old, k, "upsert old");
			item_retire(old, "upsert");
		}
		if (rc == 0 || rc == 1)
			used = true;
		else
			MT_FAIL("upsert returned %d", rc);
		break;
	case 2:
		rc = lfmap_replace_rcu(c->map, &it->ln, &old);
		if (rc == 0) {
			used = true;
			item_validate(old, k, "replace old");
			item_retire(old, "replace");
		} else if (rc != -ENOENT) {
			MT_FAIL("replace returned %d", rc);
		}
		break;
	case 3: {
		struct lfmap_node *exp = lfmap_lookup_rcu(c->map, &k);
		if (!exp)
			break;
		item_validate(exp, k, "lookup for cmp_replace");
		rc = lfmap_cmp_replace_rcu(c->map, exp, &it->ln);
		if (rc == 0) {
			used = true;
			item_retire(exp, "cmp_replace");
		} else if (rc != -ECANCELED && rc != -ENOENT) {
			MT_FAIL("cmp_replace returned %d", rc);
		}
		break;
	}
	case 4:
		rc = lfmap_remove_rcu(c->map, &k, &old);
		if (rc == 0) {
			item_validate(old, k, "remove");
			item_retire(old, "remove");
		} else if (rc != -ENOENT) {
			MT_FAIL("remove returned %d", rc);
		}
		break;
	case 5: {
		struct lfmap_node *n = lfmap_lookup_rcu(c->map, &k);
		if (!n)
			break;
		rc = lfmap_remove_node_rcu(c->map, n);
		if (rc == 0)
			item_retire(n, "remove_node");
		else if (rc != -ENOENT)
			MT_FAIL("remove_node returned %d", rc);
		break;
	}
	default: {
		static const int verdicts[3] = { LFMAP_COMPUTE_SET, LFMAP_COMPUTE_REMOVE,
						 LFMAP_COMPUTE_KEEP };
		struct cfn_arg a = { .fresh = it,
				     .verdict_if_present = verdicts[mt_rng_below(&t->rng, 3)] };
		old = (struct lfmap_node *)(uintptr_t)1;
		rc = lfmap_compute_rcu(c->map, &k, churn_fn, &a, &old);
		if (rc < 0) {
			MT_FAIL("compute returned %d", rc);
			break;
		}
		if (rc == LFMAP_COMPUTE_SET || rc == LFMAP_COMPUTE_REMOVE) {
			if (old != a.last_cur)
				MT_FAIL("compute verdict %d: *old %p, fn's last cur %p", rc,
					(void *)old, (void *)a.last_cur);
			if (rc == LFMAP_COMPUTE_SET)
				used = true;
			if (old && old != (struct lfmap_node *)(uintptr_t)1)
				item_retire(old, "compute");
		}
		break;
	}
	}
	mt_read_unlock(c->map);
	if (!used)
		item_free_unpublished(it);
}

static void churn_thread(struct mt_thread *t)
{
	struct churn *c = t->arg;
	if (t->id < c->nwriters) {
		for (size_t i = 0; i < c->ops && !mt_failed(); i++) {
			if ((i & 63) == 0 && mt_expired(c->deadline))
				break;
			if (mt_rng_below(&t->rng, 4) == 0)
				churn_counter(t, c);
			else
				churn_write(t, c);
		}
		atomic_fetch_sub(&c->writers_left, 1);
	} else {
		uint64_t n = 0;
		while (atomic_load_explicit(&c->writers_left, memory_order_relaxed) > 0 &&
		       !mt_failed()) {
			mt_read_lock(c->map);
			for (int j = 0; j < 64; j++, n++) {
				uint64_t k = ckey((size_t)mt_rng_below(&t->rng, c->nkeys));
				struct lfmap_node *nd = lfmap_lookup_rcu(c->map, &k);
				if (nd)
					item_validate(nd, k, "reader lookup");
			}
			for (int k = 0; k < NCNT; k++) {
				uint64_t key = cntkey(k);
				struct lfmap_node *nd = lfmap_lookup_rcu(c->map, &key);
				if (nd)
					item_validate(nd, key, "reader counter lookup");
			}
			mt_read_unlock(c->map);
		}
		atomic_fetch_add(&c->reads, n);
	}
}

static void test_churn(const void *arg)
{
	const struct ntest *nt = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, nt);
	if (!m)
		return;
	int T = mt_threads(16);
	struct churn c = { .map = m };
	c.nkeys = nt->collide ? 400 : 2000;
	c.nwriters = T * 3 / 4;
	c.ops = mt_iters(300000);
	c.maxtotal = c.ops * (size_t)c.nwriters + 1;
	for (int k = 0; k < NCNT; k++) {
		c.seen[k] = calloc(c.maxtotal / 64 + 1, sizeof(uint64_t));
		atomic_init(&c.incs[k], 0);
	}
	atomic_init(&c.writers_left, c.nwriters);
	c.deadline = mt_deadline_ms(1200);
	mt_run_resized(m, nt->mode, T, churn_thread, &c);
	mt_note("%" PRIu64 " reads", (uint64_t)atomic_load(&c.reads));

	mt_read_lock(m);
	for (int k = 0; k < NCNT; k++) {
		uint64_t key = cntkey(k), want = atomic_load(&c.incs[k]);
		struct lfmap_node *nd = lfmap_lookup_rcu(m, &key);
		uint64_t got = nd ? item_of(nd)->val : 0;
		MT_CHECK(got == want, "counter %d is %" PRIu64 " after %" PRIu64 " increments", k,
			 got, want);
	}
	/* At most one LIVE slot per key (I2): foreach and count_exact
	 * de-duplicate, so count LIVE slots in the table instead and compare
	 * with the keys that lookups find. A key LIVE in two slots (two
	 * inserters that both won, e.g. one reviving a tombstone) shows up as
	 * more LIVE slots than keys. */
	size_t found = 0;
	for (size_t i = 0; i < c.nkeys; i++) {
		uint64_t key = ckey(i);
		found += lfmap_lookup_rcu(m, &key) != NULL;
	}
	for (int k = 0; k < NCNT; k++) {
		uint64_t key = cntkey(k);
		found += lfmap_lookup_rcu(m, &key) != NULL;
	}
	mt_read_unlock(m);
	mt_quiesce(m);
	struct lfmap_stats st;
	MT_CHECK(lfmap_stats(m, &st) == 0 && st.migrating == 0, "stats after quiesce");
	MT_CHECK(st.claimed_slots - st.tombstones == found,
		 "%" PRIu64 " LIVE slots for %zu keys found (a key mapped twice)",
		 st.claimed_slots - st.tombstones, found);
	finish_map(m, &cfg);
	for (int k = 0; k < NCNT; k++)
		free((void *)c.seen[k]);
}

/* ======================================================= 7b. upsert only */

#define UK 64

struct upsert_only {
	struct lfmap *map;
	size_t ops;
	uint64_t deadline;
	int seen[UK];
};

static void upsert_thread(struct mt_thread *t)
{
	struct upsert_only *u = t->arg;
	for (size_t i = 0; i < u->ops && !mt_failed(); i++) {
		if ((i & 255) == 0 && mt_expired(u->deadline))
			break;
		uint64_t k = mt_rng_below(&t->rng, UK);
		struct item *it = item_new(k, i);
		if (!it)
			return;
		struct lfmap_node *old = NULL;
		mt_read_lock(u->map);
		int rc = lfmap_upsert_rcu(u->map, &it->ln, &old);
		if (rc == 1) {
			item_validate(old, k, "upsert old");
			item_retire(old, "upsert");
		} else if (rc != 0) {
			MT_FAIL("upsert returned %d", rc);
		}
		mt_read_unlock(u->map);
	}
}

static int upsert_visit(struct lfmap_node *n, void *arg)
{
	struct upsert_only *u = arg;
	struct item *it = item_of(n);
	if (it->key >= UK || it->check != item_check(it->key, it->val)) {
		MT_FAIL("visited a corrupt node (key %#" PRIx64 ")", it->key);
		return 1;
	}
	if (++u->seen[it->key] == 2)
		MT_FAIL("key %" PRIu64 " mapped twice (a replaced node came back)", it->key);
	return 0;
}

static void test_upsert_only(const void *arg)
{
	const struct ntest *nt = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, nt);
	if (!m)
		return;
	static struct upsert_only u;
	memset(&u, 0, sizeof u);
	u.map = m;
	u.ops = mt_iters(400000);
	u.deadline = mt_deadline_ms(1200);
	mt_run_resized(m, nt->mode, mt_threads(8), upsert_thread, &u);
	mt_quiesce(m);
	mt_read_lock(m);
	MT_CHECK_RC(lfmap_foreach_rcu(m, upsert_visit, &u), 0, "lfmap_foreach_rcu");
	mt_read_unlock(m);
	size_t n = 0;
	MT_CHECK_RC(count_exact(m, &n), 0, "lfmap_count_exact");
	MT_CHECK(n <= UK, "count_exact %zu for %d keys", n, UK);
	finish_map(m, &cfg);
}

/* ============================================================= main */

#define REG_COLLIDE 1
#define REG_SLOW 2
#define REG_KEY8 4

static const struct ntest nts[] = {
	{ &mt_mode_bg, false, false, false },    { &mt_mode_driven, false, false, false },
	{ &mt_mode_bg, true, false, false },     { &mt_mode_driven, true, false, false },
	{ &mt_mode_bg, false, true, false },     { &mt_mode_driven, false, true, false },
	{ &mt_mode_bg, false, false, true },     { &mt_mode_driven, false, false, true },
};

static void reg(const char *name, mt_test_fn fn, int variants)
{
	char buf[96];
	for (size_t i = 0; i < sizeof nts / sizeof nts[0]; i++) {
		const struct ntest *nt = &nts[i];
		if ((nt->collide && !(variants & REG_COLLIDE)) ||
		    (nt->slow && !(variants & REG_SLOW)) || (nt->key8 && !(variants & REG_KEY8)))
			continue;
		snprintf(buf, sizeof buf, "node/%s%s%s%s/%s", name, nt->collide ? "/collide" : "",
			 nt->slow ? "/slowcb" : "", nt->key8 ? "/key8" : "", nt->mode->name);
		mt_register(buf, fn, nt);
	}
}

int main(int argc, char **argv)
{
	reg("disjoint_insert", test_disjoint_insert, 0);
	reg("insert_race", test_insert_race, REG_COLLIDE | REG_KEY8);
	reg("remove_race", test_remove_race, REG_KEY8);
	reg("iterate", test_iterate, REG_COLLIDE | REG_KEY8);
	reg("churn", test_churn, REG_COLLIDE | REG_SLOW | REG_KEY8);
	reg("upsert_only", test_upsert_only, REG_SLOW);
	return mt_main(argc, argv);
}
