/*
 * tests/mt/mt_word.c - multithreaded tests of the word-key map under forced
 * migrations (see harness.h for the bg / driven modes).
 *
 *   disjoint_insert  16 threads insert disjoint keys; all present, counts and
 *                    stats exact afterwards
 *   insert_race      all threads insert-if-absent the same keys: one winner
 *                    per key, whose value is stored
 *   remove_race      all threads remove the same keys: one winner per key,
 *                    which gets the stored value
 *   iterate          foreach during churn and migrations: every stable key
 *                    exactly once per iteration, no key twice
 *   counters         fetch_add / compute +1 on a few keys (key 0 included):
 *                    exact totals, every intermediate value returned once
 *   values           put/insert/replace/cas/remove with self-describing
 *                    values: single-writer keys follow the sequential spec,
 *                    readers never see torn, foreign, future or stale values
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t val_of(uint64_t key)
{
	return mt_mix64(key ^ UINT64_C(0x76a1)) & LFMAP_WORD_VALUE_MAX;
}

static struct lfmap *make_map(struct lfmap_config *cfg, const struct mt_mode *mode)
{
	mt_config(cfg, mode);
	struct lfmap *m = lfmap_word_create(cfg);
	if (!m)
		MT_FAIL("lfmap_word_create: errno %d", errno);
	return m;
}

static void destroy_map(struct lfmap *m)
{
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
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
		int rc = lfmap_word_insert(d->map, k, val_of(k), NULL);
		if (rc != 0) {
			MT_FAIL("thread %d insert key %#" PRIx64 " returned %d", t->id, k, rc);
			break;
		}
		if ((i & 31) == 0) {
			/* read back an earlier own key (read-your-writes) */
			uint64_t k2 = dkey(t->id, (size_t)mt_rng_below(&t->rng, i + 1));
			uint64_t v = UINT64_MAX;
			rc = lfmap_word_get(d->map, k2, &v);
			if (rc != 0 || v != val_of(k2))
				MT_FAIL("thread %d get own key %#" PRIx64 ": rc %d val %#" PRIx64
					", want %#" PRIx64,
					t->id, k2, rc, v, val_of(k2));
		}
	}
	d->done[t->id] = i;
	/* inserting again must report the present value */
	if (i > 0 && !mt_failed()) {
		uint64_t k = dkey(t->id, 0), cur = UINT64_MAX;
		int rc = lfmap_word_insert(d->map, k, 1, &cur);
		if (rc != -EEXIST || cur != val_of(k))
			MT_FAIL("re-insert key %#" PRIx64 ": rc %d cur %#" PRIx64, k, rc, cur);
	}
}

static void test_disjoint_insert(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	struct mt_disjoint d;
	size_t total = mt_disjoint_run(&d, m, mode, disjoint_thread, 20000, 4000, NULL);
	int T = d.nthreads;
	mt_quiesce(m);
	size_t missing = 0;
	for (int t = 0; t < T && !mt_failed(); t++) {
		for (size_t i = 0; i < d.done[t]; i++) {
			uint64_t k = dkey(t, i), v = UINT64_MAX;
			int rc = lfmap_word_get(m, k, &v);
			if (rc != 0 || v != val_of(k)) {
				if (missing++ < 3)
					MT_FAIL("key %#" PRIx64 " after quiesce: rc %d val %#" PRIx64
						", want %#" PRIx64,
						k, rc, v, val_of(k));
			}
		}
	}
	MT_CHECK(missing == 0, "%zu of %zu keys missing or wrong", missing, total);
	MT_CHECK(lfmap_word_get(m, dkey(T, 0), NULL) == -ENOENT, "never-inserted key found");
	mt_check_stats(m, &cfg, total, 0);
	struct lfmap_stats st;
	if (lfmap_stats(m, &st) == 0)
		MT_CHECK(st.grows >= 1, "%zu keys from size_hint 0 but no grow", total);
	destroy_map(m);
	mt_disjoint_free(&d);
}

/* ====================================================== 2/3. same-key races */

/* The driver is mt_race_* in the harness; these are the word-map callbacks. */

/* Index 0 is key 0 in every round (it lives outside the table slots);
 * every round ends with all its keys removed, so reusing it is fine. */
static uint64_t rkey(uint64_t round, size_t idx)
{
	return idx == 0 ? 0 : (round << 32) | (uint64_t)(idx + 1);
}

/* value: thread in bits 48..55, 48 bits derived from the key */
static uint64_t rval(int t, uint64_t key)
{
	return ((uint64_t)t << 48) | (mt_mix64(key) & UINT64_C(0xffffffffffff));
}

static bool rval_ok(uint64_t v, uint64_t key, int nthreads)
{
	return (v >> 48) < (uint64_t)nthreads &&
	       (v & UINT64_C(0xffffffffffff)) == (mt_mix64(key) & UINT64_C(0xffffffffffff));
}

static bool race_insert_key(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing)
{
	uint64_t k = rkey(r->round, idx), cur = UINT64_MAX;
	int rc = lfmap_word_insert(r->map, k, rval(t->id, k), &cur);
	if (rc == 0)
		return true;
	if (rc == -EEXIST && racing) {
		if (!rval_ok(cur, k, t->n))
			MT_FAIL("insert -EEXIST on key %#" PRIx64 " gave foreign value %#" PRIx64, k,
				cur);
	} else {
		MT_FAIL("insert key %#" PRIx64 " returned %d", k, rc);
	}
	return false;
}

static bool race_remove_key(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing)
{
	(void)t;
	uint64_t k = rkey(r->round, idx), old = UINT64_MAX;
	int rc = lfmap_word_remove(r->map, k, &old);
	if (rc == 0) {
		int w = atomic_load(&r->winner_of[idx]);
		if (old != rval(w, k))
			MT_FAIL("remove key %#" PRIx64 " got %#" PRIx64 ", inserted %#" PRIx64, k,
				old, rval(w, k));
		return true;
	}
	if (rc != -ENOENT || !racing)
		MT_FAIL("remove key %#" PRIx64 " returned %d", k, rc);
	return false;
}

static bool race_check_key(struct mt_race *r, size_t idx, bool after_insert, bool report)
{
	uint64_t k = rkey(r->round, idx), v = UINT64_MAX;
	int rc = lfmap_word_get(r->map, k, &v);
	if (after_insert) {
		uint64_t want = rval(atomic_load(&r->winner_of[idx]), k);
		if (rc == 0 && v == want)
			return true;
		if (report)
			MT_FAIL("key %#" PRIx64 ": get rc %d val %#" PRIx64 ", winner stored %#" PRIx64,
				k, rc, v, want);
		return false;
	}
	if (rc == -ENOENT)
		return true;
	if (report)
		MT_FAIL("key %#" PRIx64 " still present after its remove (rc %d)", k, rc);
	return false;
}

static const struct mt_race_ops race_ops = {
	.insert = race_insert_key,
	.remove = race_remove_key,
	.check_key = race_check_key,
	.insert_name = "insert",
	.remove_name = "remove",
};

static void run_race(const struct mt_mode *mode, bool race_insert)
{
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	struct mt_race r;
	mt_race_init(&r, m, &race_ops, NULL, race_insert, 4096, 256, 1500);
	mt_race_run(&r, mode);
	mt_quiesce(m);
	mt_check_stats(m, &cfg, 0, 0);
	destroy_map(m);
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
 * MT_CHURN_TAG | i); these are the word-map callbacks. */

static int visit_cb(uint64_t key, uint64_t val, void *arg)
{
	struct mt_visit *v = arg;
	if (mt_visit_tagged(v, key))
		return 1;
	if (val != val_of(key)) {
		MT_FAIL("iterator %d: key %#" PRIx64 " has value %#" PRIx64 ", want %#" PRIx64,
			v->tid, key, val, val_of(key));
		return 1;
	}
	return 0;
}

/* odd iterations inside one read-side section, even ones with the plain call */
static int iter_iterate(struct lfmap *map, struct mt_visit *v, size_t n)
{
	if (!(n & 1))
		return lfmap_word_foreach(map, visit_cb, v);
	mt_read_lock(map);
	int rc = lfmap_word_foreach_rcu(map, visit_cb, v);
	mt_read_unlock(map);
	return rc;
}

/* insert/put/remove */
static void iter_churn(struct mt_thread *t, struct mt_iter *it, size_t idx)
{
	uint64_t k = MT_CHURN_TAG | idx;
	int rc;
	switch (mt_rng_below(&t->rng, 3)) {
	case 0:
		rc = lfmap_word_insert(it->map, k, val_of(k), NULL);
		if (rc != 0 && rc != -EEXIST)
			MT_FAIL("churn insert returned %d", rc);
		break;
	case 1:
		rc = lfmap_word_put(it->map, k, val_of(k), NULL);
		if (rc != 0 && rc != 1)
			MT_FAIL("churn put returned %d", rc);
		break;
	default:
		rc = lfmap_word_remove(it->map, k, NULL);
		if (rc != 0 && rc != -ENOENT)
			MT_FAIL("churn remove returned %d", rc);
		break;
	}
}

static const struct mt_iter_ops iter_ops = {
	.iterate = iter_iterate,
	.churn = iter_churn,
	.check_count = true,
};

static void test_iterate(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	struct mt_iter it;
	mt_iter_init(&it, m, &iter_ops, NULL, 3000, 200, 4096, 4000);
	for (size_t i = 0; i < it.nstable; i++) {
		uint64_t k = MT_STABLE_TAG | i;
		MT_CHECK_RC(lfmap_word_insert(m, k, val_of(k), NULL), 0, "stable insert");
	}
	mt_iter_run(&it, mode, 1500);

	mt_quiesce(m);
	size_t present = it.nstable;
	for (size_t i = 0; i < it.nstable; i++) {
		uint64_t k = MT_STABLE_TAG | i, v = 0;
		int rc = lfmap_word_get(m, k, &v);
		if (rc != 0 || v != val_of(k)) {
			MT_FAIL("stable key %#" PRIx64 ": rc %d val %#" PRIx64, k, rc, v);
			break;
		}
	}
	for (size_t i = 0; i < it.nchurn; i++)
		present += lfmap_word_get(m, MT_CHURN_TAG | i, NULL) == 0;
	mt_check_stats(m, &cfg, present, 0);
	destroy_map(m);
}

/* =========================================================== 5. counters */

#define NCOUNTERS 4
static const uint64_t counter_keys[NCOUNTERS] = { 0, 1, UINT64_C(0x8000000000000000),
						  UINT64_MAX };

struct counters {
	struct lfmap *map;
	size_t per_thread;
	uint64_t deadline;
	size_t maxtotal;                 /* bits per bitmap */
	_Atomic uint64_t *seen[NCOUNTERS]; /* bitmap of old values returned */
	_Atomic uint64_t adds[NCOUNTERS];
	atomic_int phase2_errors;
};

static int inc_fn(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	(void)key;
	int64_t delta = *(const int64_t *)arg;
	*newval = ((cur ? *cur : 0) + (uint64_t)delta) & LFMAP_WORD_VALUE_MAX;
	return LFMAP_COMPUTE_SET;
}

static void counters_thread(struct mt_thread *t)
{
	struct counters *c = t->arg;
	uint64_t mine[NCOUNTERS] = { 0 };
	uint64_t last[NCOUNTERS];
	for (int k = 0; k < NCOUNTERS; k++)
		last[k] = UINT64_MAX;
	for (size_t i = 0; i < c->per_thread && !mt_failed(); i++) {
		if ((i & 255) == 0 && mt_expired(c->deadline))
			break;
		int k = (int)mt_rng_below(&t->rng, NCOUNTERS);
		uint64_t key = counter_keys[k], old = UINT64_MAX;
		int rc;
		int64_t one = 1;
		switch (mt_rng_below(&t->rng, 3)) {
		case 0:
			rc = lfmap_word_fetch_add(c->map, key, 1, &old);
			MT_CHECK_RC(rc, 0, "fetch_add");
			break;
		case 1:
			mt_read_lock(c->map);
			rc = lfmap_word_fetch_add_rcu(c->map, key, 1, &old);
			mt_read_unlock(c->map);
			MT_CHECK_RC(rc, 0, "fetch_add_rcu");
			break;
		default:
			rc = lfmap_word_compute(c->map, key, inc_fn, &one, &old);
			MT_CHECK_RC(rc, LFMAP_COMPUTE_SET, "compute +1");
			if (old == UINT64_MAX)
				old = 0; /* absent: left untouched */
			break;
		}
		if (rc < 0)
			break;
		if (old >= c->maxtotal) {
			MT_FAIL("key %#" PRIx64 ": old value %" PRIu64 " beyond any possible total",
				key, old);
			break;
		}
		if (last[k] != UINT64_MAX && old <= last[k])
			MT_FAIL("key %#" PRIx64 ": thread %d saw old %" PRIu64 " after %" PRIu64, key,
				t->id, old, last[k]);
		last[k] = old;
		uint64_t bit = UINT64_C(1) << (old & 63);
		uint64_t prev = atomic_fetch_or(&c->seen[k][old >> 6], bit);
		if (prev & bit)
			MT_FAIL("key %#" PRIx64 ": old value %" PRIu64 " returned twice (lost update)",
				key, old);
		mine[k]++;
	}
	for (int k = 0; k < NCOUNTERS; k++)
		atomic_fetch_add(&c->adds[k], mine[k]);

	/* phase 2: every thread takes its own adds back with -1 each */
	mt_barrier(t);
	int64_t minus = -1;
	for (int k = 0; k < NCOUNTERS; k++) {
		for (uint64_t i = 0; i < mine[k] && !mt_failed(); i++) {
			int rc = (i & 1) ? lfmap_word_fetch_add(c->map, counter_keys[k], -1, NULL)
					 : lfmap_word_compute(c->map, counter_keys[k], inc_fn,
							      &minus, NULL);
			if (rc < 0) {
				MT_FAIL("decrement returned %d", rc);
				break;
			}
		}
	}
}

static void test_counters(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	int T = mt_threads(16);
	struct counters c = { .map = m };
	c.per_thread = mt_iters(200000);
	c.maxtotal = c.per_thread * (size_t)T;
	for (int k = 0; k < NCOUNTERS; k++) {
		c.seen[k] = calloc(c.maxtotal / 64 + 1, sizeof(uint64_t));
		atomic_init(&c.adds[k], 0);
	}
	c.deadline = mt_deadline_ms(1500);

	/* some filler so that the table is not trivially small */
	for (uint64_t i = 1; i <= 300; i++)
		MT_CHECK_RC(lfmap_word_insert(m, (i << 20) | 7, val_of(i), NULL), 0, "filler");

	mt_run_resized(m, mode, T, counters_thread, &c);
	mt_quiesce(m);

	/* phase 1 totals were checked by value uniqueness; phase 2 brought
	 * every counter back to zero */
	uint64_t total = 0;
	for (int k = 0; k < NCOUNTERS; k++) {
		uint64_t adds = atomic_load(&c.adds[k]), v = UINT64_MAX;
		total += adds;
		/* all of 0..adds-1 must have been returned exactly once */
		for (uint64_t i = 0; i < adds; i++) {
			if (!(atomic_load(&c.seen[k][i >> 6]) & (UINT64_C(1) << (i & 63)))) {
				MT_FAIL("key %#" PRIx64 ": intermediate value %" PRIu64
					" never returned (of %" PRIu64 " adds)",
					counter_keys[k], i, adds);
				break;
			}
		}
		if (adds == 0)
			continue;
		int rc = lfmap_word_get(m, counter_keys[k], &v);
		MT_CHECK(rc == 0 && v == 0, "counter %#" PRIx64 ": rc %d value %" PRIu64
			 " after +%" PRIu64 " and -%" PRIu64, counter_keys[k], rc, v, adds, adds);
	}
	mt_note("%" PRIu64 " increments", total);
	size_t present = 300;
	for (int k = 0; k < NCOUNTERS; k++)
		present += atomic_load(&c.adds[k]) != 0;
	mt_check_stats(m, &cfg, present, atomic_load(&c.adds[0]) != 0);

	/* wrap-around: (old + delta) mod 2^62 */
	uint64_t v = 0;
	MT_CHECK_RC(lfmap_word_put(m, 12345, LFMAP_WORD_VALUE_MAX, NULL), 0, "put max");
	MT_CHECK_RC(lfmap_word_fetch_add(m, 12345, 2, &v), 0, "fetch_add wrap");
	MT_CHECK(v == LFMAP_WORD_VALUE_MAX, "old %#" PRIx64, v);
	MT_CHECK(lfmap_word_get(m, 12345, &v) == 0 && v == 1, "wrapped value %" PRIu64, v);
	destroy_map(m);
	for (int k = 0; k < NCOUNTERS; k++)
		free((void *)c.seen[k]);
}

/* ============================================================ 6. values */

/*
 * Value layout (62 bits): key index (12) | writer (6) << 12 | seq (40) << 18
 * | check (4) << 58, check = 4 bits of a mix of the other 58. A value read
 * is valid only if the check matches, the key index is the key's, the
 * writer exists and the seq is one that writer had already generated.
 */
#define V_NKEYS_MAX 4096

struct vals {
	struct lfmap *map;
	int nwriters;       /* ids 0..nwriters-1; the rest read */
	size_t owned_per;   /* owned keys per writer */
	size_t nkeys;       /* owned (nwriters * owned_per) + shared */
	uint64_t keys[V_NKEYS_MAX];
	_Atomic uint64_t maxseq[64];
	uint64_t *owner_last; /* per owned key: last value, 0 = absent (owner only) */
	size_t ops_per_writer;
	uint64_t deadline;
	atomic_int writers_left;
	_Atomic uint64_t reads, writes;
};

static uint64_t venc(size_t kidx, int w, uint64_t seq)
{
	uint64_t low = (uint64_t)kidx | ((uint64_t)w << 12) | (seq << 18);
	return low | ((mt_mix64(low) & 15) << 58);
}

static void vcheck(struct vals *s, uint64_t v, size_t kidx, const char *what)
{
	uint64_t low = v & ((UINT64_C(1) << 58) - 1);
	uint64_t w = (low >> 12) & 63, seq = low >> 18;
	if (v >> 62)
		MT_FAIL("%s: key %zu value %#" PRIx64 " uses the reserved bits", what, kidx, v);
	else if ((v >> 58) != (mt_mix64(low) & 15))
		MT_FAIL("%s: key %zu value %#" PRIx64 " fails its check bits (torn?)", what, kidx, v);
	else if ((low & 4095) != kidx)
		MT_FAIL("%s: key %zu got value %#" PRIx64 " of key %" PRIu64, what, kidx, v,
			low & 4095);
	else if (w >= (uint64_t)s->nwriters)
		MT_FAIL("%s: key %zu value %#" PRIx64 " from writer %" PRIu64 " that does not exist",
			what, kidx, v, w);
	else if (seq == 0 || seq > atomic_load_explicit(&s->maxseq[w], memory_order_acquire))
		MT_FAIL("%s: key %zu value %#" PRIx64 " has seq %" PRIu64
			" never generated by writer %" PRIu64,
			what, kidx, v, seq, w);
}

static void owned_op(struct mt_thread *t, struct vals *s, size_t kidx, uint64_t *seq)
{
	uint64_t key = s->keys[kidx];
	uint64_t *last = &s->owner_last[kidx];
	uint64_t nv = venc(kidx, t->id, ++*seq), out = UINT64_MAX;
	atomic_store_explicit(&s->maxseq[t->id], *seq, memory_order_release);
	bool use_rcu = mt_rng_below(&t->rng, 4) == 0;
	if (use_rcu)
		mt_read_lock(s->map);
	int rc;
	switch (mt_rng_below(&t->rng, 7)) {
	case 0: /* put */
		rc = use_rcu ? lfmap_word_put_rcu(s->map, key, nv, &out)
			     : lfmap_word_put(s->map, key, nv, &out);
		if (*last == 0)
			MT_CHECK_RC(rc, 0, "put of an absent owned key");
		else if (rc != 1 || out != *last)
			MT_FAIL("put of owned key %zu: rc %d old %#" PRIx64 ", want 1 and %#" PRIx64,
				kidx, rc, out, *last);
		*last = nv;
		break;
	case 1: /* insert */
		rc = use_rcu ? lfmap_word_insert_rcu(s->map, key, nv, &out)
			     : lfmap_word_insert(s->map, key, nv, &out);
		if (*last == 0) {
			MT_CHECK_RC(rc, 0, "insert of an absent owned key");
			*last = nv;
		} else if (rc != -EEXIST || out != *last) {
			MT_FAIL("insert of present owned key %zu: rc %d cur %#" PRIx64
				", want -EEXIST and %#" PRIx64,
				kidx, rc, out, *last);
		}
		break;
	case 2: /* replace */
		rc = use_rcu ? lfmap_word_replace_rcu(s->map, key, nv, &out)
			     : lfmap_word_replace(s->map, key, nv, &out);
		if (*last == 0) {
			MT_CHECK_RC(rc, -ENOENT, "replace of an absent owned key");
		} else {
			if (rc != 0 || out != *last)
				MT_FAIL("replace of owned key %zu: rc %d old %#" PRIx64
					", want 0 and %#" PRIx64,
					kidx, rc, out, *last);
			*last = nv;
		}
		break;
	case 3: /* cas that must succeed */
	case 4: {
		uint64_t exp = *last;
		rc = use_rcu ? lfmap_word_cas_rcu(s->map, key, &exp, nv)
			     : lfmap_word_cas(s->map, key, &exp, nv);
		if (*last == 0) {
			MT_CHECK_RC(rc, -ENOENT, "cas of an absent owned key");
		} else {
			if (rc != 0)
				MT_FAIL("cas of owned key %zu from its current value %#" PRIx64
					" returned %d (current %#" PRIx64 ")",
					kidx, *last, rc, exp);
			else
				*last = nv;
		}
		break;
	}
	case 5: { /* cas that must fail */
		uint64_t exp = venc(kidx, t->id, 0);
		rc = use_rcu ? lfmap_word_cas_rcu(s->map, key, &exp, nv)
			     : lfmap_word_cas(s->map, key, &exp, nv);
		if (*last == 0)
			MT_CHECK_RC(rc, -ENOENT, "stale cas of an absent owned key");
		else if (rc != -ECANCELED || exp != *last)
			MT_FAIL("stale cas of owned key %zu: rc %d expected now %#" PRIx64
				", want -ECANCELED and %#" PRIx64,
				kidx, rc, exp, *last);
		break;
	}
	default: /* remove */
		rc = use_rcu ? lfmap_word_remove_rcu(s->map, key, &out)
			     : lfmap_word_remove(s->map, key, &out);
		if (*last == 0) {
			MT_CHECK_RC(rc, -ENOENT, "remove of an absent owned key");
		} else {
			if (rc != 0 || out != *last)
				MT_FAIL("remove of owned key %zu: rc %d old %#" PRIx64
					", want 0 and %#" PRIx64,
					kidx, rc, out, *last);
			*last = 0;
		}
		break;
	}
	/* read your own write */
	uint64_t v = UINT64_MAX;
	rc = use_rcu ? lfmap_word_get_rcu(s->map, key, &v) : lfmap_word_get(s->map, key, &v);
	if (use_rcu)
		mt_read_unlock(s->map);
	if (*last == 0 ? rc != -ENOENT : (rc != 0 || v != *last))
		MT_FAIL("owner reads key %zu: rc %d val %#" PRIx64 ", last written %#" PRIx64, kidx,
			rc, v, *last);
}

static void shared_op(struct mt_thread *t, struct vals *s, size_t kidx, uint64_t *seq)
{
	uint64_t key = s->keys[kidx];
	uint64_t nv = venc(kidx, t->id, ++*seq), out = 0;
	atomic_store_explicit(&s->maxseq[t->id], *seq, memory_order_release);
	int rc;
	switch (mt_rng_below(&t->rng, 5)) {
	case 0:
		rc = lfmap_word_put(s->map, key, nv, &out);
		if (rc == 1)
			vcheck(s, out, kidx, "put old");
		else if (rc != 0)
			MT_FAIL("shared put returned %d", rc);
		break;
	case 1:
		rc = lfmap_word_insert(s->map, key, nv, &out);
		if (rc == -EEXIST)
			vcheck(s, out, kidx, "insert cur");
		else if (rc != 0)
			MT_FAIL("shared insert returned %d", rc);
		break;
	case 2:
		rc = lfmap_word_replace(s->map, key, nv, &out);
		if (rc == 0)
			vcheck(s, out, kidx, "replace old");
		else if (rc != -ENOENT)
			MT_FAIL("shared replace returned %d", rc);
		break;
	case 3: {
		uint64_t exp = 0;
		rc = lfmap_word_get(s->map, key, &exp);
		if (rc == -ENOENT)
			break;
		vcheck(s, exp, kidx, "get");
		for (int tries = 0; tries < 4; tries++) {
			rc = lfmap_word_cas(s->map, key, &exp, nv);
			if (rc == 0 || rc == -ENOENT)
				break;
			if (rc != -ECANCELED) {
				MT_FAIL("shared cas returned %d", rc);
				break;
			}
			vcheck(s, exp, kidx, "cas expected");
		}
		break;
	}
	default:
		rc = lfmap_word_remove(s->map, key, &out);
		if (rc == 0)
			vcheck(s, out, kidx, "remove old");
		else if (rc != -ENOENT)
			MT_FAIL("shared remove returned %d", rc);
		break;
	}
}

static void vals_thread(struct mt_thread *t)
{
	struct vals *s = t->arg;
	if (t->id < s->nwriters) {
		uint64_t seq = 0;
		size_t i;
		size_t nshared = s->nkeys - s->owned_per * (size_t)s->nwriters;
		for (i = 0; i < s->ops_per_writer && !mt_failed(); i++) {
			if ((i & 127) == 0 && mt_expired(s->deadline))
				break;
			if (mt_rng_below(&t->rng, 2) == 0) {
				size_t kidx = (size_t)t->id * s->owned_per +
					      (size_t)mt_rng_below(&t->rng, s->owned_per);
				owned_op(t, s, kidx, &seq);
			} else {
				size_t kidx = s->owned_per * (size_t)s->nwriters +
					      (size_t)mt_rng_below(&t->rng, nshared);
				shared_op(t, s, kidx, &seq);
			}
		}
		atomic_fetch_add(&s->writes, i);
		atomic_fetch_sub(&s->writers_left, 1);
	} else {
		uint64_t *seen = calloc(s->nkeys, sizeof(uint64_t)); /* last seq per key */
		uint64_t n = 0;
		while (atomic_load_explicit(&s->writers_left, memory_order_relaxed) > 0 &&
		       !mt_failed()) {
			/* a batch of reads in one read-side section, or single gets */
			bool batch = mt_rng_below(&t->rng, 2) == 0;
			if (batch)
				mt_read_lock(s->map);
			for (int j = 0; j < 32; j++, n++) {
				size_t kidx = (size_t)mt_rng_below(&t->rng, s->nkeys);
				uint64_t v = UINT64_MAX;
				int rc = batch ? lfmap_word_get_rcu(s->map, s->keys[kidx], &v)
					       : lfmap_word_get(s->map, s->keys[kidx], &v);
				if (rc == -ENOENT)
					continue;
				if (rc != 0) {
					MT_FAIL("get returned %d", rc);
					break;
				}
				vcheck(s, v, kidx, "reader get");
				if (kidx < s->owned_per * (size_t)s->nwriters) {
					uint64_t sq = (v >> 18) & ((UINT64_C(1) << 40) - 1);
					if (sq < seen[kidx])
						MT_FAIL("reader %d: single-writer key %zu went back "
							"from seq %" PRIu64 " to %" PRIu64 " (stale read)",
							t->id, kidx, seen[kidx], sq);
					seen[kidx] = sq;
				}
			}
			if (batch)
				mt_read_unlock(s->map);
		}
		atomic_fetch_add(&s->reads, n);
		free(seen);
	}
}

static void test_values(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	int T = mt_threads(16);
	static struct vals s; /* large: keys array */
	memset(&s, 0, sizeof s);
	s.map = m;
	s.nwriters = T * 3 / 4;
	s.owned_per = 24;
	s.nkeys = s.owned_per * (size_t)s.nwriters + 96;
	for (size_t i = 0; i < s.nkeys; i++)
		s.keys[i] = mt_mix64(mt_test_seed() + i) | 1;
	s.keys[s.nkeys - 1] = 0; /* key 0 is one of the shared keys */
	s.owner_last = calloc(s.nkeys, sizeof(uint64_t));
	s.ops_per_writer = mt_iters(400000);
	atomic_init(&s.writers_left, s.nwriters);
	s.deadline = mt_deadline_ms(1500);

	mt_run_resized(m, mode, T, vals_thread, &s);
	mt_note("%" PRIu64 " writes, %" PRIu64 " reads", (uint64_t)atomic_load(&s.writes),
		(uint64_t)atomic_load(&s.reads));

	mt_quiesce(m);
	size_t present = 0, nowned = s.owned_per * (size_t)s.nwriters;
	for (size_t k = 0; k < s.nkeys && !mt_failed(); k++) {
		uint64_t v = UINT64_MAX;
		int rc = lfmap_word_get(m, s.keys[k], &v);
		if (k < nowned) {
			if (s.owner_last[k] == 0 ? rc != -ENOENT : (rc != 0 || v != s.owner_last[k]))
				MT_FAIL("owned key %zu at the end: rc %d val %#" PRIx64
					", last written %#" PRIx64,
					k, rc, v, s.owner_last[k]);
		} else if (rc == 0) {
			vcheck(&s, v, k, "final get");
		}
		present += rc == 0;
	}
	mt_check_stats(m, &cfg, present, lfmap_word_get(m, 0, NULL) == 0);
	destroy_map(m);
	free(s.owner_last);
}

int main(int argc, char **argv)
{
	mt_register_modes("word/disjoint_insert", test_disjoint_insert);
	mt_register_modes("word/insert_race", test_insert_race);
	mt_register_modes("word/remove_race", test_remove_race);
	mt_register_modes("word/iterate", test_iterate);
	mt_register_modes("word/counters", test_counters);
	mt_register_modes("word/values", test_values);
	return mt_main(argc, argv);
}
