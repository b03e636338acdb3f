/*
 * test_node.c - unit tests of the intrusive node map (<lfmap/node.h>):
 * create, lookup, insert, upsert, replace, cmp_replace, remove, remove_node,
 * compute, foreach, full-hash collisions, destroy with and without
 * node_free, and every documented error path.
 */
#include "testutil.h"

TestSuite(node, .init = tu_rcu_init, .fini = tu_rcu_fini);

#define BADNODE ((struct lfmap_node *)(uintptr_t)0x10) /* out-param sentinel */

static struct tu_node_cb g_cb;

static struct lfmap *new_node_map(int mode, unsigned flags, bool with_free)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, mode);
	cfg.flags = flags;
	if (with_free)
		cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m, "lfmap_create failed: errno %d", errno);
	return m;
}

static struct lfmap_node *lookup(struct lfmap *m, uint64_t key)
{
	lfmap_read_lock(m);
	struct lfmap_node *n = lfmap_lookup_rcu(m, &key);
	lfmap_read_unlock(m);
	return n;
}

static int insert(struct lfmap *m, struct tu_node *n, struct lfmap_node **existing)
{
	lfmap_read_lock(m);
	int rc = lfmap_insert_rcu(m, &n->node, existing);
	lfmap_read_unlock(m);
	return rc;
}

static int upsert(struct lfmap *m, struct tu_node *n, struct lfmap_node **old)
{
	lfmap_read_lock(m);
	int rc = lfmap_upsert_rcu(m, &n->node, old);
	lfmap_read_unlock(m);
	return rc;
}

static int replace(struct lfmap *m, struct tu_node *n, struct lfmap_node **old)
{
	lfmap_read_lock(m);
	int rc = lfmap_replace_rcu(m, &n->node, old);
	lfmap_read_unlock(m);
	return rc;
}

static int cmp_replace(struct lfmap *m, struct tu_node *exp, struct tu_node *n)
{
	lfmap_read_lock(m);
	int rc = lfmap_cmp_replace_rcu(m, exp ? &exp->node : NULL, n ? &n->node : NULL);
	lfmap_read_unlock(m);
	return rc;
}

static int remove_key(struct lfmap *m, uint64_t key, struct lfmap_node **removed)
{
	lfmap_read_lock(m);
	int rc = lfmap_remove_rcu(m, &key, removed);
	lfmap_read_unlock(m);
	return rc;
}

static int remove_node(struct lfmap *m, struct tu_node *n)
{
	lfmap_read_lock(m);
	int rc = lfmap_remove_node_rcu(m, n ? &n->node : NULL);
	lfmap_read_unlock(m);
	return rc;
}

static size_t count_exact(struct lfmap *m)
{
	size_t n = (size_t)-1;
	cr_assert_eq(lfmap_count_exact(m, &n), 0);
	return n;
}

static void destroy_ok(struct lfmap *m)
{
	int rc = lfmap_destroy(m);
	cr_assert_eq(rc, 0, "lfmap_destroy returned %d", rc);
}

/* ------------------------------------------------------------ create */

Test(node, create_requires_callbacks)
{
	struct tu_node_cb cb;
	errno = 0;
	cr_assert_null(lfmap_create(NULL));
	cr_assert_eq(errno, EINVAL);
	for (int missing = 0; missing < 3; missing++) {
		struct lfmap_config cfg = tu_node_config(&cb, TU_HASH_GOOD);
		if (missing == 0)
			cfg.hash = NULL;
		else if (missing == 1)
			cfg.match = NULL;
		else
			cfg.key_of = NULL;
		errno = 0;
		struct lfmap *m = lfmap_create(&cfg);
		cr_assert_null(m, "lfmap_create without callback %d succeeded", missing);
		cr_assert_eq(errno, EINVAL, "errno %d", errno);
	}
	/* the default config (no callbacks at all) is not a valid node config */
	struct lfmap_config cfg = tu_config();
	errno = 0;
	cr_assert_null(lfmap_create(&cfg));
	cr_assert_eq(errno, EINVAL);
	/* a complete one is */
	cfg = tu_node_config(&cb, TU_HASH_GOOD);
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	destroy_ok(m);
}

/* ------------------------------------------------------------ NULL args */

static int compute_keep(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	(void)cur;
	(void)newnode;
	(void)arg;
	return LFMAP_COMPUTE_KEEP;
}

static int visit_count(struct lfmap_node *node, void *arg)
{
	(void)node;
	(*(size_t *)arg)++;
	return 0;
}

Test(node, null_arguments_are_einval)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(1, 10);
	struct lfmap_node *out = BADNODE;
	uint64_t key = 1;
	size_t cnt = 0;
	cr_assert_eq(insert(m, a, NULL), 0);

	lfmap_read_lock(m);
	errno = 0;
	cr_assert_null(lfmap_lookup_rcu(NULL, &key));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(lfmap_lookup_rcu(m, NULL));
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(lfmap_insert_rcu(NULL, &a->node, &out), -EINVAL);
	cr_assert_eq(lfmap_insert_rcu(m, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_upsert_rcu(NULL, &a->node, &out), -EINVAL);
	cr_assert_eq(lfmap_upsert_rcu(m, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_replace_rcu(NULL, &a->node, &out), -EINVAL);
	cr_assert_eq(lfmap_replace_rcu(m, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_cmp_replace_rcu(NULL, &a->node, &a->node), -EINVAL);
	cr_assert_eq(lfmap_cmp_replace_rcu(m, NULL, &a->node), -EINVAL);
	cr_assert_eq(lfmap_cmp_replace_rcu(m, &a->node, NULL), -EINVAL);
	cr_assert_eq(lfmap_remove_rcu(NULL, &key, &out), -EINVAL);
	cr_assert_eq(lfmap_remove_rcu(m, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_remove_node_rcu(NULL, &a->node), -EINVAL);
	cr_assert_eq(lfmap_remove_node_rcu(m, NULL), -EINVAL);
	cr_assert_eq(lfmap_compute_rcu(NULL, &key, compute_keep, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_compute_rcu(m, NULL, compute_keep, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_compute_rcu(m, &key, NULL, NULL, &out), -EINVAL);
	cr_assert_eq(lfmap_foreach_rcu(NULL, visit_count, &cnt), -EINVAL);
	cr_assert_eq(lfmap_foreach_rcu(m, NULL, &cnt), -EINVAL);
	cr_assert_eq(lfmap_lookup_rcu(m, &key), &a->node, "map changed by failed calls");
	lfmap_read_unlock(m);
	cr_assert_eq(cnt, 0);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(remove_key(m, 1, NULL), 0);
	destroy_ok(m);
	tu_node_delete(a);
	cr_assert_eq(g_cb.bad_arg, 0, "callbacks got NULL arguments");
}

Test(node, wrong_kind_is_einval)
{
	struct lfmap *maps[2] = { lfmap_word_create(NULL), lfmap_str_create(NULL) };
	cr_assert_not_null(maps[0]);
	cr_assert_not_null(maps[1]);
	cr_assert_eq(lfmap_word_put(maps[0], 1, 1, NULL), 0);
	cr_assert_eq(lfmap_str_set(maps[1], "k", 1, "v", 1), 0);
	struct tu_node *a = tu_node_new(1, 1);
	for (int i = 0; i < 2; i++) {
		struct lfmap *m = maps[i];
		struct lfmap_node *out = BADNODE;
		uint64_t key = 1;
		size_t cnt = 0;
		lfmap_read_lock(m);
		errno = 0;
		cr_assert_null(lfmap_lookup_rcu(m, &key));
		cr_assert_eq(errno, EINVAL);
		cr_assert_eq(lfmap_insert_rcu(m, &a->node, &out), -EINVAL);
		cr_assert_eq(lfmap_upsert_rcu(m, &a->node, &out), -EINVAL);
		cr_assert_eq(lfmap_replace_rcu(m, &a->node, &out), -EINVAL);
		cr_assert_eq(lfmap_cmp_replace_rcu(m, &a->node, &a->node), -EINVAL);
		cr_assert_eq(lfmap_remove_rcu(m, &key, &out), -EINVAL);
		cr_assert_eq(lfmap_remove_node_rcu(m, &a->node), -EINVAL);
		cr_assert_eq(lfmap_compute_rcu(m, &key, compute_keep, NULL, &out), -EINVAL);
		cr_assert_eq(lfmap_foreach_rcu(m, visit_count, &cnt), -EINVAL);
		lfmap_read_unlock(m);
		cr_assert_eq(cnt, 0);
		cr_assert_eq(count_exact(m), 1);
	}
	cr_assert_eq(lfmap_word_get(maps[0], 1, NULL), 0);
	char buf[4] = { 0 };
	cr_assert_eq(lfmap_str_get(maps[1], "k", 1, buf, sizeof(buf), NULL), 0);
	cr_assert_eq(buf[0], 'v');
	destroy_ok(maps[0]);
	destroy_ok(maps[1]);
	tu_node_delete(a);
}

/* ------------------------------------------------------------ basics */

Test(node, insert_lookup_and_hash_field)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_GOOD);
	cfg.flags = LFMAP_F_FIXED_SEED;
	cfg.seed = UINT64_C(0x5eed5eed12345678);
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	struct tu_node *a = tu_node_new(7, 70), *b = tu_node_new(7, 71);
	struct lfmap_node *ex = BADNODE;
	cr_assert_null(lookup(m, 7));
	cr_assert_eq(insert(m, a, &ex), 0);
	cr_assert_eq(a->node.hash, tu_hash_of(TU_HASH_GOOD, 7, cfg.seed),
		     "node->hash must be hash(key, seed) of the fixed seed");
	cr_assert_eq(g_cb.last_seed, cfg.seed, "hash called with seed %#" PRIx64,
		     g_cb.last_seed);
	cr_assert_eq(lookup(m, 7), &a->node);
	cr_assert_eq(tu_node_of(lookup(m, 7))->val, 70);
	ex = BADNODE;
	cr_assert_eq(insert(m, b, &ex), -EEXIST);
	cr_assert_eq(ex, &a->node, "-EEXIST must hand out the present node");
	cr_assert_eq(insert(m, b, NULL), -EEXIST);
	cr_assert_eq(lookup(m, 7), &a->node);
	cr_assert_null(lookup(m, 8));
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_count_approx(m), 1);
	cr_assert_eq(remove_key(m, 7, NULL), 0);
	destroy_ok(m);
	tu_quiesce();
	tu_node_delete(a);
	tu_node_delete(b);
}

/* ------------------------------------------------- built-in fixed-size keys */

Test(node, builtin_key_config)
{
	struct tu_node_cb cb;
	/* key_size together with any callback is ambiguous: EINVAL */
	for (int extra = 0; extra < 3; extra++) {
		struct lfmap_config cfg = tu_node_config(&cb, TU_KEY_U64);
		if (extra == 0)
			cfg.hash = tu_node_hash;
		else if (extra == 1)
			cfg.match = tu_node_match;
		else
			cfg.key_of = tu_node_key_of;
		errno = 0;
		cr_assert_null(lfmap_create(&cfg), "key_size with callback %d accepted", extra);
		cr_assert_eq(errno, EINVAL);
	}
	/* key_size alone is a complete node config, offset 0 included */
	struct lfmap_config cfg = tu_config();
	cfg.key_size = 8;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m, "errno %d", errno);
	destroy_ok(m);
	/* a word map and a string map ignore it */
	cfg = tu_config();
	cfg.key_size = 3;
	cfg.key_offset = -5;
	m = lfmap_word_create(&cfg);
	cr_assert_not_null(m);
	destroy_ok(m);
	m = lfmap_str_create(&cfg);
	cr_assert_not_null(m);
	char v = 0;
	size_t vl = 0;
	cr_assert_eq(lfmap_str_add(m, "abcdef", 6, "x", 1), 0);
	cr_assert_eq(lfmap_str_add(m, "abcdeg", 6, "y", 1), 0);
	cr_assert_eq(lfmap_str_get(m, "abcdef", 6, &v, 1, &vl), 0);
	cr_assert_eq(v, 'x');
	cr_assert_eq(vl, 1);
	destroy_ok(m);
}

/* Keys handed to the map from unaligned buffers. */
static struct lfmap_node *lookup_unaligned(struct lfmap *m, uint64_t key)
{
	unsigned char buf[16];
	memcpy(buf + 3, &key, sizeof key);
	lfmap_read_lock(m);
	struct lfmap_node *n = lfmap_lookup_rcu(m, buf + 3);
	lfmap_read_unlock(m);
	return n;
}

static void builtin_key_many(int mode)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, mode);
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND;
	cfg.seed = UINT64_C(0x0123456789abcdef);
	cfg.max_work = 1;
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	enum { N = 3000 };
	struct tu_node **nodes = calloc(N, sizeof *nodes);
	for (uint64_t k = 0; k < N; k++) {
		nodes[k] = tu_node_new(k * 7919, k);
		cr_assert_eq(insert(m, nodes[k], NULL), 0, "insert %" PRIu64, k);
		/* the documented built-in hash, under the fixed seed */
		uint64_t key = k * 7919, h;
		if (mode == TU_KEY_U64)
			h = lfmap_hash_u64(key, cfg.seed);
		else
			h = lfmap_hash_bytes(&key, 6, cfg.seed);
		cr_assert_eq(nodes[k]->node.hash, h != 0 ? h : 1, "node->hash of key %" PRIu64, key);
	}
	cr_assert(tu_stats(m).grows > 0, "the map never grew");
	/* across a reseed (every node rehashed with the built-in hash) */
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_RESEED), 0);
	for (uint64_t k = 0; k < N; k += 2) {
		if (k % 4 == 0)
			tu_finish_migration(m);
		cr_assert_eq(lookup_unaligned(m, k * 7919), &nodes[k]->node, "key %" PRIu64, k);
		cr_assert_null(lookup(m, k * 7919 + 1));
		struct lfmap_node *out = BADNODE;
		cr_assert_eq(remove_key(m, k * 7919, &out), 0);
		cr_assert_eq(out, &nodes[k]->node);
		cr_assert_null(lookup(m, k * 7919));
	}
	tu_finish_migration(m);
	cr_assert_eq(count_exact(m), N / 2);
	for (uint64_t k = 1; k < N; k += 2)
		cr_assert_eq(lookup(m, k * 7919), &nodes[k]->node, "key %" PRIu64, k);
	if (mode == TU_KEY_BYTES6) {
		/* only key_size bytes are the key: bit 48 and above are not */
		struct tu_node *alias = tu_node_new(7919 + (UINT64_C(1) << 48), 0);
		struct lfmap_node *ex = BADNODE;
		cr_assert_eq(insert(m, alias, &ex), -EEXIST);
		cr_assert_eq(ex, &nodes[1]->node);
		tu_node_delete(alias);
	}
	destroy_ok(m); /* node_free sees the mapped half, once each */
	tu_quiesce();
	for (uint64_t k = 0; k < N; k++) {
		cr_assert_eq(nodes[k]->freed_by_map, (int)(k % 2), "key %" PRIu64, k);
		tu_node_delete(nodes[k]);
	}
	free(nodes);
}

Test(node, builtin_key_u64)
{
	builtin_key_many(TU_KEY_U64);
}

Test(node, builtin_key_bytes)
{
	builtin_key_many(TU_KEY_BYTES6);
}

/* A key after the node (positive offset), of odd size, unaligned. */
struct named {
	struct lfmap_node node;
	char pad[3];
	char name[13];
};

Test(node, builtin_key_after_the_node)
{
	struct lfmap_config cfg = tu_config();
	cfg.key_size = sizeof(((struct named *)0)->name);
	cfg.key_offset = LFMAP_KEY_OFFSET(struct named, node, name);
	cr_assert_gt(cfg.key_offset, 0);
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	static struct named items[40];
	for (int i = 0; i < 40; i++) {
		snprintf(items[i].name, sizeof items[i].name, "host-%07d", i * 31);
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_insert_rcu(m, &items[i].node, NULL), 0);
		lfmap_read_unlock(m);
	}
	for (int i = 0; i < 40; i++) {
		char key[13];
		snprintf(key, sizeof key, "host-%07d", i * 31);
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_lookup_rcu(m, key), &items[i].node, "%s", key);
		key[11] ^= 1; /* the last byte counts too */
		cr_assert_null(lfmap_lookup_rcu(m, key));
		lfmap_read_unlock(m);
	}
	lfmap_read_lock(m);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(lfmap_remove_node_rcu(m, &items[i].node), 0);
	lfmap_read_unlock(m);
	destroy_ok(m);
}

Test(node, upsert_returns_0_then_1)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(3, 1), *b = tu_node_new(3, 2), *c = tu_node_new(3, 3);
	struct lfmap_node *old = BADNODE;
	cr_assert_eq(upsert(m, a, &old), 0);
	cr_assert_null(old, "upsert that inserts must set *old = NULL");
	cr_assert_eq(lookup(m, 3), &a->node);
	cr_assert_eq(upsert(m, b, &old), 1);
	cr_assert_eq(old, &a->node);
	cr_assert_eq(lookup(m, 3), &b->node);
	cr_assert_eq(upsert(m, c, NULL), 1);
	cr_assert_eq(lookup(m, 3), &c->node);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_count_approx(m), 1);
	struct lfmap_node *rm = NULL;
	cr_assert_eq(remove_key(m, 3, &rm), 0);
	cr_assert_eq(rm, &c->node);
	destroy_ok(m);
	tu_quiesce();
	tu_node_delete(a);
	tu_node_delete(b);
	tu_node_delete(c);
}

Test(node, replace_only_if_present)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(5, 1), *b = tu_node_new(5, 2), *c = tu_node_new(5, 3);
	struct lfmap_node *old = BADNODE;
	cr_assert_eq(replace(m, a, &old), -ENOENT);
	cr_assert_null(lookup(m, 5));
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(insert(m, a, NULL), 0);
	cr_assert_eq(replace(m, b, &old), 0);
	cr_assert_eq(old, &a->node);
	cr_assert_eq(lookup(m, 5), &b->node);
	cr_assert_eq(remove_key(m, 5, NULL), 0);
	cr_assert_eq(replace(m, c, &old), -ENOENT, "replace after remove");
	cr_assert_null(lookup(m, 5));
	destroy_ok(m);
	tu_quiesce();
	tu_node_delete(a);
	tu_node_delete(b);
	tu_node_delete(c);
}

Test(node, cmp_replace_paths)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(9, 1), *b = tu_node_new(9, 2), *c = tu_node_new(9, 3);
	struct tu_node *other = tu_node_new(10, 4);
	/* absent */
	cr_assert_eq(cmp_replace(m, a, b), -ENOENT);
	cr_assert_null(lookup(m, 9));
	cr_assert_eq(insert(m, a, NULL), 0);
	cr_assert_eq(insert(m, other, NULL), 0);
	/* key mismatch: node's key differs from expected's */
	struct tu_node *mism = tu_node_new(11, 5);
	cr_assert_eq(cmp_replace(m, a, mism), -EINVAL);
	cr_assert_eq(lookup(m, 9), &a->node);
	cr_assert_null(lookup(m, 11));
	cr_assert_eq(cmp_replace(m, a, other), -EINVAL, "node with another present key");
	cr_assert_eq(lookup(m, 9), &a->node);
	cr_assert_eq(lookup(m, 10), &other->node);
	/* success */
	cr_assert_eq(cmp_replace(m, a, b), 0);
	cr_assert_eq(lookup(m, 9), &b->node);
	/* stale expected */
	cr_assert_eq(cmp_replace(m, a, c), -ECANCELED);
	cr_assert_eq(lookup(m, 9), &b->node);
	cr_assert_eq(count_exact(m), 2);
	/* after remove: -ENOENT */
	cr_assert_eq(remove_key(m, 9, NULL), 0);
	cr_assert_eq(cmp_replace(m, b, c), -ENOENT);
	cr_assert_null(lookup(m, 9));
	cr_assert_eq(remove_key(m, 10, NULL), 0);
	destroy_ok(m);
	tu_quiesce();
	tu_node_delete(a);
	tu_node_delete(b);
	tu_node_delete(c);
	tu_node_delete(other);
	tu_node_delete(mism);
}

Test(node, remove_and_remove_node)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(4, 1), *b = tu_node_new(4, 2);
	struct lfmap_node *rm = BADNODE;
	cr_assert_eq(remove_key(m, 4, &rm), -ENOENT);
	cr_assert_eq(remove_node(m, a), -ENOENT);
	cr_assert_eq(insert(m, a, NULL), 0);
	cr_assert_eq(remove_key(m, 4, &rm), 0);
	cr_assert_eq(rm, &a->node);
	cr_assert_null(lookup(m, 4));
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(insert(m, b, NULL), 0);
	/* a is not in the map any more; b with the same key is */
	cr_assert_eq(remove_node(m, a), -ENOENT);
	cr_assert_eq(lookup(m, 4), &b->node);
	cr_assert_eq(remove_node(m, b), 0);
	cr_assert_null(lookup(m, 4));
	cr_assert_eq(remove_node(m, b), -ENOENT);
	cr_assert_eq(remove_key(m, 4, NULL), -ENOENT);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_count_approx(m), 0);
	destroy_ok(m);
	tu_quiesce();
	tu_node_delete(a);
	tu_node_delete(b);
}

/* ------------------------------------------------------------ compute */

struct crule {
	int if_absent, if_present;
	struct tu_node *install; /* for SET */
	bool null_newnode;
	int calls;
	struct lfmap_node *saw;
};

static int compute_rule(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	struct crule *r = arg;
	r->calls++;
	r->saw = cur;
	int v = cur ? r->if_present : r->if_absent;
	if (v == LFMAP_COMPUTE_SET)
		*newnode = r->null_newnode ? NULL : &r->install->node;
	return v;
}

static int compute(struct lfmap *m, uint64_t key, struct crule *r, struct lfmap_node **old)
{
	r->calls = 0;
	lfmap_read_lock(m);
	int rc = lfmap_compute_rcu(m, &key, compute_rule, r, old);
	lfmap_read_unlock(m);
	return rc;
}

Test(node, compute_verdicts)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(6, 1), *b = tu_node_new(6, 2);
	struct lfmap_node *old = BADNODE;
	struct crule r;

	r = (struct crule){ .if_absent = LFMAP_COMPUTE_KEEP };
	cr_assert_eq(compute(m, 6, &r, &old), LFMAP_COMPUTE_KEEP);
	cr_assert_geq(r.calls, 1);
	cr_assert_null(r.saw);
	cr_assert_null(old, "*old must be NULL for an absent key");
	cr_assert_null(lookup(m, 6));

	r = (struct crule){ .if_absent = LFMAP_COMPUTE_REMOVE };
	old = BADNODE;
	int rc = compute(m, 6, &r, &old);
	cr_assert(rc == LFMAP_COMPUTE_REMOVE || rc == LFMAP_COMPUTE_KEEP, "rc %d", rc);
	cr_assert_null(old);
	cr_assert_null(lookup(m, 6));

	r = (struct crule){ .if_absent = LFMAP_COMPUTE_SET, .null_newnode = true };
	cr_assert_eq(compute(m, 6, &r, &old), -EINVAL, "SET with NULL *newnode");
	cr_assert_null(lookup(m, 6));

	r = (struct crule){ .if_absent = LFMAP_COMPUTE_SET, .install = a };
	old = BADNODE;
	cr_assert_eq(compute(m, 6, &r, &old), LFMAP_COMPUTE_SET);
	cr_assert_null(old);
	cr_assert_eq(lookup(m, 6), &a->node);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_count_approx(m), 1);

	r = (struct crule){ .if_present = LFMAP_COMPUTE_KEEP };
	cr_assert_eq(compute(m, 6, &r, &old), LFMAP_COMPUTE_KEEP);
	cr_assert_eq(r.saw, &a->node);
	cr_assert_eq(old, &a->node);
	cr_assert_eq(lookup(m, 6), &a->node);

	r = (struct crule){ .if_present = LFMAP_COMPUTE_SET, .null_newnode = true };
	cr_assert_eq(compute(m, 6, &r, &old), -EINVAL);
	cr_assert_eq(lookup(m, 6), &a->node);

	r = (struct crule){ .if_present = LFMAP_COMPUTE_SET, .install = b };
	old = BADNODE;
	cr_assert_eq(compute(m, 6, &r, &old), LFMAP_COMPUTE_SET);
	cr_assert_eq(old, &a->node);
	cr_assert_eq(lookup(m, 6), &b->node);
	cr_assert_eq(count_exact(m), 1);

	r = (struct crule){ .if_present = LFMAP_COMPUTE_REMOVE };
	old = BADNODE;
	cr_assert_eq(compute(m, 6, &r, &old), LFMAP_COMPUTE_REMOVE);
	cr_assert_eq(old, &b->node);
	cr_assert_null(lookup(m, 6));
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_count_approx(m), 0);

	/* old may be NULL */
	r = (struct crule){ .if_absent = LFMAP_COMPUTE_KEEP };
	cr_assert_eq(compute(m, 6, &r, NULL), LFMAP_COMPUTE_KEEP);
	destroy_ok(m);
	tu_quiesce();
	tu_node_delete(a);
	tu_node_delete(b);
}

/* ------------------------------------------------------------ foreach */

struct stopper {
	int after, seen, ret;
};

static int visit_stop(struct lfmap_node *node, void *arg)
{
	(void)node;
	struct stopper *s = arg;
	s->seen++;
	return s->seen == s->after ? s->ret : 0;
}

Test(node, foreach_stop_values)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, true);
	struct stopper st = { .after = 1, .ret = 3 };
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_foreach_rcu(m, visit_stop, &st), 0);
	lfmap_read_unlock(m);
	cr_assert_eq(st.seen, 0);
	struct tu_node *nodes[40];
	for (int i = 0; i < 40; i++) {
		nodes[i] = tu_node_new((uint64_t)i * 31, (uint64_t)i);
		cr_assert_eq(insert(m, nodes[i], NULL), 0);
	}
	const int rets[] = { 1, 17, -2 };
	for (size_t i = 0; i < TU_ARRAY_SIZE(rets); i++) {
		st = (struct stopper){ .after = 10, .ret = rets[i] };
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_foreach_rcu(m, visit_stop, &st), rets[i]);
		lfmap_read_unlock(m);
		cr_assert_eq(st.seen, 10);
	}
	st = (struct stopper){ .after = 100, .ret = 3 };
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_foreach_rcu(m, visit_stop, &st), 0);
	lfmap_read_unlock(m);
	cr_assert_eq(st.seen, 40);
	destroy_ok(m);
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(nodes[i]->freed_by_map, 1);
		tu_node_delete(nodes[i]);
	}
}

/* ------------------------------------------------------------ collisions */

struct nseen {
	uint8_t *hits;
	uint64_t n;
	uint64_t bad;
};

static int visit_hits(struct lfmap_node *node, void *arg)
{
	struct nseen *s = arg;
	struct tu_node *t = tu_node_of(node);
	if (t->magic != TU_NODE_MAGIC || t->key >= s->n || t->val != t->key * 3) {
		s->bad++;
		return 0;
	}
	s->hits[t->key]++;
	return 0;
}

static void check_all(struct lfmap *m, struct tu_node **nodes, uint64_t n, const char *when)
{
	for (uint64_t k = 0; k < n; k++) {
		struct lfmap_node *got = lookup(m, k);
		if (nodes[k])
			cr_assert_eq(got, &nodes[k]->node, "%s: lookup(%" PRIu64 ")", when, k);
		else
			cr_assert_null(got, "%s: lookup(%" PRIu64 ") found a removed key", when, k);
	}
	struct nseen s = { .hits = calloc(n, 1), .n = n };
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_foreach_rcu(m, visit_hits, &s), 0);
	lfmap_read_unlock(m);
	cr_assert_eq(s.bad, 0, "%s: foreach visited a foreign node", when);
	size_t present = 0;
	for (uint64_t k = 0; k < n; k++) {
		cr_assert_eq(s.hits[k], nodes[k] ? 1 : 0, "%s: key %" PRIu64 " visited %d times",
			     when, k, s.hits[k]);
		present += nodes[k] != NULL;
	}
	free(s.hits);
	cr_assert_eq(count_exact(m), present, "%s", when);
}

static void collisions(int mode, uint64_t n)
{
	struct lfmap *m = new_node_map(mode, LFMAP_F_NO_BACKGROUND, true);
	struct tu_node **nodes = calloc(n, sizeof(*nodes));
	for (uint64_t k = 0; k < n; k++) {
		nodes[k] = tu_node_new(k, k * 3);
		cr_assert_eq(insert(m, nodes[k], NULL), 0, "insert %" PRIu64, k);
		uint64_t h = tu_hash_of(mode, k, g_cb.last_seed);
		/* the library stores a user hash of 0 as 1 (0 marks a free slot) */
		cr_assert(nodes[k]->node.hash == h || (h == 0 && nodes[k]->node.hash == 1),
			  "node->hash %#" PRIx64 ", hash(key, seed) %#" PRIx64,
			  nodes[k]->node.hash, h);
	}
	check_all(m, nodes, n, "after inserts");
	/* duplicates are still detected among colliding keys */
	for (uint64_t k = 0; k < n; k += 7) {
		struct tu_node *d = tu_node_new(k, 0);
		struct lfmap_node *ex = NULL;
		cr_assert_eq(insert(m, d, &ex), -EEXIST);
		cr_assert_eq(ex, &nodes[k]->node);
		tu_node_delete(d);
	}
	struct tu_node **retired = calloc(n, sizeof(*retired));
	for (uint64_t k = 0; k < n; k += 2) {
		struct lfmap_node *rm = NULL;
		cr_assert_eq(remove_key(m, k, &rm), 0);
		cr_assert_eq(rm, &nodes[k]->node);
		retired[k] = nodes[k];
		nodes[k] = NULL;
	}
	check_all(m, nodes, n, "after removing evens");
	const enum lfmap_resize kinds[] = { LFMAP_RESIZE_GROW, LFMAP_RESIZE_COMPACT,
					    LFMAP_RESIZE_SHRINK };
	for (size_t i = 0; i < TU_ARRAY_SIZE(kinds); i++) {
		int rc = tu_resize_retry(m, kinds[i]);
		cr_assert(rc == 0 || (rc == -EINVAL && kinds[i] == LFMAP_RESIZE_SHRINK),
			  "resize %d: %d", kinds[i], rc);
		check_all(m, nodes, n, "migration started");
		lfmap_migrate_step(m, 2);
		tu_quiesce(); /* earlier retired nodes are freed below */
		/* replace a few odd keys mid-migration */
		for (uint64_t k = 1; k < n; k += 10) {
			struct tu_node *r = tu_node_new(k, k * 3);
			struct lfmap_node *old = NULL;
			cr_assert_eq(upsert(m, r, &old), 1);
			cr_assert_eq(old, &nodes[k]->node);
			tu_node_delete(retired[k]);
			retired[k] = nodes[k];
			nodes[k] = r;
		}
		check_all(m, nodes, n, "mid-migration");
		tu_finish_migration(m);
		check_all(m, nodes, n, "after migration");
	}
	destroy_ok(m);
	for (uint64_t k = 0; k < n; k++) {
		if (nodes[k]) {
			cr_assert_eq(nodes[k]->freed_by_map, 1, "node_free calls for key %" PRIu64,
				     k);
			tu_node_delete(nodes[k]);
		}
		if (retired[k]) {
			cr_assert_eq(retired[k]->freed_by_map, 0, "node_free of a removed node");
			tu_node_delete(retired[k]);
		}
	}
	free(nodes);
	free(retired);
	cr_assert_eq(g_cb.foreign_free, 0);
}

Test(node, full_hash_collisions_mod4)
{
	collisions(TU_HASH_MOD4, 600);
}

Test(node, full_hash_collisions_constant)
{
	collisions(TU_HASH_CONST, 300);
}

Test(node, good_hash_many_keys)
{
	collisions(TU_HASH_GOOD, 20000);
}

/*
 * I2, tombstone revival: with a hash that does not collide in 64 bits,
 * remove + insert of a key reuses the key's slot (a revivable tombstone), in
 * the table the key was inserted into and in the table a migration copied
 * it to. Before revival existed every re-insert took a new slot, chains grew
 * and compactions followed (lfmap-bench balanced at 1,000 keys: 83
 * compactions per second, 8 tombstones per key).
 */
Test(node, remove_reinsert_reuses_the_slot)
{
	const uint64_t n = 1000;
	struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_GOOD);
	cfg.flags = LFMAP_F_NO_BACKGROUND;
	cfg.node_free = tu_node_free_cb;
	cfg.size_hint = 2 * n; /* no growth: the slot counts below stay exact */
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	struct tu_node **nodes = calloc(n, sizeof(*nodes));
	struct tu_node **retired = calloc(n, sizeof(*retired));
	for (uint64_t k = 0; k < n; k++) {
		nodes[k] = tu_node_new(k, k * 3);
		cr_assert_eq(insert(m, nodes[k], NULL), 0);
	}
	struct lfmap_stats st0, st;
	cr_assert_eq(lfmap_stats(m, &st0), 0);
	cr_assert_eq(st0.claimed_slots, n);
	for (int phase = 0; phase < 2; phase++) {
		for (int round = 0; round < 20; round++) {
			for (uint64_t k = 0; k < n; k++) {
				struct lfmap_node *rm = NULL;
				cr_assert_eq(remove_key(m, k, &rm), 0);
				cr_assert_eq(rm, &nodes[k]->node);
				retired[k] = nodes[k];
				nodes[k] = tu_node_new(k, k * 3);
				cr_assert_eq(insert(m, nodes[k], NULL), 0);
			}
			check_all(m, nodes, n, "after a round of remove + insert");
			tu_quiesce();
			for (uint64_t k = 0; k < n; k++)
				tu_node_delete(retired[k]);
		}
		cr_assert_eq(lfmap_stats(m, &st), 0);
		cr_assert_eq(st.claimed_slots, n, "phase %d: %" PRIu64 " slots claimed for %" PRIu64
			     " keys (a re-insert took a new slot)", phase, st.claimed_slots, n);
		cr_assert_eq(st.tombstones, 0);
		cr_assert_eq(st.overflow_buckets, st0.overflow_buckets);
		cr_assert_eq(st.migrations_started, st0.migrations_started + (uint64_t)phase,
			     "a re-insert churn started a migration");
		/* phase 1 runs in a table filled by copies */
		if (phase == 0) {
			cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_COMPACT), 0);
			tu_finish_migration(m);
		}
	}
	destroy_ok(m);
	for (uint64_t k = 0; k < n; k++)
		tu_node_delete(nodes[k]);
	free(nodes);
	free(retired);
}

/*
 * I2 across a migration, with one full hash for every key: K and A are
 * copied into the new table in chain order, and the copier of A passes K's
 * slot. It must make that slot non-revivable there; otherwise, once K is
 * removed, an insert of A (still present, further on) takes K's tombstone
 * as the first candidate and A is mapped twice.
 */
Test(node, copier_marks_the_slots_it_passes)
{
	const enum lfmap_resize kinds[] = { LFMAP_RESIZE_COMPACT, LFMAP_RESIZE_GROW,
					    LFMAP_RESIZE_RESEED };
	for (size_t i = 0; i < TU_ARRAY_SIZE(kinds); i++) {
		struct lfmap *m = new_node_map(TU_HASH_CONST, LFMAP_F_NO_BACKGROUND, true);
		struct tu_node *k = tu_node_new(1, 3), *a = tu_node_new(2, 6);
		cr_assert_eq(insert(m, k, NULL), 0);
		cr_assert_eq(insert(m, a, NULL), 0);
		int rc = tu_resize_retry(m, kinds[i]);
		cr_assert_eq(rc, 0, "resize %d: %d", kinds[i], rc);
		tu_finish_migration(m);
		cr_assert_eq(remove_key(m, 1, NULL), 0);
		struct tu_node *dup = tu_node_new(2, 6);
		struct lfmap_node *ex = NULL;
		cr_assert_eq(insert(m, dup, &ex), -EEXIST,
			     "resize %d: key 2 inserted twice (K's tombstone revived)", kinds[i]);
		cr_assert_eq(ex, &a->node);
		struct tu_node *nodes[3] = { NULL, NULL, a };
		check_all(m, nodes, 3, "after remove K");
		destroy_ok(m);
		tu_quiesce();
		tu_node_delete(k);
		tu_node_delete(a);
		tu_node_delete(dup);
	}
}

/* ------------------------------------------------------------ destroy */

Test(node, destroy_nonempty_without_node_free_is_ebusy)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *nodes[100];
	for (int i = 0; i < 100; i++) {
		nodes[i] = tu_node_new((uint64_t)i, (uint64_t)i * 3);
		cr_assert_eq(insert(m, nodes[i], NULL), 0);
	}
	cr_assert_eq(lfmap_destroy(m), -EBUSY);
	/* the map stays intact and usable */
	cr_assert_eq(count_exact(m), 100);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(lookup(m, (uint64_t)i), &nodes[i]->node);
	struct tu_node *extra = tu_node_new(1000, 3000);
	cr_assert_eq(insert(m, extra, NULL), 0);
	cr_assert_eq(lfmap_destroy(m), -EBUSY);
	cr_assert_eq(remove_node(m, extra), 0);
	for (int i = 0; i < 99; i++)
		cr_assert_eq(remove_key(m, (uint64_t)i, NULL), 0);
	cr_assert_eq(lfmap_destroy(m), -EBUSY, "one node left");
	cr_assert_eq(lookup(m, 99), &nodes[99]->node);
	cr_assert_eq(remove_key(m, 99, NULL), 0);
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_quiesce();
	for (int i = 0; i < 100; i++)
		tu_node_delete(nodes[i]);
	tu_node_delete(extra);
}

Test(node, destroy_empty_without_node_free)
{
	struct lfmap *m = new_node_map(TU_HASH_GOOD, 0, false);
	struct tu_node *a = tu_node_new(1, 3);
	cr_assert_eq(insert(m, a, NULL), 0);
	cr_assert_eq(remove_key(m, 1, NULL), 0);
	/* tombstones are not nodes */
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_node_delete(a);
}

static void destroy_with_node_free(bool mid_migration)
{
	struct tu_alloc al;
	tu_alloc_init(&al);
	struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_MOD4);
	cfg.node_free = tu_node_free_cb;
	cfg.flags = LFMAP_F_NO_BACKGROUND;
	cfg.allocator = tu_alloc_hooks(&al);
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	const int n = 500;
	struct tu_node **nodes = calloc((size_t)n, sizeof(*nodes));
	struct tu_node **gone = calloc((size_t)n, sizeof(*gone));
	for (int i = 0; i < n; i++) {
		nodes[i] = tu_node_new((uint64_t)i, (uint64_t)i * 3);
		cr_assert_eq(insert(m, nodes[i], NULL), 0);
	}
	for (int i = 0; i < n; i += 3) {
		cr_assert_eq(remove_node(m, nodes[i]), 0);
		gone[i] = nodes[i];
		nodes[i] = NULL;
	}
	for (int i = 1; i < n; i += 5) {
		if (!nodes[i])
			continue; /* removed above */
		struct tu_node *r = tu_node_new((uint64_t)i, (uint64_t)i * 3);
		struct lfmap_node *old = NULL;
		cr_assert_eq(replace(m, r, &old), 0);
		cr_assert_eq(old, &nodes[i]->node);
		gone[i] = nodes[i];
		nodes[i] = r;
	}
	if (mid_migration) {
		int rc = tu_resize_retry(m, LFMAP_RESIZE_GROW);
		/* (with colliding hashes the library may keep a compaction
		 * running, see full_hash_collisions_*: then -EAGAIN is fine
		 * here as long as some migration runs) */
		cr_assert(rc == 0 || (rc == -EAGAIN && tu_stats(m).migrating == 1),
			  "resize: %d", rc);
		cr_assert_eq(lfmap_migrate_step(m, 1), 1, "migration finished after one step");
		cr_assert_eq(tu_stats(m).migrating, 1);
	}
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_alloc_assert_balanced(&al, "node map destroy");
	int remaining = 0;
	for (int i = 0; i < n; i++) {
		if (nodes[i]) {
			remaining++;
			cr_assert_eq(nodes[i]->freed_by_map, 1,
				     "node %d passed to node_free %d times", i,
				     nodes[i]->freed_by_map);
			tu_node_delete(nodes[i]);
		}
		if (gone[i]) {
			cr_assert_eq(gone[i]->freed_by_map, 0, "removed node %d given to node_free",
				     i);
			tu_node_delete(gone[i]);
		}
	}
	cr_assert_eq(g_cb.node_free_calls, (uint64_t)remaining);
	cr_assert_eq(g_cb.foreign_free, 0);
	free(nodes);
	free(gone);
	tu_alloc_release(&al);
}

Test(node, destroy_with_node_free_frees_each_once)
{
	destroy_with_node_free(false);
}

Test(node, destroy_with_node_free_mid_migration)
{
	destroy_with_node_free(true);
}

Test(node, destroy_null_is_einval)
{
	cr_assert_eq(lfmap_destroy(NULL), -EINVAL);
}
