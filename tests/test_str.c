/*
 * test_str.c - unit tests of the byte-string map (<lfmap/str.h>): set, add,
 * replace, del, get (-ENOSPC), get_rcu, compute, foreach_rcu, zero-length
 * keys and values, binary keys, large values, the key length limit, error
 * paths, and destroy freeing library-owned nodes through the allocator.
 */
#include <sys/mman.h>

#include "testutil.h"

TestSuite(str, .init = tu_rcu_init, .fini = tu_rcu_fini);

static struct lfmap *new_str_map(unsigned flags)
{
	struct lfmap_config cfg = tu_config();
	cfg.flags = flags;
	struct lfmap *m = lfmap_str_create(&cfg);
	cr_assert_not_null(m, "lfmap_str_create failed: errno %d", errno);
	return m;
}

static void destroy_ok(struct lfmap *m)
{
	int rc = lfmap_destroy(m);
	cr_assert_eq(rc, 0, "lfmap_destroy returned %d", rc);
}

static size_t count_exact(struct lfmap *m)
{
	size_t n = (size_t)-1;
	cr_assert_eq(lfmap_count_exact(m, &n), 0);
	return n;
}

/* Check key -> value through lfmap_str_get and lfmap_str_get_rcu. */
static void expect_val(struct lfmap *m, const void *key, size_t klen, const void *val,
		       size_t vlen)
{
	size_t bufsz = vlen + 16;
	unsigned char *buf = malloc(bufsz);
	memset(buf, 0xEE, bufsz);
	size_t got = (size_t)-1;
	int rc = lfmap_str_get(m, key, klen, buf, bufsz, &got);
	cr_assert_eq(rc, 0, "str_get(klen %zu) = %d", klen, rc);
	cr_assert_eq(got, vlen, "value length %zu, expected %zu", got, vlen);
	cr_assert(vlen == 0 || memcmp(buf, val, vlen) == 0, "value bytes differ");
	cr_assert_eq(buf[vlen], 0xEE, "str_get wrote past the value");
	/* exact-size buffer */
	got = (size_t)-1;
	rc = lfmap_str_get(m, key, klen, buf, vlen, &got);
	cr_assert_eq(rc, 0, "str_get with bufsz == vlen = %d", rc);
	cr_assert_eq(got, vlen);
	free(buf);

	const void *p = NULL;
	got = (size_t)-1;
	lfmap_read_lock(m);
	rc = lfmap_str_get_rcu(m, key, klen, &p, &got);
	cr_assert_eq(rc, 0, "str_get_rcu = %d", rc);
	cr_assert_eq(got, vlen);
	cr_assert(vlen == 0 || memcmp(p, val, vlen) == 0, "get_rcu value bytes differ");
	lfmap_read_unlock(m);
}

static void expect_absent(struct lfmap *m, const void *key, size_t klen)
{
	char buf[8];
	size_t got = 12345;
	cr_assert_eq(lfmap_str_get(m, key, klen, buf, sizeof(buf), &got), -ENOENT);
	const void *p = NULL;
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_str_get_rcu(m, key, klen, &p, &got), -ENOENT);
	lfmap_read_unlock(m);
}

/* ------------------------------------------------------------ basics */

Test(str, create_null_cfg)
{
	struct lfmap *m = lfmap_str_create(NULL);
	cr_assert_not_null(m);
	cr_assert_eq(lfmap_str_set(m, "a", 1, "b", 1), 0);
	expect_val(m, "a", 1, "b", 1);
	destroy_ok(m);
}

Test(str, set_add_replace_del)
{
	struct lfmap *m = new_str_map(0);
	expect_absent(m, "alpha", 5);
	cr_assert_eq(lfmap_str_replace(m, "alpha", 5, "x", 1), -ENOENT);
	expect_absent(m, "alpha", 5);
	cr_assert_eq(lfmap_str_add(m, "alpha", 5, "one", 3), 0);
	expect_val(m, "alpha", 5, "one", 3);
	cr_assert_eq(lfmap_str_add(m, "alpha", 5, "two", 3), -EEXIST);
	expect_val(m, "alpha", 5, "one", 3);
	cr_assert_eq(lfmap_str_set(m, "alpha", 5, "three", 5), 1);
	expect_val(m, "alpha", 5, "three", 5);
	cr_assert_eq(lfmap_str_set(m, "beta", 4, "b", 1), 0);
	cr_assert_eq(lfmap_str_replace(m, "beta", 4, "bb", 2), 0);
	expect_val(m, "beta", 4, "bb", 2);
	cr_assert_eq(count_exact(m), 2);
	cr_assert_eq(lfmap_count_approx(m), 2);
	cr_assert_eq(lfmap_str_del(m, "alpha", 5), 0);
	cr_assert_eq(lfmap_str_del(m, "alpha", 5), -ENOENT);
	expect_absent(m, "alpha", 5);
	expect_val(m, "beta", 4, "bb", 2);
	cr_assert_eq(count_exact(m), 1);
	cr_assert_eq(lfmap_count_approx(m), 1);
	cr_assert_eq(lfmap_str_add(m, "alpha", 5, "again", 5), 0, "add after del");
	expect_val(m, "alpha", 5, "again", 5);
	destroy_ok(m);
}

Test(str, keys_are_bytes_not_c_strings)
{
	struct lfmap *m = new_str_map(0);
	const char k1[] = { 'a', 0, 'b' };
	const char k2[] = { 'a', 0, 'c' };
	cr_assert_eq(lfmap_str_set(m, "a", 1, "1", 1), 0);
	cr_assert_eq(lfmap_str_set(m, "ab", 2, "2", 1), 0);
	cr_assert_eq(lfmap_str_set(m, k1, 3, "3", 1), 0);
	cr_assert_eq(lfmap_str_set(m, k2, 3, "4", 1), 0);
	cr_assert_eq(lfmap_str_set(m, k1, 2, "5", 1), 0, "prefix of k1 (\"a\\0\")");
	expect_val(m, "a", 1, "1", 1);
	expect_val(m, "ab", 2, "2", 1);
	expect_val(m, k1, 3, "3", 1);
	expect_val(m, k2, 3, "4", 1);
	expect_val(m, k1, 2, "5", 1);
	/* the map copies the key: changing the caller's buffer changes nothing */
	char mut[4] = "xyz";
	cr_assert_eq(lfmap_str_set(m, mut, 3, "6", 1), 0);
	mut[0] = 'q';
	expect_absent(m, "qyz", 3);
	expect_val(m, "xyz", 3, "6", 1);
	cr_assert_eq(count_exact(m), 6);
	destroy_ok(m);
}

Test(str, value_is_copied)
{
	struct lfmap *m = new_str_map(0);
	char v[6] = "hello";
	cr_assert_eq(lfmap_str_set(m, "k", 1, v, 5), 0);
	memcpy(v, "HELLO", 5);
	expect_val(m, "k", 1, "hello", 5);
	destroy_ok(m);
}

Test(str, zero_length_keys_and_values)
{
	struct lfmap *m = new_str_map(0);
	expect_absent(m, "", 0);
	expect_absent(m, NULL, 0);
	cr_assert_eq(lfmap_str_set(m, NULL, 0, "empty-key", 9), 0);
	expect_val(m, "", 0, "empty-key", 9);
	expect_val(m, NULL, 0, "empty-key", 9);
	expect_val(m, "ignored", 0, "empty-key", 9);
	cr_assert_eq(lfmap_str_add(m, "", 0, "x", 1), -EEXIST);
	cr_assert_eq(lfmap_str_set(m, "", 0, "", 0), 1, "zero-length value");
	expect_val(m, NULL, 0, "", 0);
	cr_assert_eq(lfmap_str_set(m, "z", 1, NULL, 0), 0, "NULL value with length 0");
	expect_val(m, "z", 1, "", 0);
	cr_assert_eq(count_exact(m), 2);
	/* get of an empty value into a zero-size buffer is not -ENOSPC */
	char b;
	size_t vl = 99;
	cr_assert_eq(lfmap_str_get(m, "z", 1, &b, 0, &vl), 0);
	cr_assert_eq(vl, 0);
	cr_assert_eq(lfmap_str_replace(m, NULL, 0, "r", 1), 0);
	expect_val(m, "", 0, "r", 1);
	cr_assert_eq(lfmap_str_del(m, NULL, 0), 0);
	expect_absent(m, "", 0);
	cr_assert_eq(lfmap_str_del(m, "", 0), -ENOENT);
	cr_assert_eq(count_exact(m), 1);
	destroy_ok(m);
}

Test(str, get_enospc)
{
	struct lfmap *m = new_str_map(0);
	const char *v = "0123456789";
	cr_assert_eq(lfmap_str_set(m, "k", 1, v, 10), 0);
	char buf[16];
	memset(buf, '#', sizeof(buf));
	size_t vl = 0;
	cr_assert_eq(lfmap_str_get(m, "k", 1, buf, 4, &vl), -ENOSPC);
	cr_assert_eq(vl, 10, "-ENOSPC must still report the full length");
	cr_assert(memcmp(buf, "0123", 4) == 0, "buf must hold the first bufsz bytes");
	cr_assert_eq(buf[4], '#', "wrote past bufsz");
	vl = 0;
	cr_assert_eq(lfmap_str_get(m, "k", 1, buf, 0, &vl), -ENOSPC);
	cr_assert_eq(vl, 10);
	cr_assert_eq(buf[0], '0');
	cr_assert_eq(lfmap_str_get(m, "k", 1, buf, 9, NULL), -ENOSPC);
	cr_assert_eq(buf[9], '#');
	cr_assert_eq(lfmap_str_get(m, "k", 1, buf, 10, &vl), 0);
	cr_assert_eq(lfmap_str_get(m, "k", 1, buf, 11, &vl), 0);
	cr_assert_eq(buf[10], '#');
	destroy_ok(m);
}

Test(str, large_values)
{
	struct lfmap *m = new_str_map(0);
	size_t sizes[] = { 63, 64, 65, 4095, 4096, 4097, 1 << 20 };
	for (size_t i = 0; i < TU_ARRAY_SIZE(sizes); i++) {
		unsigned char *v = malloc(sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			v[j] = (unsigned char)(j * 131 + i);
		char key[32];
		int kl = snprintf(key, sizeof(key), "big%zu", i);
		cr_assert_eq(lfmap_str_set(m, key, (size_t)kl, v, sizes[i]), 0);
		expect_val(m, key, (size_t)kl, v, sizes[i]);
		free(v);
	}
	/* a long key */
	size_t kl = 100000;
	char *lk = malloc(kl);
	memset(lk, 'K', kl);
	cr_assert_eq(lfmap_str_set(m, lk, kl, "long", 4), 0);
	expect_val(m, lk, kl, "long", 4);
	lk[kl - 1] = 'J';
	expect_absent(m, lk, kl);
	expect_absent(m, lk, kl - 1);
	free(lk);
	destroy_ok(m);
}

/* ------------------------------------------------------------ errors */

static int cmp_keep(const void *cur, size_t curlen, const void **newval, size_t *newlen,
		    void *arg)
{
	(void)cur;
	(void)curlen;
	(void)newval;
	(void)newlen;
	(void)arg;
	return LFMAP_COMPUTE_KEEP;
}

static int visit_count(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(*(size_t *)arg)++;
	return 0;
}

Test(str, null_arguments_are_einval)
{
	struct lfmap *m = new_str_map(0);
	char buf[8];
	size_t vl;
	const void *p;
	size_t cnt = 0;
	cr_assert_eq(lfmap_str_set(m, "k", 1, "v", 1), 0);
	/* NULL map */
	cr_assert_eq(lfmap_str_get(NULL, "k", 1, buf, sizeof(buf), &vl), -EINVAL);
	cr_assert_eq(lfmap_str_set(NULL, "k", 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_add(NULL, "k", 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_replace(NULL, "k", 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_del(NULL, "k", 1), -EINVAL);
	cr_assert_eq(lfmap_str_compute(NULL, "k", 1, cmp_keep, NULL), -EINVAL);
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_str_get_rcu(NULL, "k", 1, &p, &vl), -EINVAL);
	cr_assert_eq(lfmap_str_foreach_rcu(NULL, visit_count, &cnt), -EINVAL);
	/* NULL key with non-zero length */
	cr_assert_eq(lfmap_str_get_rcu(m, NULL, 1, &p, &vl), -EINVAL);
	/* NULL output / callback. val is not documented as optional; the
	 * library treats it as optional (existence check): accept both, but
	 * -EINVAL must not be reported for a present key if it is accepted */
	int rc = lfmap_str_get_rcu(m, "k", 1, NULL, &vl);
	cr_assert(rc == -EINVAL || rc == 0, "get_rcu(val NULL) = %d", rc);
	if (rc == 0)
		cr_assert_eq(lfmap_str_get_rcu(m, "x", 1, NULL, &vl), -ENOENT);
	cr_assert_eq(lfmap_str_foreach_rcu(m, NULL, &cnt), -EINVAL);
	lfmap_read_unlock(m);
	cr_assert_eq(lfmap_str_get(m, NULL, 1, buf, sizeof(buf), &vl), -EINVAL);
	cr_assert_eq(lfmap_str_set(m, NULL, 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_add(m, NULL, 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_replace(m, NULL, 1, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_del(m, NULL, 1), -EINVAL);
	cr_assert_eq(lfmap_str_compute(m, NULL, 1, cmp_keep, NULL), -EINVAL);
	cr_assert_eq(lfmap_str_compute(m, "k", 1, NULL, NULL), -EINVAL);
	/* NULL value with non-zero length */
	cr_assert_eq(lfmap_str_set(m, "k", 1, NULL, 1), -EINVAL);
	cr_assert_eq(lfmap_str_add(m, "n", 1, NULL, 1), -EINVAL);
	cr_assert_eq(lfmap_str_replace(m, "k", 1, NULL, 1), -EINVAL);
	cr_assert_eq(cnt, 0);
	expect_val(m, "k", 1, "v", 1);
	expect_absent(m, "n", 1);
	cr_assert_eq(count_exact(m), 1);
	destroy_ok(m);
}

Test(str, key_longer_than_max_is_einval)
{
	struct lfmap *m = new_str_map(0);
	size_t len = LFMAP_STR_KEY_MAX + 1;
	/* a readable (zero-page) region, in case the library touches it */
	void *k = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(k, MAP_FAILED);
	char buf[4];
	size_t vl;
	cr_assert_eq(lfmap_str_set(m, k, len, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_add(m, k, len, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_replace(m, k, len, "v", 1), -EINVAL);
	cr_assert_eq(lfmap_str_get(m, k, len, buf, sizeof(buf), &vl), -EINVAL);
	cr_assert_eq(lfmap_str_del(m, k, len), -EINVAL);
	cr_assert_eq(lfmap_str_compute(m, k, len, cmp_keep, NULL), -EINVAL);
	cr_assert_eq(count_exact(m), 0);
	munmap(k, len);
	destroy_ok(m);
}

Test(str, wrong_kind_is_einval)
{
	struct tu_node_cb cb;
	struct lfmap_config cfg = tu_node_config(&cb, TU_HASH_GOOD);
	struct lfmap *maps[2] = { lfmap_word_create(NULL), lfmap_create(&cfg) };
	cr_assert_not_null(maps[0]);
	cr_assert_not_null(maps[1]);
	for (int i = 0; i < 2; i++) {
		struct lfmap *m = maps[i];
		char buf[8];
		size_t vl, cnt = 0;
		const void *p;
		cr_assert_eq(lfmap_str_get(m, "k", 1, buf, sizeof(buf), &vl), -EINVAL);
		cr_assert_eq(lfmap_str_set(m, "k", 1, "v", 1), -EINVAL);
		cr_assert_eq(lfmap_str_add(m, "k", 1, "v", 1), -EINVAL);
		cr_assert_eq(lfmap_str_replace(m, "k", 1, "v", 1), -EINVAL);
		cr_assert_eq(lfmap_str_del(m, "k", 1), -EINVAL);
		cr_assert_eq(lfmap_str_compute(m, "k", 1, cmp_keep, NULL), -EINVAL);
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_str_get_rcu(m, "k", 1, &p, &vl), -EINVAL);
		cr_assert_eq(lfmap_str_foreach_rcu(m, visit_count, &cnt), -EINVAL);
		lfmap_read_unlock(m);
		cr_assert_eq(count_exact(m), 0);
		cr_assert_eq(cnt, 0);
	}
	destroy_ok(maps[0]);
	destroy_ok(maps[1]);
	/* and node functions on a string map */
	struct lfmap *s = new_str_map(0);
	cr_assert_eq(lfmap_str_set(s, "k", 1, "v", 1), 0);
	struct tu_node *n = tu_node_new(1, 1);
	uint64_t key = 1;
	lfmap_read_lock(s);
	errno = 0;
	cr_assert_null(lfmap_lookup_rcu(s, "k"));
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(lfmap_insert_rcu(s, &n->node, NULL), -EINVAL);
	cr_assert_eq(lfmap_remove_rcu(s, &key, NULL), -EINVAL);
	lfmap_read_unlock(s);
	cr_assert_eq(lfmap_word_put(s, 1, 1, NULL), -EINVAL);
	expect_val(s, "k", 1, "v", 1);
	cr_assert_eq(count_exact(s), 1);
	destroy_ok(s);
	tu_node_delete(n);
}

/* ------------------------------------------------------------ compute */

struct scrule {
	int if_absent, if_present;
	const char *setval;
	size_t setlen;
	int calls;
	bool saw_present;
	char saw[64];
	size_t sawlen;
};

static int cmp_rule(const void *cur, size_t curlen, const void **newval, size_t *newlen,
		    void *arg)
{
	struct scrule *r = arg;
	r->calls++;
	r->saw_present = cur != NULL;
	r->sawlen = curlen;
	if (cur && curlen <= sizeof(r->saw))
		memcpy(r->saw, cur, curlen);
	/* use a stack buffer that dies after fn returns only if the map copied
	 * it in time: the contract says it must stay valid until the next call
	 * of fn or the return of compute, so point at r->setval instead */
	*newval = r->setval;
	*newlen = r->setlen;
	return cur ? r->if_present : r->if_absent;
}

Test(str, compute_verdicts)
{
	struct lfmap *m = new_str_map(0);
	struct scrule r;

	r = (struct scrule){ .if_absent = LFMAP_COMPUTE_KEEP };
	cr_assert_eq(lfmap_str_compute(m, "c", 1, cmp_rule, &r), LFMAP_COMPUTE_KEEP);
	cr_assert_geq(r.calls, 1);
	cr_assert(!r.saw_present);
	cr_assert_eq(r.sawlen, 0, "curlen must be 0 when absent");
	expect_absent(m, "c", 1);

	r = (struct scrule){ .if_absent = LFMAP_COMPUTE_REMOVE };
	int rc = lfmap_str_compute(m, "c", 1, cmp_rule, &r);
	cr_assert(rc == LFMAP_COMPUTE_REMOVE || rc == LFMAP_COMPUTE_KEEP, "rc %d", rc);
	expect_absent(m, "c", 1);

	r = (struct scrule){ .if_absent = LFMAP_COMPUTE_SET, .setval = "new", .setlen = 3 };
	cr_assert_eq(lfmap_str_compute(m, "c", 1, cmp_rule, &r), LFMAP_COMPUTE_SET);
	expect_val(m, "c", 1, "new", 3);
	cr_assert_eq(count_exact(m), 1);

	r = (struct scrule){ .if_present = LFMAP_COMPUTE_KEEP };
	cr_assert_eq(lfmap_str_compute(m, "c", 1, cmp_rule, &r), LFMAP_COMPUTE_KEEP);
	cr_assert(r.saw_present);
	cr_assert_eq(r.sawlen, 3);
	cr_assert(memcmp(r.saw, "new", 3) == 0);
	expect_val(m, "c", 1, "new", 3);

	r = (struct scrule){ .if_present = LFMAP_COMPUTE_SET, .setval = "newer!", .setlen = 6 };
	cr_assert_eq(lfmap_str_compute(m, "c", 1, cmp_rule, &r), LFMAP_COMPUTE_SET);
	expect_val(m, "c", 1, "newer!", 6);

	r = (struct scrule){ .if_present = LFMAP_COMPUTE_SET, .setval = NULL, .setlen = 0 };
	cr_assert_eq(lfmap_str_compute(m, "c", 1, cmp_rule, &r), LFMAP_COMPUTE_SET,
		     "SET of an empty value");
	expect_val(m, "c", 1, "", 0);

	r = (struct scrule){ .if_present = LFMAP_COMPUTE_REMOVE };
	cr_assert_eq(lfmap_str_compute(m, "c", 1, cmp_rule, &r), LFMAP_COMPUTE_REMOVE);
	cr_assert(r.saw_present);
	cr_assert_eq(r.sawlen, 0);
	expect_absent(m, "c", 1);
	cr_assert_eq(count_exact(m), 0);
	cr_assert_eq(lfmap_count_approx(m), 0);

	/* zero-length key */
	r = (struct scrule){ .if_absent = LFMAP_COMPUTE_SET, .setval = "e", .setlen = 1 };
	cr_assert_eq(lfmap_str_compute(m, NULL, 0, cmp_rule, &r), LFMAP_COMPUTE_SET);
	expect_val(m, "", 0, "e", 1);
	destroy_ok(m);
}

/* fn hands out a buffer that it overwrites on the next call */
struct volatile_buf {
	char buf[32];
	int calls;
};

static int cmp_scratch(const void *cur, size_t curlen, const void **newval, size_t *newlen,
		       void *arg)
{
	(void)cur;
	struct volatile_buf *vb = arg;
	vb->calls++;
	int n = snprintf(vb->buf, sizeof(vb->buf), "len%zu", curlen);
	*newval = vb->buf;
	*newlen = (size_t)n;
	return LFMAP_COMPUTE_SET;
}

Test(str, compute_copies_value_before_return)
{
	struct lfmap *m = new_str_map(0);
	struct volatile_buf vb = { .calls = 0 };
	cr_assert_eq(lfmap_str_compute(m, "k", 1, cmp_scratch, &vb), LFMAP_COMPUTE_SET);
	memset(vb.buf, 'X', sizeof(vb.buf));
	expect_val(m, "k", 1, "len0", 4);
	cr_assert_eq(lfmap_str_compute(m, "k", 1, cmp_scratch, &vb), LFMAP_COMPUTE_SET);
	memset(vb.buf, 'X', sizeof(vb.buf));
	expect_val(m, "k", 1, "len4", 4);
	destroy_ok(m);
}

/* ------------------------------------------------------------ foreach */

struct sstop {
	int after, seen, ret;
};

static int visit_stop(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct sstop *s = arg;
	s->seen++;
	/* keys are "k<i>" with value "v<i>" */
	cr_assert(klen >= 2 && ((const char *)key)[0] == 'k', "bad key");
	cr_assert_eq(vlen, klen);
	cr_assert(memcmp((const char *)key + 1, (const char *)val + 1, klen - 1) == 0,
		  "value does not belong to key");
	return s->seen == s->after ? s->ret : 0;
}

Test(str, foreach_stop_values)
{
	struct lfmap *m = new_str_map(0);
	struct sstop st = { .after = 1, .ret = 4 };
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_str_foreach_rcu(m, visit_stop, &st), 0);
	lfmap_read_unlock(m);
	cr_assert_eq(st.seen, 0);
	for (int i = 0; i < 30; i++) {
		char k[32], v[32];
		int n = snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		cr_assert_eq(lfmap_str_set(m, k, (size_t)n, v, (size_t)n), 0);
	}
	const int rets[] = { 1, 99, -5 };
	for (size_t i = 0; i < TU_ARRAY_SIZE(rets); i++) {
		st = (struct sstop){ .after = 12, .ret = rets[i] };
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_str_foreach_rcu(m, visit_stop, &st), rets[i]);
		lfmap_read_unlock(m);
		cr_assert_eq(st.seen, 12);
	}
	st = (struct sstop){ .after = 1000 };
	lfmap_read_lock(m);
	cr_assert_eq(lfmap_str_foreach_rcu(m, visit_stop, &st), 0);
	lfmap_read_unlock(m);
	cr_assert_eq(st.seen, 30);
	destroy_ok(m);
}

/* ------------------------------------------------------------ memory */

Test(str, destroy_frees_every_node_through_the_allocator)
{
	struct tu_alloc al;
	tu_alloc_init(&al);
	struct lfmap_config cfg = tu_config();
	cfg.allocator = tu_alloc_hooks(&al);
	cfg.flags = LFMAP_F_NO_BACKGROUND;
	struct lfmap *m = lfmap_str_create(&cfg);
	cr_assert_not_null(m);
	uint64_t base = al.nallocs;
	for (int i = 0; i < 2000; i++) {
		char k[32];
		int n = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(lfmap_str_set(m, k, (size_t)n, k, (size_t)n), 0);
	}
	cr_assert_geq(al.nallocs - base, 2000, "string nodes not allocated through the allocator");
	for (int i = 0; i < 2000; i += 2) {
		char k[32];
		int n = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(lfmap_str_set(m, k, (size_t)n, "replaced", 8), 1);
	}
	for (int i = 1; i < 2000; i += 4) {
		char k[32];
		int n = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(lfmap_str_del(m, k, (size_t)n), 0);
	}
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	cr_assert_eq(lfmap_migrate_step(m, 1), 1);
	/* destroy mid-migration: nodes may sit in both tables */
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_alloc_assert_balanced(&al, "string map destroy");
	tu_alloc_release(&al);
}

Test(str, replaced_values_stay_valid_until_unlock)
{
	struct lfmap *m = new_str_map(0);
	cr_assert_eq(lfmap_str_set(m, "k", 1, "first", 5), 0);
	lfmap_read_lock(m);
	const void *p = NULL;
	size_t vl = 0;
	cr_assert_eq(lfmap_str_get_rcu(m, "k", 1, &p, &vl), 0);
	/* replace and delete while holding the pointer (nested lock) */
	cr_assert_eq(lfmap_str_set(m, "k", 1, "second", 6), 1);
	cr_assert_eq(lfmap_str_del(m, "k", 1), 0);
	cr_assert_eq(vl, 5);
	cr_assert(memcmp(p, "first", 5) == 0, "value freed before read unlock");
	lfmap_read_unlock(m);
	expect_absent(m, "k", 1);
	destroy_ok(m);
}
