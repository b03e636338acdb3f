/*
 * tests/test_badinput.c - bad input (issue 6, item 2).
 *
 * NULL maps, keys, nodes and output pointers of every function are covered
 * by test_word.c, test_node.c, test_str.c and test_common.c; this file covers
 * the rest of the list: a node already in a map inserted again (into the
 * same map or another one), zero and absurd size hints and thresholds,
 * string keys of length 0 and 1 MiB, a constant hash, a match function that
 * always says no, compute callbacks that return nonsense, and a hash that
 * returns 0. Each case asserts the documented result, or, where the headers
 * say nothing (listed in docs/RELIABILITY.md), the behaviour lfmap has now and
 * that nothing crashes, hangs, leaks or corrupts the map.
 */
#include <time.h>

#include "testutil.h"

TestSuite(badinput, .init = tu_rcu_init, .fini = tu_rcu_fini, .timeout = 60);

static struct tu_node_cb g_cb;

static struct lfmap *node_map(int mode, struct tu_alloc *al)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, mode);
	cfg.node_free = tu_node_free_cb;
	if (al)
		cfg.allocator = tu_alloc_hooks(al);
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m, "create: errno %d", errno);
	return m;
}

static size_t count_exact(struct lfmap *m)
{
	size_t n = SIZE_MAX;
	int rc = lfmap_count_exact(m, &n);
	cr_assert_eq(rc, 0, "count_exact = %d", rc);
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------- node reinsertion */

static struct lfmap_node *g_same;
static int compute_same(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	(void)cur;
	(void)arg;
	*newnode = g_same;
	return LFMAP_COMPUTE_SET;
}

/*
 * node.h: "A node may be in at most one map at a time, and must not be
 * reinserted before it was removed." Inserting the mapped node again is
 * harmless with insert (-EEXIST, existing = the node). upsert, replace and
 * cmp_replace of the node that is already mapped return -EEXIST and hand no
 * "old" node back (the caller would free a live node); compute SET of the
 * mapped node is KEEP (node.h). The map stays consistent: one entry.
 */
Test(badinput, node_inserted_twice_same_map)
{
	struct lfmap *m = node_map(TU_HASH_GOOD, NULL);
	struct tu_node *a = tu_node_new(5, 50);
	struct lfmap_node *out = NULL;
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_insert_rcu(m, &a->node, &out), 0);
	out = NULL;
	cr_assert_eq(lfmap_insert_rcu(m, &a->node, &out), -EEXIST);
	cr_assert_eq(out, &a->node);
	out = NULL;
	int rc = lfmap_upsert_rcu(m, &a->node, &out);
	cr_assert_eq(rc, -EEXIST, "upsert of the mapped node itself = %d", rc);
	cr_assert_null(out, "upsert handed back the live node as old");
	rc = lfmap_replace_rcu(m, &a->node, &out);
	cr_assert_eq(rc, -EEXIST, "replace by itself = %d", rc);
	cr_assert_null(out, "replace handed back the live node as old");
	rc = lfmap_cmp_replace_rcu(m, &a->node, &a->node);
	cr_assert_eq(rc, -EEXIST, "cmp_replace by itself = %d", rc);
	uint64_t key = 5;
	g_same = &a->node;
	rc = lfmap_compute_rcu(m, &key, compute_same, NULL, &out);
	cr_assert_eq(rc, LFMAP_COMPUTE_KEEP, "compute SET of the mapped node = %d", rc);
	cr_assert_eq(lfmap_lookup_rcu(m, &key), &a->node);
	lfmap_read_unlock(m);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_count_approx(m), 1);
	/* a migration still sees exactly one entry */
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_COMPACT), 0);
	tu_finish_migration(m);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_destroy(m), 0);
	cr_assert_eq(a->freed_by_map, 1, "node_free called %d times", a->freed_by_map);
	tu_node_delete(a);
}

/*
 * The same node inserted into a second map while it is in the first one is a
 * precondition violation that lfmap cannot detect cheaply: it is accepted,
 * and the node's hash field is overwritten with the second map's hash (a
 * different seed). This test pins that it is accepted (so the documentation
 * can warn about it); nothing may crash, and both maps can still be
 * destroyed, each calling node_free (so the node is freed twice by a real
 * program: the reason it is forbidden).
 */
Test(badinput, node_in_two_maps_is_undetected)
{
	struct lfmap *m1 = node_map(TU_HASH_GOOD, NULL);
	struct lfmap *m2 = node_map(TU_HASH_GOOD, NULL);
	struct tu_node *a = tu_node_new(9, 90);
	lfmap_read_lock(m1);
	cr_assert_eq(lfmap_insert_rcu(m1, &a->node, NULL), 0);
	lfmap_read_unlock(m1);
	lfmap_read_lock(m2);
	int rc = lfmap_insert_rcu(m2, &a->node, NULL);
	lfmap_read_unlock(m2);
	cr_assert_eq(rc, 0, "insert into a second map = %d", rc);
	uint64_t key = 9;
	lfmap_read_lock(m1);
	struct lfmap_node *n1 = lfmap_lookup_rcu(m1, &key);
	lfmap_read_unlock(m1);
	/* seen: map 1 still finds it (lookups compare keys with match) */
	cr_log_info("after insertion into a second map, map 1 %s the node", n1 ? "finds" : "loses");
	lfmap_read_lock(m2);
	cr_assert_eq(lfmap_lookup_rcu(m2, &key), &a->node);
	cr_assert_eq(lfmap_remove_node_rcu(m2, &a->node), 0);
	lfmap_read_unlock(m2);
	cr_assert_eq(lfmap_destroy(m2), 0);
	cr_assert_eq(lfmap_destroy(m1), 0); /* node_free of m1 still gets it */
	cr_assert_eq(a->freed_by_map, 1);
	(void)n1;
	tu_node_delete(a);
}

/* ------------------------------------------------ sizes and thresholds */

static void *capped_alloc(void *ctx, size_t size, size_t align)
{
	size_t *largest = ctx;
	if (size > *largest)
		*largest = size;
	if (size > ((size_t)1 << 30))
		return NULL;
	void *p = NULL;
	if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
		return NULL;
	return p;
}

static void capped_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)size;
	free(p);
}

Test(badinput, size_hints)
{
	typedef struct lfmap *(*create_fn)(const struct lfmap_config *);
	const create_fn fns[] = { lfmap_word_create, lfmap_str_create, lfmap_create };
	for (int kind = 0; kind < 3; kind++) {
		struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_GOOD);
		cfg.node_free = tu_node_free_cb;
		/* 0: the smallest table */
		cfg.size_hint = 0;
		struct lfmap *m = fns[kind](&cfg);
		cr_assert_not_null(m);
		struct lfmap_stats st = tu_stats(m);
		cr_assert_leq(st.buckets, 2, "size_hint 0: %" PRIu64 " buckets", st.buckets);
		cr_assert_eq(lfmap_destroy(m), 0);
		/* absurd but representable: the first table cannot be allocated */
		size_t largest = 0;
		cfg.allocator.alloc = capped_alloc;
		cfg.allocator.free = capped_free;
		cfg.allocator.ctx = &largest;
		static const size_t absurd[] = { (size_t)1 << 40, SIZE_MAX >> 8 };
		for (unsigned i = 0; i < TU_ARRAY_SIZE(absurd); i++) {
			cfg.size_hint = absurd[i];
			errno = 0;
			m = fns[kind](&cfg);
			cr_assert_null(m, "size_hint %zu created a map", absurd[i]);
			cr_assert_eq(errno, ENOMEM, "size_hint %zu: errno %d", absurd[i], errno);
			cr_assert_gt(largest, (size_t)1 << 30, "the table request was truncated");
		}
		/* beyond SIZE_MAX >> 8: rejected as invalid (undocumented) */
		static const size_t invalid[] = { (SIZE_MAX >> 8) + 1, SIZE_MAX };
		for (unsigned i = 0; i < TU_ARRAY_SIZE(invalid); i++) {
			cfg.size_hint = invalid[i];
			errno = 0;
			m = fns[kind](&cfg);
			cr_assert_null(m);
			cr_assert_eq(errno, EINVAL, "size_hint %zu: errno %d", invalid[i], errno);
		}
	}
}

Test(badinput, thresholds_and_config)
{
	struct {
		unsigned grow, shrink, max_work;
		bool valid;
	} cases[] = {
		{ 75, 10, 2, true },     { 100, 1, 1, true },      { 3, 1, 1, true },
		{ 100, 49, 1, true },    { 75, 10, UINT32_MAX, true }, { 0, 0, 1, false },
		{ 0, 10, 1, false },     { 75, 0, 1, false },      { 101, 10, 1, false },
		{ UINT32_MAX, 10, 1, false }, { 50, 25, 1, false }, { 2, 1, 1, false },
		{ 1, 1, 1, false },      { 75, 10, 0, false },     { 100, UINT32_MAX, 1, false },
	};
	for (unsigned i = 0; i < TU_ARRAY_SIZE(cases); i++) {
		struct lfmap_config cfg = tu_config();
		cfg.grow_pct = cases[i].grow;
		cfg.shrink_pct = cases[i].shrink;
		cfg.max_work = cases[i].max_work;
		errno = 0;
		struct lfmap *m = lfmap_word_create(&cfg);
		if (!cases[i].valid) {
			cr_assert_null(m, "case %u (grow %u shrink %u work %u) accepted", i,
				       cases[i].grow, cases[i].shrink, cases[i].max_work);
			cr_assert_eq(errno, EINVAL);
			continue;
		}
		cr_assert_not_null(m, "case %u rejected: errno %d", i, errno);
		/* the extreme but valid ones work through growth and shrinkage */
		for (uint64_t k = 0; k < 3000; k++)
			cr_assert_eq(lfmap_word_put(m, k, k, NULL), 0);
		for (uint64_t k = 0; k < 3000; k += 2)
			cr_assert_eq(lfmap_word_remove(m, k, NULL), 0);
		cr_assert_eq(lfmap_migrate_step(m, 0), 0);
		cr_assert_eq(count_exact(m), 1500, "case %u", i);
		cr_assert_eq(lfmap_destroy(m), 0);
	}
	/* struct_size, allocator halves, node callbacks */
	struct lfmap_config cfg = tu_config();
	cfg.struct_size = 0;
	errno = 0;
	cr_assert_null(lfmap_word_create(&cfg));
	cr_assert_eq(errno, EINVAL);
	cfg = tu_config();
	cfg.struct_size = sizeof(cfg) + 8;
	errno = 0;
	cr_assert_null(lfmap_str_create(&cfg));
	cr_assert_eq(errno, EINVAL);
	cfg = tu_config();
	cfg.allocator.alloc = capped_alloc;
	errno = 0;
	cr_assert_null(lfmap_word_create(&cfg));
	cr_assert_eq(errno, EINVAL);
	cfg = tu_config();
	errno = 0;
	cr_assert_null(lfmap_create(&cfg), "node map without callbacks");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(lfmap_create(NULL));
	cr_assert_eq(errno, EINVAL);
	/* resize kinds outside the enum */
	struct lfmap *m = lfmap_word_create(NULL);
	cr_assert_eq(lfmap_resize(m, (enum lfmap_resize)0), -EINVAL);
	cr_assert_eq(lfmap_resize(m, (enum lfmap_resize)5), -EINVAL);
	cr_assert_eq(lfmap_resize(m, (enum lfmap_resize)-1), -EINVAL);
	cr_assert_eq(lfmap_migrate_step(m, SIZE_MAX), 0);
	cr_assert_eq(lfmap_destroy(m), 0);
}

/* ------------------------------------------------------- string keys */

Test(badinput, str_keys_empty_and_1mib)
{
	struct tu_alloc al;
	struct lfmap_config cfg = tu_alloc_config(&al);
	struct lfmap *m = lfmap_str_create(&cfg);
	cr_assert_not_null(m);
	tu_alloc_assert_used(&al);
	const size_t big = (size_t)1 << 20;
	char *k1 = malloc(big), *k2 = malloc(big), *v = malloc(big);
	cr_assert(k1 && k2 && v);
	for (size_t i = 0; i < big; i++) {
		k1[i] = (char)(i * 131 + 7);
		v[i] = (char)(i ^ 0x5a);
	}
	memcpy(k2, k1, big);
	k2[big - 1] ^= 1; /* differs in the last byte only */
	/* the empty key, with and without a pointer */
	cr_assert_eq(lfmap_str_set(m, NULL, 0, "e", 1), 0);
	cr_assert_eq(lfmap_str_set(m, "", 0, "E", 1), 1);
	cr_assert_eq(lfmap_str_get(m, "xyz", 0, NULL, 0, NULL), -ENOSPC);
	cr_assert_eq(lfmap_str_set(m, NULL, 5, "x", 1), -EINVAL, "NULL key with length 5");
	/* 1 MiB keys and a 1 MiB value */
	cr_assert_eq(lfmap_str_add(m, k1, big, v, big), 0);
	cr_assert_eq(lfmap_str_add(m, k2, big, "two", 3), 0);
	cr_assert_eq(lfmap_str_add(m, k1, big, "x", 1), -EEXIST);
	cr_assert_eq(lfmap_str_get(m, k1, big - 1, NULL, 0, NULL), -ENOENT, "prefix key found");
	char *buf = malloc(big);
	size_t vlen = 0;
	cr_assert_eq(lfmap_str_get(m, k1, big, buf, big, &vlen), 0);
	cr_assert_eq(vlen, big);
	cr_assert_eq(memcmp(buf, v, big), 0);
	char small[8];
	cr_assert_eq(lfmap_str_get(m, k2, big, small, sizeof(small), &vlen), 0);
	cr_assert_eq(vlen, 3);
	/* survive a migration */
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	tu_finish_migration(m);
	cr_assert_eq(lfmap_str_get(m, k1, big, buf, big, &vlen), 0);
	cr_assert_eq(memcmp(buf, v, big), 0);
	cr_assert_eq(count_exact(m), 3);
	cr_assert_eq(lfmap_str_del(m, k2, big), 0);
	cr_assert_eq(lfmap_str_del(m, NULL, 0), 0);
	cr_assert_eq(lfmap_destroy(m), 0); /* k1 still inside */
	tu_alloc_assert_balanced(&al, "1 MiB keys");
	tu_alloc_release(&al);
	free(k1);
	free(k2);
	free(v);
	free(buf);
}

/* ------------------------------------------------------- hostile callbacks */

/* Every key hashes to the same value: everything is one chain. Operations
 * stay correct and migrations terminate; the cost per operation is linear in
 * the number of keys (the flood defence is issue 6 item 3, not this test). */
Test(badinput, constant_hash)
{
	struct lfmap *m = node_map(TU_HASH_CONST, NULL);
	enum { N = 600 };
	struct tu_node *nodes[N];
	double t0 = now_s();
	lfmap_read_lock(m);
	for (uint64_t k = 0; k < N; k++) {
		nodes[k] = tu_node_new(k, k);
		cr_assert_eq(lfmap_insert_rcu(m, &nodes[k]->node, NULL), 0);
	}
	for (uint64_t k = 0; k < N; k++) {
		cr_assert_eq(lfmap_lookup_rcu(m, &k), &nodes[k]->node);
		cr_assert_eq(lfmap_insert_rcu(m, &nodes[k]->node, NULL), -EEXIST);
	}
	lfmap_read_unlock(m);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	tu_finish_migration(m);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_COMPACT), 0);
	tu_finish_migration(m);
	cr_assert_eq(count_exact(m), N);
	struct lfmap_stats st = tu_stats(m);
	cr_log_info("constant hash, %d keys: longest chain %" PRIu64 " buckets, %.3f s", N,
		    st.longest_chain, now_s() - t0);
	lfmap_read_lock(m);
	for (uint64_t k = 0; k < N; k += 2) {
		struct lfmap_node *out = NULL;
		cr_assert_eq(lfmap_remove_rcu(m, &k, &out), 0);
		cr_assert_eq(out, &nodes[k]->node);
	}
	lfmap_read_unlock(m);
	tu_quiesce();
	cr_assert_eq(count_exact(m), N / 2);
	cr_assert_eq(lfmap_destroy(m), 0);
	for (uint64_t k = 0; k < N; k++) {
		cr_assert_eq(nodes[k]->freed_by_map, k % 2, "key %" PRIu64, k);
		tu_node_delete(nodes[k]);
	}
	cr_assert_lt(now_s() - t0, 30.0, "constant hash: too slow");
}

static int match_never(const struct lfmap_node *node, const void *key, void *arg)
{
	(void)node;
	(void)key;
	(void)arg;
	return 0;
}

/*
 * A match function that always says no (broken user code): the map cannot
 * find any key, so every insert adds a new entry (no -EEXIST), lookups and
 * removes by key fail, but nothing crashes or hangs, migrations keep every
 * node (they move nodes by pointer identity when match fails), iteration
 * visits each node once and destroy frees each node once.
 */
Test(badinput, match_always_no)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_GOOD);
	cfg.match = match_never;
	cfg.node_free = tu_node_free_cb;
	cfg.max_work = 1;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	enum { N = 200 };
	struct tu_node *nodes[N];
	lfmap_read_lock(m);
	for (uint64_t i = 0; i < N; i++) {
		nodes[i] = tu_node_new(i % 50, i); /* 4 nodes per key */
		int rc = lfmap_insert_rcu(m, &nodes[i]->node, NULL);
		cr_assert_eq(rc, 0, "insert #%" PRIu64 " = %d", i, rc);
	}
	uint64_t key = 3;
	cr_assert_null(lfmap_lookup_rcu(m, &key));
	cr_assert_eq(lfmap_remove_rcu(m, &key, NULL), -ENOENT);
	lfmap_read_unlock(m);
	cr_assert_eq(count_exact(m), N);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	tu_finish_migration(m);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_SHRINK), 0);
	tu_finish_migration(m);
	size_t n = count_exact(m);
	cr_log_info("match always no: %zu of %d nodes after grow + shrink", n, N);
	cr_assert_eq(n, N, "migrations lost or duplicated nodes: %zu", n);
	/* remove_node works by identity */
	lfmap_read_lock(m);
	int rc = lfmap_remove_node_rcu(m, &nodes[0]->node);
	lfmap_read_unlock(m);
	cr_log_info("remove_node with a match that says no: %d", rc);
	cr_assert(rc == 0 || rc == -ENOENT, "remove_node = %d", rc);
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(m), 0);
	int freed = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_leq(nodes[i]->freed_by_map, 1, "node %d freed twice", i);
		freed += nodes[i]->freed_by_map;
		tu_node_delete(nodes[i]);
	}
	cr_assert_eq(freed, rc == 0 ? N - 1 : N);
}

static uint64_t hash_zero(const void *key, uint64_t seed, void *arg)
{
	(void)key;
	(void)seed;
	(void)arg;
	return 0;
}

Test(badinput, hash_returning_zero)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_GOOD);
	cfg.hash = hash_zero;
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	struct tu_node *a = tu_node_new(1, 1), *b = tu_node_new(2, 2);
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_insert_rcu(m, &a->node, NULL), 0);
	cr_assert_eq(lfmap_insert_rcu(m, &b->node, NULL), 0);
	cr_assert_eq(a->node.hash, 1, "a hash of 0 is stored as 1 (node.h)");
	uint64_t k = 2;
	cr_assert_eq(lfmap_lookup_rcu(m, &k), &b->node);
	lfmap_read_unlock(m);
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_node_delete(a);
	tu_node_delete(b);
}

/* compute callbacks returning verdicts outside the enum (undocumented, and
 * not the same for every kind): the word map answers -EINVAL for every
 * unknown verdict; the node and string maps pass negative values back as the
 * result and answer -EINVAL for unknown positive ones. The map is unchanged
 * either way. */
static int wcompute_bad(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	(void)key;
	(void)cur;
	*newval = 5;
	return *(int *)arg;
}

static int scompute_bad(const void *cur, size_t curlen, const void **newval, size_t *newlen,
			void *arg)
{
	(void)cur;
	(void)curlen;
	*newval = "zz";
	*newlen = 2;
	return *(int *)arg;
}

static int ncompute_bad(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	(void)cur;
	*newnode = NULL;
	return *(int *)arg;
}

Test(badinput, compute_bad_verdicts)
{
	struct lfmap *w = lfmap_word_create(NULL), *s = lfmap_str_create(NULL);
	struct lfmap *n = node_map(TU_HASH_GOOD, NULL);
	cr_assert_eq(lfmap_word_put(w, 1, 10, NULL), 0);
	cr_assert_eq(lfmap_str_set(s, "k", 1, "v", 1), 0);
	static const int verdicts[] = { 3, 7, 1000, -1, -EIO, -ENOMEM };
	for (unsigned i = 0; i < TU_ARRAY_SIZE(verdicts); i++) {
		int v = verdicts[i], want = v < 0 ? v : -EINVAL;
		uint64_t old = 0;
		int rc = lfmap_word_compute(w, 1, wcompute_bad, &v, &old);
		cr_assert_eq(rc, -EINVAL, "word verdict %d -> %d", v, rc);
		rc = lfmap_word_compute(w, 2, wcompute_bad, &v, &old);
		cr_assert_eq(rc, -EINVAL, "word verdict %d on absent key -> %d", v, rc);
		rc = lfmap_str_compute(s, "k", 1, scompute_bad, &v);
		cr_assert_eq(rc, want, "str verdict %d -> %d", v, rc);
		uint64_t key = 1;
		lfmap_read_lock(n);
		rc = lfmap_compute_rcu(n, &key, ncompute_bad, &v, NULL);
		lfmap_read_unlock(n);
		cr_assert_eq(rc, want, "node verdict %d -> %d", v, rc);
	}
	/* SET with a NULL node is -EINVAL (documented) */
	int set = LFMAP_COMPUTE_SET;
	uint64_t key = 1;
	lfmap_read_lock(n);
	cr_assert_eq(lfmap_compute_rcu(n, &key, ncompute_bad, &set, NULL), -EINVAL);
	lfmap_read_unlock(n);
	uint64_t val = 0;
	cr_assert_eq(lfmap_word_get(w, 1, &val), 0);
	cr_assert_eq(val, 10);
	cr_assert_eq(lfmap_word_get(w, 2, NULL), -ENOENT);
	char buf[4];
	size_t vl = 0;
	cr_assert_eq(lfmap_str_get(s, "k", 1, buf, sizeof(buf), &vl), 0);
	cr_assert(vl == 1 && buf[0] == 'v');
	cr_assert_eq(count_exact(n), 0);
	cr_assert_eq(lfmap_destroy(w), 0);
	cr_assert_eq(lfmap_destroy(s), 0);
	cr_assert_eq(lfmap_destroy(n), 0);
}

/* compute SET with a node whose key differs from the key asked for: the
 * contract says its key must match; lfmap checks it with match() and
 * rejects it (-EINVAL, node.h), so the map stays consistent. */
static struct tu_node *g_other;
static int compute_other_key(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	(void)cur;
	(void)arg;
	*newnode = &g_other->node;
	return LFMAP_COMPUTE_SET;
}

Test(badinput, compute_set_with_other_key)
{
	struct lfmap *m = node_map(TU_HASH_GOOD, NULL);
	g_other = tu_node_new(77, 0);
	uint64_t key = 1;
	lfmap_read_lock(m);
	int rc = lfmap_compute_rcu(m, &key, compute_other_key, NULL, NULL);
	lfmap_read_unlock(m);
	cr_assert_eq(rc, -EINVAL, "compute SET of a node with another key: %d", rc);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_destroy(m), 0);
	cr_assert_eq(g_other->freed_by_map, 0);
	tu_node_delete(g_other);
}

/* cmp_replace with a node of another key: documented -EINVAL. */
Test(badinput, cmp_replace_other_key)
{
	struct lfmap *m = node_map(TU_HASH_GOOD, NULL);
	struct tu_node *a = tu_node_new(1, 0), *b = tu_node_new(2, 0);
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_insert_rcu(m, &a->node, NULL), 0);
	cr_assert_eq(lfmap_cmp_replace_rcu(m, &a->node, &b->node), -EINVAL);
	lfmap_read_unlock(m);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_node_delete(a);
	tu_node_delete(b);
}

/* Word values beyond 62 bits: -ERANGE everywhere, map unchanged. */
Test(badinput, word_value_range)
{
	struct lfmap *m = lfmap_word_create(NULL);
	const uint64_t bad[] = { LFMAP_WORD_VALUE_MAX + 1, UINT64_MAX, UINT64_C(1) << 63 };
	for (unsigned i = 0; i < TU_ARRAY_SIZE(bad); i++) {
		uint64_t e = 0;
		cr_assert_eq(lfmap_word_insert(m, 1, bad[i], NULL), -ERANGE);
		cr_assert_eq(lfmap_word_put(m, 0, bad[i], NULL), -ERANGE);
		cr_assert_eq(lfmap_word_replace(m, 1, bad[i], NULL), -ERANGE);
		cr_assert_eq(lfmap_word_cas(m, 1, &e, bad[i]), -ERANGE);
	}
	cr_assert_eq(lfmap_word_put(m, 1, LFMAP_WORD_VALUE_MAX, NULL), 0);
	uint64_t old = 0;
	cr_assert_eq(lfmap_word_fetch_add(m, 1, 1, &old), 0);
	cr_assert_eq(old, LFMAP_WORD_VALUE_MAX);
	cr_assert_eq(lfmap_word_get(m, 1, &old), 0);
	cr_assert_eq(old, 0, "fetch_add wraps modulo 2^62");
	cr_assert_eq(lfmap_word_fetch_add(m, 1, INT64_MIN, &old), 0);
	cr_assert_eq(lfmap_word_fetch_add(m, 1, INT64_MAX, &old), 0);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_destroy(m), 0);
}
