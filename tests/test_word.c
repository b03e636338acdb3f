/*
 * test_word.c - unit tests of the word-key map (<lfmap/word.h>): every
 * function, its _rcu twin, every documented error path, key 0, the 62-bit
 * value range, fetch_add arithmetic, compute verdicts and foreach.
 */
#include "testutil.h"

TestSuite(word, .init = tu_rcu_init, .fini = tu_rcu_fini);

#define SENT UINT64_C(0x0123456789abcdef) /* out-param sentinel */

static struct lfmap *new_word_map(unsigned flags, size_t hint)
{
	struct lfmap_config cfg = tu_config();
	cfg.flags = flags;
	cfg.size_hint = hint;
	struct lfmap *m = lfmap_word_create(&cfg);
	cr_assert_not_null(m, "lfmap_word_create failed: errno %d", errno);
	return m;
}

static void destroy_ok(struct lfmap *m)
{
	int rc = lfmap_destroy(m);
	cr_assert_eq(rc, 0, "lfmap_destroy returned %d", rc);
}

static void expect_val(struct lfmap *m, uint64_t key, uint64_t want)
{
	uint64_t v = SENT;
	int rc = lfmap_word_get(m, key, &v);
	cr_assert_eq(rc, 0, "get(%#" PRIx64 ") = %d, expected 0", key, rc);
	cr_assert_eq(v, want, "get(%#" PRIx64 ") value %#" PRIx64 ", expected %#" PRIx64, key, v,
		     want);
	/* the _rcu variant must agree */
	v = SENT;
	lfmap_read_lock(m);
	rc = lfmap_word_get_rcu(m, key, &v);
	lfmap_read_unlock(m);
	cr_assert_eq(rc, 0, "get_rcu(%#" PRIx64 ") = %d", key, rc);
	cr_assert_eq(v, want, "get_rcu(%#" PRIx64 ") value %#" PRIx64 " != %#" PRIx64, key, v,
		     want);
}

static void expect_absent(struct lfmap *m, uint64_t key)
{
	uint64_t v = SENT;
	int rc = lfmap_word_get(m, key, &v);
	cr_assert_eq(rc, -ENOENT, "get(%#" PRIx64 ") = %d, expected -ENOENT", key, rc);
	lfmap_read_lock(m);
	rc = lfmap_word_get_rcu(m, key, &v);
	lfmap_read_unlock(m);
	cr_assert_eq(rc, -ENOENT, "get_rcu(%#" PRIx64 ") = %d, expected -ENOENT", key, rc);
}

static size_t count_exact(struct lfmap *m)
{
	size_t n = (size_t)-1;
	int rc = lfmap_count_exact(m, &n);
	cr_assert_eq(rc, 0, "lfmap_count_exact returned %d", rc);
	return n;
}

/* ------------------------------------------------------------ create */

Test(word, create_null_cfg_uses_defaults)
{
	struct lfmap *m = lfmap_word_create(NULL);
	cr_assert_not_null(m, "lfmap_word_create(NULL) failed, errno %d", errno);
	cr_assert_eq(lfmap_word_put(m, 1, 2, NULL), 0);
	expect_val(m, 1, 2);
	destroy_ok(m);
}

Test(word, create_ignores_node_callbacks)
{
	struct tu_node_cb cb;
	struct lfmap_config cfg = tu_node_config(&cb, TU_HASH_GOOD);
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_word_create(&cfg);
	cr_assert_not_null(m);
	for (uint64_t k = 0; k < 100; k++)
		cr_assert_eq(lfmap_word_put(m, k, k, NULL), 0);
	for (uint64_t k = 0; k < 100; k++)
		expect_val(m, k, k);
	destroy_ok(m);
	cr_assert_eq(cb.hash_calls, 0, "word map called the node hash callback");
	cr_assert_eq(cb.node_free_calls, 0, "word map called node_free");
}

/* ------------------------------------------------------------ NULL map */

static int visit_count(uint64_t key, uint64_t val, void *arg)
{
	(void)key;
	(void)val;
	(*(size_t *)arg)++;
	return 0;
}

static int compute_set_1(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	(void)key;
	(void)cur;
	(void)arg;
	*newval = 1;
	return LFMAP_COMPUTE_SET;
}

Test(word, null_map_is_einval)
{
	uint64_t v = 0, e = 0;
	size_t n = 0;
	cr_assert_eq(lfmap_word_get(NULL, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_insert(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_put(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_replace(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_cas(NULL, 1, &e, 2), -EINVAL);
	cr_assert_eq(lfmap_word_fetch_add(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_remove(NULL, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_compute(NULL, 1, compute_set_1, NULL, &v), -EINVAL);
	cr_assert_eq(lfmap_word_foreach(NULL, visit_count, &n), -EINVAL);
	/* _rcu twins: hold the lock of some map for good measure */
	struct lfmap *other = new_word_map(0, 0);
	lfmap_read_lock(other);
	cr_assert_eq(lfmap_word_get_rcu(NULL, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_insert_rcu(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_put_rcu(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_replace_rcu(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_cas_rcu(NULL, 1, &e, 2), -EINVAL);
	cr_assert_eq(lfmap_word_fetch_add_rcu(NULL, 1, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_remove_rcu(NULL, 1, &v), -EINVAL);
	cr_assert_eq(lfmap_word_compute_rcu(NULL, 1, compute_set_1, NULL, &v), -EINVAL);
	cr_assert_eq(lfmap_word_foreach_rcu(NULL, visit_count, &n), -EINVAL);
	lfmap_read_unlock(other);
	cr_assert_eq(n, 0);
	destroy_ok(other);
}

Test(word, null_required_pointers_are_einval)
{
	struct lfmap *m = new_word_map(0, 0);
	cr_assert_eq(lfmap_word_put(m, 5, 50, NULL), 0);
	/* cas needs expected */
	cr_assert_eq(lfmap_word_cas(m, 5, NULL, 7), -EINVAL);
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_word_cas_rcu(m, 5, NULL, 7), -EINVAL);
	lfmap_read_unlock(m);
	expect_val(m, 5, 50);
	/* compute and foreach need fn */
	uint64_t old = SENT;
	cr_assert_eq(lfmap_word_compute(m, 5, NULL, NULL, &old), -EINVAL);
	cr_assert_eq(lfmap_word_compute(m, 6, NULL, NULL, &old), -EINVAL);
	cr_assert_eq(lfmap_word_foreach(m, NULL, NULL), -EINVAL);
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_word_compute_rcu(m, 5, NULL, NULL, &old), -EINVAL);
	cr_assert_eq(lfmap_word_foreach_rcu(m, NULL, NULL), -EINVAL);
	lfmap_read_unlock(m);
	expect_val(m, 5, 50);
	expect_absent(m, 6);
	cr_assert_eq(count_exact(m), 1);
	destroy_ok(m);
}

Test(word, optional_out_pointers_may_be_null)
{
	struct lfmap *m = new_word_map(0, 0);
	cr_assert_eq(lfmap_word_insert(m, 1, 10, NULL), 0);
	cr_assert_eq(lfmap_word_insert(m, 1, 11, NULL), -EEXIST);
	cr_assert_eq(lfmap_word_get(m, 1, NULL), 0);
	cr_assert_eq(lfmap_word_get(m, 2, NULL), -ENOENT);
	cr_assert_eq(lfmap_word_put(m, 2, 20, NULL), 0);
	cr_assert_eq(lfmap_word_put(m, 2, 21, NULL), 1);
	cr_assert_eq(lfmap_word_fetch_add(m, 3, 5, NULL), 0);
	cr_assert_eq(lfmap_word_fetch_add(m, 3, 5, NULL), 0);
	cr_assert_eq(lfmap_word_compute(m, 4, compute_set_1, NULL, NULL), LFMAP_COMPUTE_SET);
	cr_assert_eq(lfmap_word_remove(m, 1, NULL), 0);
	cr_assert_eq(lfmap_word_remove(m, 1, NULL), -ENOENT);
	expect_absent(m, 1);
	expect_val(m, 2, 21);
	expect_val(m, 3, 10);
	expect_val(m, 4, 1);
	/* replace documents *old unconditionally: NULL may be rejected, but
	 * then nothing may change */
	int rc = lfmap_word_replace(m, 2, 22, NULL);
	cr_assert(rc == 0 || rc == -EINVAL, "replace(old=NULL) = %d", rc);
	expect_val(m, 2, rc == 0 ? 22 : 21);
	destroy_ok(m);
}

/* ------------------------------------------------------------ wrong kind */

Test(word, wrong_kind_is_einval)
{
	struct tu_node_cb cb;
	struct lfmap_config cfg = tu_node_config(&cb, TU_HASH_GOOD);
	struct lfmap *maps[2];
	maps[0] = lfmap_create(&cfg);
	maps[1] = lfmap_str_create(NULL);
	cr_assert_not_null(maps[0]);
	cr_assert_not_null(maps[1]);
	/* put something in each so a wrong-kind access has data to misread */
	struct tu_node *n = tu_node_new(1, 1);
	lfmap_read_lock(maps[0]);
	cr_assert_eq(lfmap_insert_rcu(maps[0], &n->node, NULL), 0);
	lfmap_read_unlock(maps[0]);
	cr_assert_eq(lfmap_str_set(maps[1], "k", 1, "v", 1), 0);

	for (int i = 0; i < 2; i++) {
		struct lfmap *m = maps[i];
		uint64_t v = SENT, e = 1;
		size_t cnt = 0;
		cr_assert_eq(lfmap_word_get(m, 1, &v), -EINVAL, "map kind %d", i);
		cr_assert_eq(lfmap_word_insert(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_put(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_replace(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_cas(m, 1, &e, 2), -EINVAL);
		cr_assert_eq(lfmap_word_fetch_add(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_remove(m, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_compute(m, 1, compute_set_1, NULL, &v), -EINVAL);
		cr_assert_eq(lfmap_word_foreach(m, visit_count, &cnt), -EINVAL);
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_word_get_rcu(m, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_insert_rcu(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_put_rcu(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_replace_rcu(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_cas_rcu(m, 1, &e, 2), -EINVAL);
		cr_assert_eq(lfmap_word_fetch_add_rcu(m, 1, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_remove_rcu(m, 1, &v), -EINVAL);
		cr_assert_eq(lfmap_word_compute_rcu(m, 1, compute_set_1, NULL, &v), -EINVAL);
		cr_assert_eq(lfmap_word_foreach_rcu(m, visit_count, &cnt), -EINVAL);
		lfmap_read_unlock(m);
		cr_assert_eq(cnt, 0);
		size_t c = 0;
		cr_assert_eq(lfmap_count_exact(m, &c), 0);
		cr_assert_eq(c, 1, "wrong-kind calls changed map %d", i);
	}
	lfmap_read_lock(maps[0]);
	cr_assert_eq(lfmap_lookup_rcu(maps[0], &n->key), &n->node);
	lfmap_read_unlock(maps[0]);
	char buf[4];
	size_t vl = 0;
	cr_assert_eq(lfmap_str_get(maps[1], "k", 1, buf, sizeof(buf), &vl), 0);
	cr_assert_eq(vl, 1);
	cr_assert_eq(buf[0], 'v');

	/* and the word map rejects the other kinds' functions */
	struct lfmap *w = new_word_map(0, 0);
	cr_assert_eq(lfmap_word_put(w, 1, 1, NULL), 0);
	lfmap_read_lock(w);
	uint64_t key = 1;
	errno = 0;
	cr_assert_null(lfmap_lookup_rcu(w, &key));
	cr_assert_eq(errno, EINVAL);
	struct tu_node *n2 = tu_node_new(1, 2);
	struct lfmap_node *o = NULL;
	cr_assert_eq(lfmap_insert_rcu(w, &n2->node, &o), -EINVAL);
	cr_assert_eq(lfmap_upsert_rcu(w, &n2->node, &o), -EINVAL);
	cr_assert_eq(lfmap_remove_rcu(w, &key, &o), -EINVAL);
	const void *pv;
	size_t pl;
	cr_assert_eq(lfmap_str_get_rcu(w, "k", 1, &pv, &pl), -EINVAL);
	lfmap_read_unlock(w);
	cr_assert_eq(lfmap_str_set(w, "k", 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_get(w, "k", 1, buf, sizeof(buf), &vl), -EINVAL);
	expect_val(w, 1, 1);
	cr_assert_eq(count_exact(w), 1);
	destroy_ok(w);
	tu_node_delete(n2);

	lfmap_read_lock(maps[0]);
	struct lfmap_node *rm = NULL;
	cr_assert_eq(lfmap_remove_rcu(maps[0], &n->key, &rm), 0);
	lfmap_read_unlock(maps[0]);
	destroy_ok(maps[0]);
	destroy_ok(maps[1]);
	tu_node_delete(n);
}

/* ------------------------------------------------------------ basics */

Test(word, insert_get_remove)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t cur = SENT, old = SENT;
	expect_absent(m, 42);
	cr_assert_eq(lfmap_word_insert(m, 42, 4200, &cur), 0);
	expect_val(m, 42, 4200);
	cr_assert_eq(lfmap_word_insert(m, 42, 1, &cur), -EEXIST);
	cr_assert_eq(cur, 4200, "insert -EEXIST must report the present value");
	expect_val(m, 42, 4200);
	cr_assert_eq(lfmap_count_approx(m), 1);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_word_remove(m, 42, &old), 0);
	cr_assert_eq(old, 4200);
	expect_absent(m, 42);
	old = SENT;
	cr_assert_eq(lfmap_word_remove(m, 42, &old), -ENOENT);
	cr_assert_eq(lfmap_count_approx(m), 0);
	cr_assert_eq(count_exact(m), 0);
	/* reinsert after remove */
	cr_assert_eq(lfmap_word_insert(m, 42, 7, NULL), 0);
	expect_val(m, 42, 7);
	destroy_ok(m);
}

Test(word, put_returns_0_then_1)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t old = SENT;
	cr_assert_eq(lfmap_word_put(m, 9, 90, &old), 0);
	expect_val(m, 9, 90);
	cr_assert_eq(lfmap_word_put(m, 9, 91, &old), 1);
	cr_assert_eq(old, 90);
	expect_val(m, 9, 91);
	cr_assert_eq(lfmap_word_put(m, 9, 91, &old), 1, "put of the same value still replaces");
	cr_assert_eq(old, 91);
	cr_assert_eq(count_exact(m), 1);
	destroy_ok(m);
}

Test(word, replace_only_if_present)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t old = SENT;
	cr_assert_eq(lfmap_word_replace(m, 3, 30, &old), -ENOENT);
	expect_absent(m, 3);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_word_put(m, 3, 30, NULL), 0);
	cr_assert_eq(lfmap_word_replace(m, 3, 31, &old), 0);
	cr_assert_eq(old, 30);
	expect_val(m, 3, 31);
	cr_assert_eq(lfmap_word_remove(m, 3, NULL), 0);
	cr_assert_eq(lfmap_word_replace(m, 3, 32, &old), -ENOENT, "replace after remove");
	expect_absent(m, 3);
	destroy_ok(m);
}

Test(word, cas_paths)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t exp = 0;
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, 1), -ENOENT);
	expect_absent(m, 8);
	cr_assert_eq(lfmap_word_put(m, 8, 80, NULL), 0);
	exp = 79;
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, 1), -ECANCELED);
	cr_assert_eq(exp, 80, "-ECANCELED must update *expected to the current value");
	expect_val(m, 8, 80);
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, 81), 0);
	expect_val(m, 8, 81);
	exp = 81;
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, LFMAP_WORD_VALUE_MAX + 1), -ERANGE);
	expect_val(m, 8, 81);
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, LFMAP_WORD_VALUE_MAX), 0);
	expect_val(m, 8, LFMAP_WORD_VALUE_MAX);
	/* same value cas */
	exp = LFMAP_WORD_VALUE_MAX;
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, LFMAP_WORD_VALUE_MAX), 0);
	/* _rcu twin */
	lfmap_read_lock(m);
	exp = 5;
	cr_assert_eq(lfmap_word_cas_rcu(m, 8, &exp, 6), -ECANCELED);
	cr_assert_eq(exp, LFMAP_WORD_VALUE_MAX);
	cr_assert_eq(lfmap_word_cas_rcu(m, 8, &exp, 6), 0);
	lfmap_read_unlock(m);
	expect_val(m, 8, 6);
	cr_assert_eq(lfmap_word_remove(m, 8, NULL), 0);
	exp = 6;
	cr_assert_eq(lfmap_word_cas(m, 8, &exp, 7), -ENOENT, "cas on a removed key");
	expect_absent(m, 8);
	destroy_ok(m);
}

Test(word, erange_leaves_map_unchanged)
{
	struct lfmap *m = new_word_map(0, 0);
	const uint64_t bad[] = { LFMAP_WORD_VALUE_MAX + 1, UINT64_C(1) << 63, UINT64_MAX,
				 (UINT64_C(3) << 62) | 5 };
	uint64_t out = SENT;
	for (size_t i = 0; i < TU_ARRAY_SIZE(bad); i++) {
		cr_assert_eq(lfmap_word_insert(m, 1, bad[i], &out), -ERANGE, "insert %#" PRIx64,
			     bad[i]);
		cr_assert_eq(lfmap_word_put(m, 1, bad[i], &out), -ERANGE);
		cr_assert_eq(lfmap_word_replace(m, 1, bad[i], &out), -ERANGE);
		cr_assert_eq(lfmap_word_insert(m, 0, bad[i], &out), -ERANGE, "key 0");
		cr_assert_eq(lfmap_word_put(m, 0, bad[i], &out), -ERANGE, "key 0");
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_word_insert_rcu(m, 1, bad[i], &out), -ERANGE);
		cr_assert_eq(lfmap_word_put_rcu(m, 1, bad[i], &out), -ERANGE);
		cr_assert_eq(lfmap_word_replace_rcu(m, 1, bad[i], &out), -ERANGE);
		lfmap_read_unlock(m);
	}
	expect_absent(m, 1);
	expect_absent(m, 0);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_word_put(m, 1, 11, NULL), 0);
	cr_assert_eq(lfmap_word_put(m, 0, 22, NULL), 0);
	for (size_t i = 0; i < TU_ARRAY_SIZE(bad); i++) {
		cr_assert_eq(lfmap_word_put(m, 1, bad[i], &out), -ERANGE);
		cr_assert_eq(lfmap_word_replace(m, 1, bad[i], &out), -ERANGE);
		cr_assert_eq(lfmap_word_replace(m, 0, bad[i], &out), -ERANGE);
		int rc = lfmap_word_insert(m, 1, bad[i], &out);
		cr_assert(rc == -ERANGE || rc == -EEXIST, "insert of bad value on present key = %d",
			  rc);
	}
	expect_val(m, 1, 11);
	expect_val(m, 0, 22);
	/* the maximum itself is fine */
	cr_assert_eq(lfmap_word_put(m, 1, LFMAP_WORD_VALUE_MAX, NULL), 1);
	expect_val(m, 1, LFMAP_WORD_VALUE_MAX);
	cr_assert_eq(lfmap_word_insert(m, 2, LFMAP_WORD_VALUE_MAX, NULL), 0);
	expect_val(m, 2, LFMAP_WORD_VALUE_MAX);
	cr_assert_eq(lfmap_word_insert(m, 3, 0, NULL), 0, "value 0 is a valid value");
	expect_val(m, 3, 0);
	cr_assert_eq(count_exact(m), 4);
	destroy_ok(m);
}

/* Values that look like the map's internal encodings must round-trip. */
Test(word, tricky_values_roundtrip)
{
	struct lfmap *m = new_word_map(0, 0);
	const uint64_t vals[] = { 0, 1, 2, 3, 4, 5, 8, 0xff, LFMAP_WORD_VALUE_MAX,
				  LFMAP_WORD_VALUE_MAX - 1, UINT64_C(1) << 61,
				  (uint64_t)(uintptr_t)&vals };
	for (size_t i = 0; i < TU_ARRAY_SIZE(vals); i++) {
		cr_assert_eq(lfmap_word_put(m, 100 + i, vals[i], NULL), 0);
		cr_assert_eq(lfmap_word_put(m, 0, vals[i], NULL), i == 0 ? 0 : 1);
		expect_val(m, 0, vals[i]);
	}
	for (size_t i = 0; i < TU_ARRAY_SIZE(vals); i++)
		expect_val(m, 100 + i, vals[i]);
	cr_assert_eq(count_exact(m), TU_ARRAY_SIZE(vals) + 1);
	destroy_ok(m);
}

/* ------------------------------------------------------------ key 0 */

struct seen {
	uint64_t key[64];
	uint64_t val[64];
	size_t n;
};

static int visit_record(uint64_t key, uint64_t val, void *arg)
{
	struct seen *s = arg;
	cr_assert_lt(s->n, TU_ARRAY_SIZE(s->key), "foreach visited too many entries");
	s->key[s->n] = key;
	s->val[s->n] = val;
	s->n++;
	return 0;
}

static const uint64_t *find_seen(const struct seen *s, uint64_t key, size_t *times)
{
	const uint64_t *v = NULL;
	*times = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->key[i] == key) {
			v = &s->val[i];
			(*times)++;
		}
	return v;
}

static int compute_add_or_init(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	(void)key;
	uint64_t add = *(uint64_t *)arg;
	*newval = cur ? *cur + add : add;
	return LFMAP_COMPUTE_SET;
}

static int compute_remove(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	(void)key;
	(void)cur;
	(void)newval;
	(void)arg;
	return LFMAP_COMPUTE_REMOVE;
}

Test(word, key_zero_is_an_ordinary_key)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t out = SENT, exp;
	expect_absent(m, 0);
	cr_assert_eq(lfmap_word_replace(m, 0, 1, &out), -ENOENT);
	exp = 0;
	cr_assert_eq(lfmap_word_cas(m, 0, &exp, 1), -ENOENT);
	cr_assert_eq(lfmap_word_remove(m, 0, &out), -ENOENT);
	cr_assert_eq(lfmap_count_approx(m), 0);
	cr_assert_eq(lfmap_word_insert(m, 0, 0, &out), 0, "insert key 0 value 0");
	expect_val(m, 0, 0);
	cr_assert_eq(lfmap_count_approx(m), 1, "key 0 must be counted");
	cr_assert_eq(count_exact(m), 1, "key 0 must be counted");
	cr_assert_eq(lfmap_word_insert(m, 0, 5, &out), -EEXIST);
	cr_assert_eq(out, 0);
	cr_assert_eq(lfmap_word_put(m, 0, 10, &out), 1);
	cr_assert_eq(out, 0);
	cr_assert_eq(lfmap_word_replace(m, 0, 11, &out), 0);
	cr_assert_eq(out, 10);
	exp = 10;
	cr_assert_eq(lfmap_word_cas(m, 0, &exp, 12), -ECANCELED);
	cr_assert_eq(exp, 11);
	cr_assert_eq(lfmap_word_cas(m, 0, &exp, 12), 0);
	cr_assert_eq(lfmap_word_fetch_add(m, 0, 3, &out), 0);
	cr_assert_eq(out, 12);
	expect_val(m, 0, 15);
	uint64_t add = 5;
	cr_assert_eq(lfmap_word_compute(m, 0, compute_add_or_init, &add, &out), LFMAP_COMPUTE_SET);
	cr_assert_eq(out, 15);
	expect_val(m, 0, 20);
	/* neighbours do not alias key 0 */
	cr_assert_eq(lfmap_word_put(m, 1, 1, NULL), 0);
	cr_assert_eq(lfmap_word_put(m, UINT64_MAX, 2, NULL), 0);
	cr_assert_eq(lfmap_word_put(m, UINT64_C(1) << 63, 3, NULL), 0);
	expect_val(m, 0, 20);
	expect_val(m, 1, 1);
	expect_val(m, UINT64_MAX, 2);
	expect_val(m, UINT64_C(1) << 63, 3);
	struct seen s = { .n = 0 };
	cr_assert_eq(lfmap_word_foreach(m, visit_record, &s), 0);
	cr_assert_eq(s.n, 4);
	size_t times;
	const uint64_t *v = find_seen(&s, 0, &times);
	cr_assert_eq(times, 1, "foreach must visit key 0 exactly once");
	cr_assert_eq(*v, 20);
	cr_assert_eq(count_exact(m), 4);
	cr_assert_eq(lfmap_count_approx(m), 4);
	cr_assert_eq(lfmap_word_compute(m, 0, compute_remove, NULL, &out), LFMAP_COMPUTE_REMOVE);
	cr_assert_eq(out, 20);
	expect_absent(m, 0);
	cr_assert_eq(count_exact(m), 3);
	cr_assert_eq(lfmap_word_fetch_add(m, 0, -1, &out), 0);
	cr_assert_eq(out, 0);
	expect_val(m, 0, LFMAP_WORD_VALUE_MAX);
	cr_assert_eq(lfmap_word_remove(m, 0, &out), 0);
	cr_assert_eq(out, LFMAP_WORD_VALUE_MAX);
	expect_absent(m, 0);
	cr_assert_eq(count_exact(m), 3);
	cr_assert_eq(lfmap_count_approx(m), 3);
	destroy_ok(m);
}

Test(word, key_zero_survives_migrations)
{
	struct lfmap *m = new_word_map(LFMAP_F_NO_BACKGROUND, 0);
	cr_assert_eq(lfmap_word_put(m, 0, 77, NULL), 0);
	for (uint64_t k = 1; k <= 200; k++)
		cr_assert_eq(lfmap_word_put(m, k, k, NULL), 0);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	expect_val(m, 0, 77);
	cr_assert_eq(lfmap_word_put(m, 0, 78, NULL), 1);
	tu_finish_migration(m);
	expect_val(m, 0, 78);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_COMPACT), 0);
	tu_finish_migration(m);
	expect_val(m, 0, 78);
	cr_assert_eq(count_exact(m), 201);
	destroy_ok(m);
}

/* ------------------------------------------------------------ fetch_add */

Test(word, fetch_add_arithmetic)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t old = SENT;
	cr_assert_eq(lfmap_word_fetch_add(m, 1, 5, &old), 0);
	cr_assert_eq(old, 0, "absent key counts as 0");
	expect_val(m, 1, 5);
	cr_assert_eq(lfmap_word_fetch_add(m, 1, -2, &old), 0);
	cr_assert_eq(old, 5);
	expect_val(m, 1, 3);
	cr_assert_eq(lfmap_word_fetch_add(m, 1, 0, &old), 0);
	cr_assert_eq(old, 3);
	expect_val(m, 1, 3);
	/* wrap below zero */
	cr_assert_eq(lfmap_word_fetch_add(m, 1, -4, &old), 0);
	cr_assert_eq(old, 3);
	expect_val(m, 1, LFMAP_WORD_VALUE_MAX);
	/* wrap above the maximum */
	cr_assert_eq(lfmap_word_fetch_add(m, 1, 2, &old), 0);
	cr_assert_eq(old, LFMAP_WORD_VALUE_MAX);
	expect_val(m, 1, 1);
	/* absent key, negative delta */
	cr_assert_eq(lfmap_word_fetch_add(m, 2, -1, &old), 0);
	cr_assert_eq(old, 0);
	expect_val(m, 2, LFMAP_WORD_VALUE_MAX);
	/* extreme deltas: INT64_MIN = -2^63 = 0 mod 2^62; INT64_MAX = 2^62-1 mod 2^62 */
	cr_assert_eq(lfmap_word_fetch_add(m, 3, INT64_MIN, &old), 0);
	expect_val(m, 3, 0);
	cr_assert_eq(lfmap_word_fetch_add(m, 3, INT64_MAX, &old), 0);
	cr_assert_eq(old, 0);
	expect_val(m, 3, LFMAP_WORD_VALUE_MAX);
	cr_assert_eq(lfmap_word_fetch_add(m, 3, INT64_MAX, &old), 0);
	cr_assert_eq(old, LFMAP_WORD_VALUE_MAX);
	expect_val(m, 3, LFMAP_WORD_VALUE_MAX - 1);
	cr_assert_eq(lfmap_word_fetch_add(m, 3, (int64_t)(UINT64_C(1) << 62), &old), 0);
	expect_val(m, 3, LFMAP_WORD_VALUE_MAX - 1);
	/* _rcu twin */
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_word_fetch_add_rcu(m, 4, 40, &old), 0);
	cr_assert_eq(old, 0);
	cr_assert_eq(lfmap_word_fetch_add_rcu(m, 4, 2, &old), 0);
	cr_assert_eq(old, 40);
	lfmap_read_unlock(m);
	expect_val(m, 4, 42);
	cr_assert_eq(count_exact(m), 4);
	/* after remove, counts from 0 again */
	cr_assert_eq(lfmap_word_remove(m, 4, NULL), 0);
	cr_assert_eq(lfmap_word_fetch_add(m, 4, 1, &old), 0);
	cr_assert_eq(old, 0);
	expect_val(m, 4, 1);
	destroy_ok(m);
}

/* ------------------------------------------------------------ compute */

struct cverdict {
	int if_absent, if_present;
	uint64_t setval;
	int calls;
	bool saw_present;
	uint64_t saw_val;
	uint64_t saw_key;
};

static int compute_rule(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	struct cverdict *c = arg;
	c->calls++;
	c->saw_key = key;
	c->saw_present = cur != NULL;
	c->saw_val = cur ? *cur : 0;
	*newval = c->setval;
	return cur ? c->if_present : c->if_absent;
}

static int do_compute(struct lfmap *m, bool rcu, uint64_t key, struct cverdict *c, uint64_t *old)
{
	c->calls = 0;
	if (!rcu)
		return lfmap_word_compute(m, key, compute_rule, c, old);
	lfmap_read_lock(m);
	int rc = lfmap_word_compute_rcu(m, key, compute_rule, c, old);
	lfmap_read_unlock(m);
	return rc;
}

static void compute_verdicts(bool rcu, uint64_t key)
{
	struct lfmap *m = new_word_map(0, 0);
	struct cverdict c = { 0 };
	uint64_t old;

	/* KEEP on absent: nothing inserted, *old untouched */
	c = (struct cverdict){ .if_absent = LFMAP_COMPUTE_KEEP, .if_present = LFMAP_COMPUTE_KEEP };
	old = SENT;
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), LFMAP_COMPUTE_KEEP);
	cr_assert_geq(c.calls, 1);
	cr_assert_eq(c.saw_key, key, "fn must get the key");
	cr_assert(!c.saw_present, "fn saw a value for an absent key");
	cr_assert_eq(old, SENT, "*old must be untouched when the key was absent");
	expect_absent(m, key);

	/* REMOVE on absent: nothing happens */
	c = (struct cverdict){ .if_absent = LFMAP_COMPUTE_REMOVE };
	old = SENT;
	int rc = do_compute(m, rcu, key, &c, &old);
	cr_assert(rc == LFMAP_COMPUTE_REMOVE || rc == LFMAP_COMPUTE_KEEP,
		  "REMOVE on absent returned %d", rc);
	cr_assert_eq(old, SENT);
	expect_absent(m, key);

	/* SET on absent: inserted, *old untouched */
	c = (struct cverdict){ .if_absent = LFMAP_COMPUTE_SET, .setval = 123 };
	old = SENT;
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), LFMAP_COMPUTE_SET);
	cr_assert_eq(old, SENT);
	expect_val(m, key, 123);
	cr_assert_eq(count_exact(m), 1);

	/* KEEP on present: *old gets the value */
	c = (struct cverdict){ .if_present = LFMAP_COMPUTE_KEEP, .setval = 999 };
	old = SENT;
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), LFMAP_COMPUTE_KEEP);
	cr_assert(c.saw_present);
	cr_assert_eq(c.saw_val, 123);
	cr_assert_eq(old, 123);
	expect_val(m, key, 123);

	/* SET on present */
	c = (struct cverdict){ .if_present = LFMAP_COMPUTE_SET, .setval = 456 };
	old = SENT;
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), LFMAP_COMPUTE_SET);
	cr_assert_eq(old, 123);
	expect_val(m, key, 456);
	cr_assert_eq(count_exact(m), 1);

	/* SET with a value out of range: -ERANGE, unchanged */
	c = (struct cverdict){ .if_present = LFMAP_COMPUTE_SET,
			       .setval = LFMAP_WORD_VALUE_MAX + 1 };
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), -ERANGE);
	expect_val(m, key, 456);

	/* REMOVE on present */
	c = (struct cverdict){ .if_present = LFMAP_COMPUTE_REMOVE };
	old = SENT;
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), LFMAP_COMPUTE_REMOVE);
	cr_assert_eq(old, 456);
	expect_absent(m, key);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_count_approx(m), 0);

	/* SET out of range on absent: not inserted */
	c = (struct cverdict){ .if_absent = LFMAP_COMPUTE_SET, .setval = UINT64_MAX };
	cr_assert_eq(do_compute(m, rcu, key, &c, &old), -ERANGE);
	expect_absent(m, key);
	cr_assert_eq(count_exact(m), 0);
	destroy_ok(m);
}

Test(word, compute_verdicts)
{
	compute_verdicts(false, 77);
}

Test(word, compute_verdicts_rcu)
{
	compute_verdicts(true, 77);
}

Test(word, compute_verdicts_key0)
{
	compute_verdicts(false, 0);
	compute_verdicts(true, 0);
}

/* ------------------------------------------------------------ _rcu twins */

Test(word, rcu_variants)
{
	struct lfmap *m = new_word_map(0, 0);
	uint64_t out = SENT;
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_word_get_rcu(m, 1, &out), -ENOENT);
	cr_assert_eq(lfmap_word_insert_rcu(m, 1, 10, &out), 0);
	cr_assert_eq(lfmap_word_insert_rcu(m, 1, 11, &out), -EEXIST);
	cr_assert_eq(out, 10);
	cr_assert_eq(lfmap_word_put_rcu(m, 2, 20, &out), 0);
	cr_assert_eq(lfmap_word_put_rcu(m, 2, 21, &out), 1);
	cr_assert_eq(out, 20);
	cr_assert_eq(lfmap_word_replace_rcu(m, 3, 30, &out), -ENOENT);
	cr_assert_eq(lfmap_word_replace_rcu(m, 2, 22, &out), 0);
	cr_assert_eq(out, 21);
	cr_assert_eq(lfmap_word_get_rcu(m, 2, &out), 0);
	cr_assert_eq(out, 22);
	cr_assert_eq(lfmap_word_remove_rcu(m, 1, &out), 0);
	cr_assert_eq(out, 10);
	cr_assert_eq(lfmap_word_remove_rcu(m, 1, &out), -ENOENT);
	size_t n = 0;
	cr_assert_eq(lfmap_word_foreach_rcu(m, visit_count, &n), 0);
	cr_assert_eq(n, 1);
	/* nested read lock is allowed with the plain functions too */
	cr_assert_eq(lfmap_word_put(m, 5, 50, NULL), 0);
	lfmap_read_unlock(m);
	expect_val(m, 2, 22);
	expect_val(m, 5, 50);
	expect_absent(m, 1);
	destroy_ok(m);
}

/* ------------------------------------------------------------ foreach */

struct stopper {
	int after;
	int seen;
	int ret;
};

static int visit_stop(uint64_t key, uint64_t val, void *arg)
{
	(void)key;
	(void)val;
	struct stopper *s = arg;
	s->seen++;
	return s->seen == s->after ? s->ret : 0;
}

Test(word, foreach_stop_values)
{
	struct lfmap *m = new_word_map(0, 0);
	/* empty map: fn never called */
	struct stopper st = { .after = 1, .ret = 5 };
	cr_assert_eq(lfmap_word_foreach(m, visit_stop, &st), 0);
	cr_assert_eq(st.seen, 0);
	for (uint64_t k = 0; k < 50; k++)
		cr_assert_eq(lfmap_word_put(m, k * 1000003, k, NULL), 0);
	const int rets[] = { 1, 42, -3, INT32_MAX };
	for (size_t i = 0; i < TU_ARRAY_SIZE(rets); i++) {
		st = (struct stopper){ .after = 7, .ret = rets[i] };
		cr_assert_eq(lfmap_word_foreach(m, visit_stop, &st), rets[i]);
		cr_assert_eq(st.seen, 7, "foreach went on after a stop value");
		st = (struct stopper){ .after = 7, .ret = rets[i] };
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_word_foreach_rcu(m, visit_stop, &st), rets[i]);
		lfmap_read_unlock(m);
		cr_assert_eq(st.seen, 7);
	}
	/* stop on the last entry */
	st = (struct stopper){ .after = 50, .ret = 9 };
	cr_assert_eq(lfmap_word_foreach(m, visit_stop, &st), 9);
	/* never stop */
	st = (struct stopper){ .after = 1000, .ret = 9 };
	cr_assert_eq(lfmap_word_foreach(m, visit_stop, &st), 0);
	cr_assert_eq(st.seen, 50);
	destroy_ok(m);
}

struct bigseen {
	uint8_t *hits; /* per key index */
	uint64_t nkeys;
	uint64_t bad;
};

static int visit_bitmap(uint64_t key, uint64_t val, void *arg)
{
	struct bigseen *b = arg;
	/* keys are k*7919+1 for k < nkeys, value k */
	if (key == 0 || (key - 1) % 7919 != 0 || (key - 1) / 7919 >= b->nkeys ||
	    val != (key - 1) / 7919) {
		b->bad++;
		return 0;
	}
	b->hits[(key - 1) / 7919]++;
	return 0;
}

static void check_bitmap(struct lfmap *m, uint64_t nkeys, const char *when)
{
	struct bigseen b = { .hits = calloc(nkeys, 1), .nkeys = nkeys };
	cr_assert_eq(lfmap_word_foreach(m, visit_bitmap, &b), 0);
	cr_assert_eq(b.bad, 0, "%s: foreach visited foreign keys/values", when);
	for (uint64_t k = 0; k < nkeys; k++)
		cr_assert_eq(b.hits[k], 1, "%s: key index %" PRIu64 " visited %d times", when, k,
			     b.hits[k]);
	free(b.hits);
	size_t c = count_exact(m);
	cr_assert_eq(c, nkeys, "%s: count_exact %zu", when, c);
}

Test(word, foreach_during_migration_visits_each_once)
{
	struct lfmap *m = new_word_map(LFMAP_F_NO_BACKGROUND, 0);
	const uint64_t n = 3000;
	for (uint64_t k = 0; k < n; k++)
		cr_assert_eq(lfmap_word_put(m, k * 7919 + 1, k, NULL), 0);
	tu_finish_migration(m);
	check_bitmap(m, n, "quiet");
	const enum lfmap_resize kinds[] = { LFMAP_RESIZE_GROW, LFMAP_RESIZE_COMPACT,
					    LFMAP_RESIZE_SHRINK };
	for (size_t i = 0; i < TU_ARRAY_SIZE(kinds); i++) {
		cr_assert_eq(tu_resize_retry(m, kinds[i]), 0, "resize kind %d", kinds[i]);
		check_bitmap(m, n, "just started");
		for (int s = 0; s < 5; s++) {
			int rc = lfmap_migrate_step(m, 3);
			cr_assert(rc == 0 || rc == 1);
			check_bitmap(m, n, "mid-migration");
		}
		tu_finish_migration(m);
		check_bitmap(m, n, "finished");
	}
	destroy_ok(m);
}

static int visit_remove_self(uint64_t key, uint64_t val, void *arg)
{
	struct lfmap *m = arg;
	uint64_t old = SENT;
	int rc = lfmap_word_remove_rcu(m, key, &old);
	cr_assert_eq(rc, 0, "remove of visited key %#" PRIx64 " = %d", key, rc);
	cr_assert_eq(old, val);
	return 0;
}

Test(word, foreach_may_update_the_map)
{
	struct lfmap *m = new_word_map(LFMAP_F_NO_BACKGROUND, 0);
	for (uint64_t k = 0; k < 1000; k++)
		cr_assert_eq(lfmap_word_put(m, k, k + 1, NULL), 0);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	/* the removes help the migration while the iteration runs */
	cr_assert_eq(lfmap_word_foreach(m, visit_remove_self, m), 0);
	cr_assert_eq(count_exact(m), 0, "every key present before the iteration was visited");
	for (uint64_t k = 0; k < 1000; k++)
		expect_absent(m, k);
	destroy_ok(m);
}

/* ------------------------------------------------------------ scale */

Test(word, many_keys_auto_grow_and_shrink)
{
	struct lfmap *m = new_word_map(0, 0);
	const uint64_t n = 50000;
	/* keys with structure that weak hashes handle badly */
	for (uint64_t k = 0; k < n; k++)
		cr_assert_eq(lfmap_word_insert(m, k << 32, k, NULL), 0, "insert %" PRIu64, k);
	for (uint64_t k = 0; k < n; k++)
		expect_val(m, k << 32, k);
	cr_assert_eq(count_exact(m), n);
	cr_assert_eq(lfmap_count_approx(m), n);
	struct lfmap_stats st = tu_stats(m);
	cr_assert_geq(st.grows, 1, "50000 inserts into the smallest table never grew");
	cr_assert_eq(st.entries, n);
	for (uint64_t k = 0; k < n; k++)
		cr_assert_eq(lfmap_word_remove(m, k << 32, NULL), 0, "remove %" PRIu64, k);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_count_approx(m), 0);
	/* shrinking waits for grace periods and for load checks (run by
	 * updates): give it a few rounds of both */
	for (int round = 0; round < 30 && tu_stats(m).shrinks == 0; round++) {
		lfmap_migrate_step(m, 0);
		tu_quiesce();
		for (uint64_t k = 0; k < 64; k++) {
			cr_assert_eq(lfmap_word_put(m, 7, k, NULL), k == 0 ? 0 : 1);
		}
		cr_assert_eq(lfmap_word_remove(m, 7, NULL), 0);
	}
	lfmap_migrate_step(m, 0);
	st = tu_stats(m);
	cr_assert_geq(st.shrinks, 1, "removing every key never shrank");
	cr_assert_eq(count_exact(m), 0);
	destroy_ok(m);
}
