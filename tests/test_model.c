/*
 * test_model.c - model-based randomized tests. Long random sequences of every
 * operation of the word, node and string maps run against a trivial
 * reference model, comparing every return value and out-parameter, with
 * migrations forced at random points (explicit resizes of random kinds,
 * migrate_step of random sizes, tiny tables, max_work 1,
 * LFMAP_F_NO_BACKGROUND), and full contents compared via foreach at
 * checkpoints. Each configuration is a Criterion parameter; a failure message
 * starts with "[kind seed S op N]" so a run can be reproduced by its seed.
 *
 * Single-threaded: the model is exact, so any divergence is a bug.
 *
 * To reproduce one configuration: LFMAP_MODEL_SEED=<seed> ./test_model
 * (the other parameters then return at once).
 */
#include "testutil.h"

#include <criterion/parameterized.h>

TestSuite(model, .init = tu_rcu_init, .fini = tu_rcu_fini);

struct mparam {
	uint64_t seed;
	unsigned flags;
	unsigned max_work;
	size_t size_hint;
	int hash_mode; /* node map only */
	unsigned nkeys;
	unsigned nops;
};

/* Failure context, printed by every check. */
static struct {
	const char *kind;
	uint64_t seed;
	uint64_t op;
	const char *opname;
	bool background; /* no LFMAP_F_NO_BACKGROUND: migrations run concurrently */
} M;

#define MCHK(c, fmt, ...)                                                                  \
	cr_assert((c), "[%s seed %" PRIu64 " op %" PRIu64 " %s] " fmt, M.kind, M.seed, M.op,  \
		  M.opname, ##__VA_ARGS__)

static const char *param_str(const struct mparam *p, char *buf, size_t sz)
{
	snprintf(buf, sz, "seed %" PRIu64 " flags %#x max_work %u hint %zu hash %d keys %u ops %u",
		 p->seed, p->flags, p->max_work, p->size_hint, p->hash_mode, p->nkeys, p->nops);
	return buf;
}

/* LFMAP_MODEL_SEED selects one configuration. */
static bool skip_param(const struct mparam *p)
{
	const char *e = getenv("LFMAP_MODEL_SEED");
	return e && *e && strtoull(e, NULL, 0) != p->seed;
}

static struct lfmap_config model_config(const struct mparam *p)
{
	struct lfmap_config cfg = tu_config();
	cfg.flags = p->flags;
	cfg.max_work = p->max_work;
	cfg.size_hint = p->size_hint;
	cfg.seed = p->seed * 31 + 7;
	M.background = !(p->flags & LFMAP_F_NO_BACKGROUND);
	return cfg;
}

/*
 * Random maintenance shared by all kinds: explicit resizes of a random kind,
 * migrate_step of a random size, grace periods. Never called with the read
 * lock held when it may quiesce.
 */
static void maintenance(struct lfmap *m, struct tu_rng *r, bool may_quiesce, unsigned nkeys)
{
	uint64_t x = tu_below(r, 1000);
	if (x < 300) {
		enum lfmap_resize kind = (enum lfmap_resize)(1 + tu_below(r, 3));
		/* keep explicit growth bounded (NO_AUTO_SHRINK maps would
		 * otherwise double without limit) */
		struct lfmap_stats st;
		if (kind == LFMAP_RESIZE_GROW && lfmap_stats(m, &st) == 0 &&
		    st.buckets > 4 * (uint64_t)nkeys)
			kind = LFMAP_RESIZE_SHRINK;
		M.opname = "resize";
		int rc = lfmap_resize(m, kind);
		MCHK(rc == 0 || rc == -EAGAIN || (rc == -EINVAL && kind == LFMAP_RESIZE_SHRINK),
		     "lfmap_resize(%d) = %d", kind, rc);
	} else if (x < 850) {
		size_t n = (size_t)tu_below(r, 9);
		M.opname = "migrate_step";
		int rc = lfmap_migrate_step(m, n);
		MCHK(rc == 0 || rc == 1, "lfmap_migrate_step(%zu) = %d", n, rc);
		if (n == 0)
			MCHK(rc == 0, "migrate_step(0) left a migration running");
	} else if (may_quiesce) {
		tu_quiesce();
	}
}

/*
 * Stats consistent with the model. The call_rcu worker may start (and
 * without LFMAP_F_NO_BACKGROUND also finish) migrations while lfmap_stats()
 * reads its counters, which are not one atomic snapshot: the migration
 * counters are only checked loosely here (test_common checks them exactly
 * on settled maps).
 */
static void check_stats(struct lfmap *m, size_t want)
{
	struct lfmap_stats st;
	M.opname = "stats";
	MCHK(lfmap_stats(m, &st) == 0, "lfmap_stats failed");
	MCHK(st.entries == want, "stats.entries %" PRIu64 ", model %zu", st.entries, want);
	MCHK(st.migrating <= 1, "migrating %" PRIu64, st.migrating);
	MCHK(st.migrations_started + 1 >= st.migrations_finished &&
		     st.migrations_started <= st.migrations_finished + 2,
	     "started %" PRIu64 " finished %" PRIu64, st.migrations_started,
	     st.migrations_finished);
	MCHK(st.buckets >= 1 && (st.buckets & (st.buckets - 1)) == 0, "buckets %" PRIu64,
	     st.buckets);
	size_t c = (size_t)-1;
	M.opname = "count_exact";
	MCHK(lfmap_count_exact(m, &c) == 0 && c == want, "count_exact %zu, model %zu", c, want);
	M.opname = "count_approx";
	MCHK(lfmap_count_approx(m) == want, "count_approx %zu, model %zu", lfmap_count_approx(m),
	     want);
}

/* ================================================================ word map */

struct wmodel {
	unsigned n;
	uint64_t *keys;
	bool *present;
	uint64_t *val;
	size_t count;
	uint64_t *sorted; /* keys sorted, for foreach lookups */
	unsigned *sorted_idx;
	uint8_t *seen;
};

static int cmp_u64_idx(const void *a, const void *b, void *keys)
{
	uint64_t x = ((const uint64_t *)keys)[*(const unsigned *)a];
	uint64_t y = ((const uint64_t *)keys)[*(const unsigned *)b];
	return x < y ? -1 : x > y;
}

/* sort key indices by key (qsort_r: GNU, -D_GNU_SOURCE) */
static void sort_indices(unsigned *idx, unsigned n, uint64_t *keys)
{
	qsort_r(idx, n, sizeof(*idx), cmp_u64_idx, keys);
}

static int widx(const struct wmodel *w, uint64_t key)
{
	unsigned lo = 0, hi = w->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		uint64_t k = w->keys[w->sorted_idx[mid]];
		if (k == key)
			return (int)w->sorted_idx[mid];
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int wvisit(uint64_t key, uint64_t val, void *arg)
{
	struct wmodel *w = arg;
	int i = widx(w, key);
	MCHK(i >= 0, "foreach visited unknown key %#" PRIx64, key);
	MCHK(w->present[i], "foreach visited absent key %#" PRIx64, key);
	MCHK(val == w->val[i], "foreach: key %#" PRIx64 " value %#" PRIx64 ", model %#" PRIx64,
	     key, val, w->val[i]);
	MCHK(w->seen[i] == 0, "foreach visited key %#" PRIx64 " twice", key);
	w->seen[i] = 1;
	return 0;
}

static void wcheck_all(struct lfmap *m, struct wmodel *w, bool rcu)
{
	memset(w->seen, 0, w->n);
	M.opname = "foreach";
	int rc;
	if (rcu) {
		lfmap_read_lock(m);
		rc = lfmap_word_foreach_rcu(m, wvisit, w);
		lfmap_read_unlock(m);
	} else {
		rc = lfmap_word_foreach(m, wvisit, w);
	}
	MCHK(rc == 0, "foreach returned %d", rc);
	for (unsigned i = 0; i < w->n; i++)
		MCHK(w->seen[i] == w->present[i], "foreach missed key %#" PRIx64, w->keys[i]);
	check_stats(m, w->count);
}

struct wcompute {
	int if_absent, if_present;
	int mode; /* 0: setval, 1: cur + setval */
	uint64_t setval;
	int calls;
	bool saw_present;
	uint64_t saw;
	uint64_t key;
	bool bad_key;
};

static int wcompute_fn(uint64_t key, const uint64_t *cur, uint64_t *newval, void *arg)
{
	struct wcompute *c = arg;
	c->calls++;
	if (key != c->key)
		c->bad_key = true;
	c->saw_present = cur != NULL;
	c->saw = cur ? *cur : 0;
	*newval = (c->mode == 1 && cur) ? ((*cur + c->setval) & LFMAP_WORD_VALUE_MAX) : c->setval;
	return cur ? c->if_present : c->if_absent;
}

static uint64_t rand_val(struct tu_rng *r)
{
	switch (tu_below(r, 6)) {
	case 0:
		return 0;
	case 1:
		return LFMAP_WORD_VALUE_MAX - tu_below(r, 3);
	case 2:
		return tu_next(r) & LFMAP_WORD_VALUE_MAX;
	default:
		return tu_below(r, 1000);
	}
}

static uint64_t maybe_bad_val(struct tu_rng *r, bool *bad)
{
	*bad = tu_chance(r, 1, 50);
	if (*bad)
		return tu_next(r) | (UINT64_C(1) << (62 + tu_below(r, 2)));
	return rand_val(r);
}

static void run_word_model(const struct mparam *p)
{
	char pbuf[160];
	cr_log_info("word model: %s", param_str(p, pbuf, sizeof(pbuf)));
	M.kind = "word";
	M.seed = p->seed;
	struct tu_rng r = { .s = p->seed };
	struct lfmap_config cfg = model_config(p);
	struct lfmap *m = lfmap_word_create(&cfg);
	cr_assert_not_null(m);

	struct wmodel w = { .n = p->nkeys };
	w.keys = calloc(w.n, sizeof(*w.keys));
	w.present = calloc(w.n, sizeof(*w.present));
	w.val = calloc(w.n, sizeof(*w.val));
	w.sorted_idx = calloc(w.n, sizeof(*w.sorted_idx));
	w.seen = calloc(w.n, 1);
	/* distinct keys: 0, all-ones, small, structured and random ones */
	for (unsigned i = 0; i < w.n; i++) {
		uint64_t k;
		for (;;) {
			switch (i < 2 ? (int)i : (int)tu_below(&r, 4)) {
			case 0:
				k = 0;
				break;
			case 1:
				k = UINT64_MAX;
				break;
			case 2:
				k = tu_below(&r, 4096);
				break;
			case 3:
				k = tu_below(&r, 1 << 20) << 32;
				break;
			default:
				k = tu_next(&r);
				break;
			}
			bool dup = false;
			for (unsigned j = 0; j < i && !dup; j++)
				dup = w.keys[j] == k;
			if (!dup)
				break;
		}
		w.keys[i] = k;
		w.sorted_idx[i] = i;
	}
	sort_indices(w.sorted_idx, w.n, w.keys);

	bool held = false; /* read lock held across a batch of operations */
	unsigned batch = 0;
	unsigned phase_len = p->nops / 10 + 1;
	for (uint64_t op = 0; op < p->nops; op++) {
		M.op = op;
		/* phases: fill up (mostly inserts) or drain (mostly removes) */
		bool filling = (op / phase_len) % 2 == 0;
		if (!held && tu_chance(&r, 1, 200)) {
			lfmap_read_lock(m);
			held = true;
			batch = 1 + (unsigned)tu_below(&r, 64);
		}
		bool rcu = held || tu_chance(&r, 1, 3);
		bool lock_here = rcu && !held;
		unsigned k = (unsigned)tu_below(&r, w.n);
		uint64_t key = w.keys[k];
		uint64_t out = UINT64_C(0xabababababababab);
		bool bad;
		int rc;
		unsigned what = (unsigned)tu_below(&r, 1000);
		if (filling && what >= 600 && what < 700)
			what = 150; /* remove -> insert */
		if (!filling && what >= 150 && what < 300)
			what = 650; /* insert -> remove */

		if (what >= 985) {
			/* maintenance and checks: outside the per-op lock */
			if (held) {
				if (tu_chance(&r, 1, 2)) {
					maintenance(m, &r, false, p->nkeys);
					continue;
				}
				lfmap_read_unlock(m);
				held = false;
			}
			if (what >= 998)
				wcheck_all(m, &w, tu_chance(&r, 1, 2));
			else
				maintenance(m, &r, what == 997, p->nkeys);
			continue;
		}
		if (lock_here)
			lfmap_read_lock(m);

		if (what < 150) {
			M.opname = "get";
			rc = rcu ? lfmap_word_get_rcu(m, key, &out) : lfmap_word_get(m, key, &out);
			MCHK(rc == (w.present[k] ? 0 : -ENOENT), "get(%#" PRIx64 ") = %d, model %d",
			     key, rc, w.present[k]);
			if (rc == 0)
				MCHK(out == w.val[k], "get value %#" PRIx64 ", model %#" PRIx64, out,
				     w.val[k]);
		} else if (what < 300) {
			M.opname = "insert";
			uint64_t v = maybe_bad_val(&r, &bad);
			rc = rcu ? lfmap_word_insert_rcu(m, key, v, &out)
				 : lfmap_word_insert(m, key, v, &out);
			if (bad) {
				MCHK(rc == -ERANGE || (rc == -EEXIST && w.present[k]),
				     "insert of %#" PRIx64 " = %d", v, rc);
			} else if (w.present[k]) {
				MCHK(rc == -EEXIST, "insert of present key = %d", rc);
				MCHK(out == w.val[k], "-EEXIST cur %#" PRIx64 ", model %#" PRIx64, out,
				     w.val[k]);
			} else {
				MCHK(rc == 0, "insert of absent key = %d", rc);
				w.present[k] = true;
				w.val[k] = v;
				w.count++;
			}
		} else if (what < 400) {
			M.opname = "put";
			uint64_t v = maybe_bad_val(&r, &bad);
			rc = rcu ? lfmap_word_put_rcu(m, key, v, &out) : lfmap_word_put(m, key, v, &out);
			if (bad) {
				MCHK(rc == -ERANGE, "put of %#" PRIx64 " = %d", v, rc);
			} else {
				MCHK(rc == (w.present[k] ? 1 : 0), "put = %d, model present %d", rc,
				     w.present[k]);
				if (rc == 1)
					MCHK(out == w.val[k], "put old %#" PRIx64 ", model %#" PRIx64,
					     out, w.val[k]);
				else
					w.count++;
				w.present[k] = true;
				w.val[k] = v;
			}
		} else if (what < 480) {
			M.opname = "replace";
			uint64_t v = maybe_bad_val(&r, &bad);
			rc = rcu ? lfmap_word_replace_rcu(m, key, v, &out)
				 : lfmap_word_replace(m, key, v, &out);
			if (bad) {
				MCHK(rc == -ERANGE || (rc == -ENOENT && !w.present[k]),
				     "replace with %#" PRIx64 " = %d", v, rc);
			} else if (w.present[k]) {
				MCHK(rc == 0, "replace of present key = %d", rc);
				MCHK(out == w.val[k], "replace old %#" PRIx64 ", model %#" PRIx64, out,
				     w.val[k]);
				w.val[k] = v;
			} else {
				MCHK(rc == -ENOENT, "replace of absent key = %d", rc);
			}
		} else if (what < 560) {
			M.opname = "cas";
			uint64_t exp = (w.present[k] && tu_chance(&r, 1, 2)) ? w.val[k] : rand_val(&r);
			uint64_t exp0 = exp;
			uint64_t v = maybe_bad_val(&r, &bad);
			rc = rcu ? lfmap_word_cas_rcu(m, key, &exp, v) : lfmap_word_cas(m, key, &exp, v);
			if (bad) {
				MCHK(rc == -ERANGE || (rc == -ENOENT && !w.present[k]) ||
					     (rc == -ECANCELED && w.present[k] && exp0 != w.val[k]),
				     "cas to %#" PRIx64 " = %d", v, rc);
				if (rc == -ECANCELED)
					MCHK(exp == w.val[k], "cas -ECANCELED expected not updated");
			} else if (!w.present[k]) {
				MCHK(rc == -ENOENT, "cas of absent key = %d", rc);
			} else if (exp0 == w.val[k]) {
				MCHK(rc == 0, "cas with matching expected = %d", rc);
				w.val[k] = v;
			} else {
				MCHK(rc == -ECANCELED, "cas with stale expected = %d", rc);
				MCHK(exp == w.val[k], "-ECANCELED: *expected %#" PRIx64 ", model %#" PRIx64,
				     exp, w.val[k]);
			}
		} else if (what < 600) {
			M.opname = "fetch_add";
			int64_t d;
			switch (tu_below(&r, 4)) {
			case 0:
				d = (int64_t)tu_below(&r, 10);
				break;
			case 1:
				d = -(int64_t)tu_below(&r, 10);
				break;
			case 2:
				d = (int64_t)tu_next(&r);
				break;
			default:
				d = tu_chance(&r, 1, 2) ? INT64_MIN : INT64_MAX;
				break;
			}
			rc = rcu ? lfmap_word_fetch_add_rcu(m, key, d, &out)
				 : lfmap_word_fetch_add(m, key, d, &out);
			MCHK(rc == 0, "fetch_add = %d", rc);
			uint64_t before = w.present[k] ? w.val[k] : 0;
			MCHK(out == before, "fetch_add old %#" PRIx64 ", model %#" PRIx64, out, before);
			if (!w.present[k])
				w.count++;
			w.present[k] = true;
			w.val[k] = (before + (uint64_t)d) & LFMAP_WORD_VALUE_MAX;
		} else if (what < 750) {
			M.opname = "remove";
			rc = rcu ? lfmap_word_remove_rcu(m, key, &out) : lfmap_word_remove(m, key, &out);
			if (w.present[k]) {
				MCHK(rc == 0, "remove of present key = %d", rc);
				MCHK(out == w.val[k], "remove old %#" PRIx64 ", model %#" PRIx64, out,
				     w.val[k]);
				w.present[k] = false;
				w.count--;
			} else {
				MCHK(rc == -ENOENT, "remove of absent key = %d", rc);
			}
		} else {
			M.opname = "compute";
			struct wcompute c = {
				.if_absent = (int)tu_below(&r, 3),
				.if_present = (int)tu_below(&r, 3),
				.mode = (int)tu_below(&r, 2),
				.key = key,
			};
			c.setval = tu_chance(&r, 1, 40) ? LFMAP_WORD_VALUE_MAX + 1 : rand_val(&r);
			if (c.setval > LFMAP_WORD_VALUE_MAX)
				c.mode = 0;
			rc = rcu ? lfmap_word_compute_rcu(m, key, wcompute_fn, &c, &out)
				 : lfmap_word_compute(m, key, wcompute_fn, &c, &out);
			MCHK(c.calls >= 1, "compute never called fn");
			MCHK(!c.bad_key, "fn got another key");
			MCHK(c.saw_present == w.present[k], "fn saw present=%d, model %d",
			     c.saw_present, w.present[k]);
			if (w.present[k])
				MCHK(c.saw == w.val[k], "fn saw %#" PRIx64 ", model %#" PRIx64, c.saw,
				     w.val[k]);
			int verdict = w.present[k] ? c.if_present : c.if_absent;
			uint64_t nv = (c.mode == 1 && w.present[k])
					      ? ((w.val[k] + c.setval) & LFMAP_WORD_VALUE_MAX)
					      : c.setval;
			if (verdict == LFMAP_COMPUTE_SET && nv > LFMAP_WORD_VALUE_MAX) {
				MCHK(rc == -ERANGE, "compute SET of a too large value = %d", rc);
			} else if (verdict == LFMAP_COMPUTE_REMOVE && !w.present[k]) {
				MCHK(rc == LFMAP_COMPUTE_REMOVE || rc == LFMAP_COMPUTE_KEEP,
				     "compute REMOVE on absent = %d", rc);
				MCHK(out == UINT64_C(0xabababababababab), "*old written for absent key");
			} else {
				MCHK(rc == verdict, "compute = %d, verdict %d", rc, verdict);
				if (w.present[k])
					MCHK(out == w.val[k], "compute old %#" PRIx64 ", model %#" PRIx64,
					     out, w.val[k]);
				else
					MCHK(out == UINT64_C(0xabababababababab),
					     "*old written for absent key");
				if (verdict == LFMAP_COMPUTE_SET) {
					if (!w.present[k])
						w.count++;
					w.present[k] = true;
					w.val[k] = nv;
				} else if (verdict == LFMAP_COMPUTE_REMOVE) {
					w.present[k] = false;
					w.count--;
				}
			}
		}
		if (lock_here)
			lfmap_read_unlock(m);
		if (held && --batch == 0) {
			lfmap_read_unlock(m);
			held = false;
		}
	}
	if (held)
		lfmap_read_unlock(m);
	wcheck_all(m, &w, false);
	M.opname = "finish";
	MCHK(lfmap_migrate_step(m, 0) == 0, "migrate_step(0)");
	wcheck_all(m, &w, true);
	for (unsigned i = 0; i < w.n; i++) {
		uint64_t v = 0;
		int rc = lfmap_word_get(m, w.keys[i], &v);
		MCHK(rc == (w.present[i] ? 0 : -ENOENT), "final get(%#" PRIx64 ") = %d", w.keys[i],
		     rc);
		if (rc == 0)
			MCHK(v == w.val[i], "final value");
	}
	struct lfmap_stats st;
	lfmap_stats(m, &st);
	cr_log_info("word model seed %" PRIu64 ": %" PRIu64 " migrations (%" PRIu64 " grows, %" PRIu64
		    " shrinks, %" PRIu64 " compactions), %" PRIu64 " entries",
		    p->seed, st.migrations_finished, st.grows, st.shrinks, st.compactions,
		    st.entries);
	MCHK(st.migrations_finished > 0, "the run never migrated");
	cr_assert_eq(lfmap_destroy(m), 0);
	free(w.keys);
	free(w.present);
	free(w.val);
	free(w.sorted_idx);
	free(w.seen);
}

ParameterizedTestParameters(model, word)
{
	static struct mparam params[] = {
		{ .seed = 1, .flags = LFMAP_F_NO_BACKGROUND, .max_work = 1, .nkeys = 2000, .nops = 200000 },
		{ .seed = 2, .flags = 0, .max_work = 2, .nkeys = 2000, .nops = 200000 },
		{ .seed = 3, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_AUTO_SHRINK, .max_work = 1,
		  .nkeys = 3000, .nops = 200000 },
		{ .seed = 4, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_AUTO_GROW, .max_work = 1,
		  .size_hint = 300, .nkeys = 600, .nops = 200000 },
		{ .seed = 5, .flags = LFMAP_F_FIXED_SEED, .max_work = 3, .size_hint = 1000,
		  .nkeys = 2000, .nops = 200000 },
		{ .seed = 6, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_FIXED_SEED, .max_work = 1,
		  .nkeys = 64, .nops = 200000 },
		{ .seed = 7, .flags = LFMAP_F_NO_BACKGROUND, .max_work = 1, .nkeys = 10000,
		  .nops = 200000 },
	};
	return cr_make_param_array(struct mparam, params, TU_ARRAY_SIZE(params));
}

ParameterizedTest(struct mparam *p, model, word)
{
	if (skip_param(p))
		return;
	run_word_model(p);
}

/* ================================================================ node map */

struct nmodel {
	unsigned n;
	struct tu_node **cur;   /* model: node mapped for key i, or NULL */
	struct tu_node **stale; /* a node that was mapped for key i (not freed yet) */
	struct tu_node **garbage;
	size_t ngarbage, capgarbage;
	size_t count;
	uint8_t *seen;
	int mode;
	uint64_t seed; /* map seed, learned from the hash callback */
};

static void ngarbage(struct nmodel *nm, struct tu_node *n)
{
	if (nm->ngarbage == nm->capgarbage) {
		nm->capgarbage = nm->capgarbage ? nm->capgarbage * 2 : 1024;
		nm->garbage = realloc(nm->garbage, nm->capgarbage * sizeof(*nm->garbage));
	}
	nm->garbage[nm->ngarbage++] = n;
}

static void nretire(struct nmodel *nm, struct tu_node *n)
{
	nm->stale[n->key] = n;
	ngarbage(nm, n);
}

/* Free every retired node after a grace period. Outside the read lock. */
static void nflush(struct nmodel *nm)
{
	tu_quiesce();
	for (size_t i = 0; i < nm->ngarbage; i++)
		tu_node_delete(nm->garbage[i]);
	nm->ngarbage = 0;
	memset(nm->stale, 0, nm->n * sizeof(*nm->stale));
}

static int nvisit(struct lfmap_node *node, void *arg)
{
	struct nmodel *nm = arg;
	struct tu_node *t = tu_node_of(node);
	MCHK(t->magic == TU_NODE_MAGIC, "foreach visited a freed/foreign node");
	MCHK(t->key < nm->n, "foreach visited key %" PRIu64, t->key);
	MCHK(nm->cur[t->key] == t, "foreach visited a node not mapped for key %" PRIu64 " (%s)",
	     t->key, nm->cur[t->key] ? "another node is" : "key absent");
	MCHK(nm->seen[t->key] == 0, "foreach visited key %" PRIu64 " twice", t->key);
	nm->seen[t->key] = 1;
	return 0;
}

static void ncheck_all(struct lfmap *m, struct nmodel *nm)
{
	memset(nm->seen, 0, nm->n);
	M.opname = "foreach";
	lfmap_read_lock(m);
	int rc = lfmap_foreach_rcu(m, nvisit, nm);
	for (unsigned i = 0; i < nm->n; i++) {
		uint64_t key = i;
		struct lfmap_node *got = lfmap_lookup_rcu(m, &key);
		MCHK(got == (nm->cur[i] ? &nm->cur[i]->node : NULL), "lookup(%u) disagrees", i);
	}
	lfmap_read_unlock(m);
	MCHK(rc == 0, "foreach returned %d", rc);
	for (unsigned i = 0; i < nm->n; i++)
		MCHK(nm->seen[i] == (nm->cur[i] != NULL), "foreach missed key %u", i);
	check_stats(m, nm->count);
}

struct ncompute {
	int if_absent, if_present;
	struct tu_node *install;
	int calls;
	struct lfmap_node *saw;
};

static int ncompute_fn(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	struct ncompute *c = arg;
	c->calls++;
	c->saw = cur;
	int v = cur ? c->if_present : c->if_absent;
	if (v == LFMAP_COMPUTE_SET)
		*newnode = &c->install->node;
	return v;
}

static void ncheck_hash(struct nmodel *nm, struct tu_node *t)
{
	if (TU_KEY_BUILTIN(nm->mode))
		return; /* no callback to learn the seed from (test_node checks it) */
	uint64_t h = tu_hash_of(nm->mode, t->key, nm->seed);
	MCHK(t->node.hash == h || (h == 0 && t->node.hash == 1),
	     "node->hash %#" PRIx64 " != hash(key, seed) %#" PRIx64, t->node.hash, h);
}

static void run_node_model(const struct mparam *p)
{
	char pbuf[160];
	cr_log_info("node model: %s", param_str(p, pbuf, sizeof(pbuf)));
	M.kind = "node";
	M.seed = p->seed;
	struct tu_rng r = { .s = p->seed };
	struct tu_node_cb cb;
	struct lfmap_config cfg = model_config(p);
	struct lfmap_config ncfg = tu_node_config(&cb, p->hash_mode);
	cfg.hash = ncfg.hash;
	cfg.match = ncfg.match;
	cfg.key_of = ncfg.key_of;
	cfg.key_size = ncfg.key_size;
	cfg.key_offset = ncfg.key_offset;
	cfg.cb_arg = ncfg.cb_arg;
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);

	struct nmodel nm = { .n = p->nkeys, .mode = p->hash_mode };
	nm.cur = calloc(nm.n, sizeof(*nm.cur));
	nm.stale = calloc(nm.n, sizeof(*nm.stale));
	nm.seen = calloc(nm.n, 1);
	unsigned phase_len = p->nops / 10 + 1;

	for (uint64_t op = 0; op < p->nops; op++) {
		M.op = op;
		bool filling = (op / phase_len) % 2 == 0;
		uint64_t k = tu_below(&r, nm.n);
		struct tu_node *cur = nm.cur[k];
		struct lfmap_node *out = (struct lfmap_node *)(uintptr_t)0x10;
		unsigned what = (unsigned)tu_below(&r, 1000);
		if (filling && what >= 550 && what < 650)
			what = 150;
		if (!filling && what >= 150 && what < 300)
			what = 600;
		int rc;

		if (what >= 980) {
			if (what >= 998)
				ncheck_all(m, &nm);
			else if (what >= 995)
				nflush(&nm);
			else
				maintenance(m, &r, what == 994, p->nkeys);
			continue;
		}
		lfmap_read_lock(m);
		if (what < 150) {
			M.opname = "lookup";
			struct lfmap_node *got = lfmap_lookup_rcu(m, &k);
			MCHK(got == (cur ? &cur->node : NULL), "lookup(%" PRIu64 ") = %p, model %p", k,
			     (void *)got, cur ? (void *)&cur->node : NULL);
		} else if (what < 300) {
			M.opname = "insert";
			struct tu_node *nn = tu_node_new(k, tu_next(&r));
			rc = lfmap_insert_rcu(m, &nn->node, &out);
			if (cur) {
				MCHK(rc == -EEXIST, "insert of present key = %d", rc);
				MCHK(out == &cur->node, "-EEXIST existing %p, model %p", (void *)out,
				     (void *)&cur->node);
				ngarbage(&nm, nn);
			} else {
				MCHK(rc == 0, "insert of absent key = %d", rc);
				if (nm.seed == 0)
					nm.seed = cb.last_seed;
				ncheck_hash(&nm, nn);
				nm.cur[k] = nn;
				nm.count++;
			}
		} else if (what < 380) {
			M.opname = "upsert";
			struct tu_node *nn = tu_node_new(k, tu_next(&r));
			rc = lfmap_upsert_rcu(m, &nn->node, &out);
			MCHK(rc == (cur ? 1 : 0), "upsert = %d, model present %d", rc, cur != NULL);
			MCHK(out == (cur ? &cur->node : NULL), "upsert *old %p, model %p", (void *)out,
			     cur ? (void *)&cur->node : NULL);
			if (cur)
				nretire(&nm, cur);
			else
				nm.count++;
			nm.cur[k] = nn;
		} else if (what < 440) {
			M.opname = "replace";
			struct tu_node *nn = tu_node_new(k, tu_next(&r));
			rc = lfmap_replace_rcu(m, &nn->node, &out);
			if (cur) {
				MCHK(rc == 0, "replace of present key = %d", rc);
				MCHK(out == &cur->node, "replace *old %p, model %p", (void *)out,
				     (void *)&cur->node);
				nretire(&nm, cur);
				nm.cur[k] = nn;
			} else {
				MCHK(rc == -ENOENT, "replace of absent key = %d", rc);
				ngarbage(&nm, nn);
			}
		} else if (what < 520) {
			M.opname = "cmp_replace";
			/* expected: the current node, a stale one, or a never-mapped one */
			struct tu_node *exp;
			bool fresh_exp = false;
			uint64_t c = tu_below(&r, 3);
			if (c == 0 && cur)
				exp = cur;
			else if (c == 1 && nm.stale[k])
				exp = nm.stale[k];
			else if (cur && c != 2)
				exp = cur;
			else {
				exp = tu_node_new(k, 0);
				fresh_exp = true;
			}
			bool mismatch = tu_chance(&r, 1, 20);
			uint64_t nkey = mismatch ? (k + 1 + tu_below(&r, nm.n - 1)) % nm.n : k;
			struct tu_node *nn = tu_node_new(nkey, tu_next(&r));
			rc = lfmap_cmp_replace_rcu(m, &exp->node, &nn->node);
			if (mismatch && nm.n > 1) {
				MCHK(rc == -EINVAL, "cmp_replace with another key = %d", rc);
				ngarbage(&nm, nn);
			} else if (!cur) {
				MCHK(rc == -ENOENT, "cmp_replace on absent key = %d", rc);
				ngarbage(&nm, nn);
			} else if (exp == cur) {
				MCHK(rc == 0, "cmp_replace with current expected = %d", rc);
				nretire(&nm, cur);
				nm.cur[k] = nn;
			} else {
				MCHK(rc == -ECANCELED, "cmp_replace with stale expected = %d", rc);
				ngarbage(&nm, nn);
			}
			if (fresh_exp)
				ngarbage(&nm, exp);
		} else if (what < 650) {
			M.opname = "remove";
			rc = lfmap_remove_rcu(m, &k, tu_chance(&r, 1, 4) ? NULL : &out);
			if (cur) {
				MCHK(rc == 0, "remove of present key = %d", rc);
				MCHK(out == (struct lfmap_node *)(uintptr_t)0x10 || out == &cur->node,
				     "remove *removed %p, model %p", (void *)out, (void *)&cur->node);
				nretire(&nm, cur);
				nm.cur[k] = NULL;
				nm.count--;
			} else {
				MCHK(rc == -ENOENT, "remove of absent key = %d", rc);
			}
		} else if (what < 750) {
			M.opname = "remove_node";
			struct tu_node *victim = (cur && tu_chance(&r, 2, 3)) ? cur : nm.stale[k];
			if (!victim)
				victim = cur;
			if (!victim) {
				lfmap_read_unlock(m);
				continue;
			}
			rc = lfmap_remove_node_rcu(m, &victim->node);
			if (victim == cur) {
				MCHK(rc == 0, "remove_node of the mapped node = %d", rc);
				nretire(&nm, cur);
				nm.cur[k] = NULL;
				nm.count--;
			} else {
				MCHK(rc == -ENOENT, "remove_node of a stale node = %d (mapped: %s)", rc,
				     cur ? "another node" : "none");
			}
		} else {
			M.opname = "compute";
			struct ncompute c = {
				.if_absent = (int)tu_below(&r, 3),
				.if_present = (int)tu_below(&r, 3),
			};
			c.install = tu_node_new(k, tu_next(&r));
			rc = lfmap_compute_rcu(m, &k, ncompute_fn, &c, &out);
			MCHK(c.calls >= 1, "fn never called");
			MCHK(c.saw == (cur ? &cur->node : NULL), "fn saw %p, model %p", (void *)c.saw,
			     cur ? (void *)&cur->node : NULL);
			int verdict = cur ? c.if_present : c.if_absent;
			bool installed = false;
			if (verdict == LFMAP_COMPUTE_REMOVE && !cur) {
				MCHK(rc == LFMAP_COMPUTE_REMOVE || rc == LFMAP_COMPUTE_KEEP,
				     "compute REMOVE on absent = %d", rc);
			} else {
				MCHK(rc == verdict, "compute = %d, verdict %d", rc, verdict);
			}
			MCHK(out == (cur ? &cur->node : NULL), "compute *old %p, model %p", (void *)out,
			     cur ? (void *)&cur->node : NULL);
			if (verdict == LFMAP_COMPUTE_SET) {
				installed = true;
				if (cur)
					nretire(&nm, cur);
				else
					nm.count++;
				nm.cur[k] = c.install;
			} else if (verdict == LFMAP_COMPUTE_REMOVE && cur) {
				nretire(&nm, cur);
				nm.cur[k] = NULL;
				nm.count--;
			}
			if (!installed)
				ngarbage(&nm, c.install);
		}
		lfmap_read_unlock(m);
	}
	ncheck_all(m, &nm);
	M.opname = "finish";
	MCHK(lfmap_migrate_step(m, 0) == 0, "migrate_step(0)");
	ncheck_all(m, &nm);
	struct lfmap_stats st;
	lfmap_stats(m, &st);
	cr_log_info("node model seed %" PRIu64 ": %" PRIu64 " migrations (%" PRIu64 " grows, %" PRIu64
		    " shrinks, %" PRIu64 " compactions), %" PRIu64 " entries",
		    p->seed, st.migrations_finished, st.grows, st.shrinks, st.compactions,
		    st.entries);
	MCHK(st.migrations_finished > 0, "the run never migrated");
	/* destroy hands every mapped node to node_free exactly once */
	cr_assert_eq(lfmap_destroy(m), 0);
	for (unsigned i = 0; i < nm.n; i++)
		if (nm.cur[i]) {
			MCHK(nm.cur[i]->freed_by_map == 1, "node_free of key %u: %d calls", i,
			     nm.cur[i]->freed_by_map);
			tu_node_delete(nm.cur[i]);
		}
	for (size_t i = 0; i < nm.ngarbage; i++)
		MCHK(nm.garbage[i]->freed_by_map == 0, "node_free of a node not in the map");
	for (size_t i = 0; i < nm.ngarbage; i++)
		tu_node_delete(nm.garbage[i]);
	MCHK(cb.bad_arg == 0, "callbacks got bad arguments");
	MCHK(cb.foreign_free == 0, "node_free of a foreign node");
	free(nm.garbage);
	free(nm.cur);
	free(nm.stale);
	free(nm.seen);
}

ParameterizedTestParameters(model, node)
{
	static struct mparam params[] = {
		{ .seed = 11, .flags = LFMAP_F_NO_BACKGROUND, .max_work = 1, .hash_mode = TU_HASH_GOOD,
		  .nkeys = 1500, .nops = 200000 },
		{ .seed = 12, .flags = LFMAP_F_NO_BACKGROUND, .max_work = 1, .hash_mode = TU_HASH_MOD4,
		  .nkeys = 400, .nops = 100000 },
		{ .seed = 13, .flags = 0, .max_work = 2, .hash_mode = TU_HASH_GOOD, .nkeys = 1500,
		  .nops = 200000 },
		{ .seed = 14, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_FIXED_SEED, .max_work = 1,
		  .hash_mode = TU_HASH_CONST, .nkeys = 60, .nops = 50000 },
		{ .seed = 15, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_AUTO_GROW, .max_work = 1,
		  .size_hint = 200, .hash_mode = TU_HASH_GOOD, .nkeys = 400, .nops = 150000 },
		{ .seed = 16, .flags = 0, .max_work = 1, .hash_mode = TU_HASH_MOD4, .nkeys = 200,
		  .nops = 100000 },
		/* the built-in keys (no callbacks) */
		{ .seed = 17, .flags = LFMAP_F_NO_BACKGROUND, .max_work = 1, .hash_mode = TU_KEY_U64,
		  .nkeys = 1500, .nops = 200000 },
		{ .seed = 18, .flags = 0, .max_work = 2, .hash_mode = TU_KEY_BYTES6, .nkeys = 1500,
		  .nops = 150000 },
		{ .seed = 19, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_AUTO_GROW | LFMAP_F_FIXED_SEED,
		  .max_work = 1, .size_hint = 200, .hash_mode = TU_KEY_U64, .nkeys = 400,
		  .nops = 150000 },
	};
	return cr_make_param_array(struct mparam, params, TU_ARRAY_SIZE(params));
}

ParameterizedTest(struct mparam *p, model, node)
{
	if (skip_param(p))
		return;
	run_node_model(p);
}

/* ================================================================ string map */

struct skey {
	unsigned char b[12];
	size_t len;
};

struct smodel {
	unsigned n;
	struct skey *keys;
	bool *present;
	unsigned char **val;
	size_t *vlen;
	size_t count;
	uint8_t *seen;
};

static int sidx_below(const struct smodel *s, unsigned lim, const void *key, size_t klen)
{
	for (unsigned i = 0; i < lim; i++)
		if (s->keys[i].len == klen && (klen == 0 || memcmp(s->keys[i].b, key, klen) == 0))
			return (int)i;
	return -1;
}

static int sidx(const struct smodel *s, const void *key, size_t klen)
{
	return sidx_below(s, s->n, key, klen);
}

static int svisit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct smodel *s = arg;
	int i = sidx(s, key, klen);
	MCHK(i >= 0, "foreach visited an unknown key of length %zu", klen);
	MCHK(s->present[i], "foreach visited absent key #%d", i);
	MCHK(vlen == s->vlen[i], "foreach: key #%d vlen %zu, model %zu", i, vlen, s->vlen[i]);
	MCHK(vlen == 0 || memcmp(val, s->val[i], vlen) == 0, "foreach: key #%d value differs", i);
	MCHK(!s->seen[i], "foreach visited key #%d twice", i);
	s->seen[i] = 1;
	return 0;
}

static void scheck_all(struct lfmap *m, struct smodel *s)
{
	memset(s->seen, 0, s->n);
	M.opname = "foreach";
	lfmap_read_lock(m);
	int rc = lfmap_str_foreach_rcu(m, svisit, s);
	lfmap_read_unlock(m);
	MCHK(rc == 0, "foreach = %d", rc);
	for (unsigned i = 0; i < s->n; i++)
		MCHK(s->seen[i] == s->present[i], "foreach missed key #%u", i);
	check_stats(m, s->count);
}

static size_t rand_vlen(struct tu_rng *r)
{
	uint64_t x = tu_below(r, 100);
	if (x < 10)
		return 0;
	if (x < 95)
		return 1 + tu_below(r, 48);
	return tu_below(r, 1500);
}

static void rand_bytes(struct tu_rng *r, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)tu_next(r);
}

static void sstore(struct smodel *s, unsigned k, const unsigned char *v, size_t vlen)
{
	free(s->val[k]);
	s->val[k] = malloc(vlen ? vlen : 1);
	if (vlen)
		memcpy(s->val[k], v, vlen);
	s->vlen[k] = vlen;
	if (!s->present[k])
		s->count++;
	s->present[k] = true;
}

static void sdrop(struct smodel *s, unsigned k)
{
	free(s->val[k]);
	s->val[k] = NULL;
	s->vlen[k] = 0;
	s->present[k] = false;
	s->count--;
}

struct scompute {
	int if_absent, if_present;
	const unsigned char *v;
	size_t vlen;
	int calls;
	bool saw_present;
	size_t sawlen;
	bool saw_match;
	const unsigned char *model_val;
	size_t model_len;
};

static int scompute_fn(const void *cur, size_t curlen, const void **newval, size_t *newlen,
		       void *arg)
{
	struct scompute *c = arg;
	c->calls++;
	c->saw_present = cur != NULL;
	c->sawlen = curlen;
	c->saw_match = cur == NULL ||
		       (curlen == c->model_len &&
			(curlen == 0 || memcmp(cur, c->model_val, curlen) == 0));
	*newval = c->v;
	*newlen = c->vlen;
	return cur ? c->if_present : c->if_absent;
}

static void run_str_model(const struct mparam *p)
{
	char pbuf[160];
	cr_log_info("str model: %s", param_str(p, pbuf, sizeof(pbuf)));
	M.kind = "str";
	M.seed = p->seed;
	struct tu_rng r = { .s = p->seed };
	struct tu_alloc al;
	tu_alloc_init(&al);
	struct lfmap_config cfg = model_config(p);
	cfg.allocator = tu_alloc_hooks(&al);
	struct lfmap *m = lfmap_str_create(&cfg);
	cr_assert_not_null(m);

	struct smodel s = { .n = p->nkeys };
	s.keys = calloc(s.n, sizeof(*s.keys));
	s.present = calloc(s.n, sizeof(*s.present));
	s.val = calloc(s.n, sizeof(*s.val));
	s.vlen = calloc(s.n, sizeof(*s.vlen));
	s.seen = calloc(s.n, 1);
	for (unsigned i = 0; i < s.n; i++) {
		for (;;) {
			/* key 0 has length 0; short keys share prefixes */
			s.keys[i].len = i == 0 ? 0 : 1 + tu_below(&r, sizeof(s.keys[i].b));
			rand_bytes(&r, s.keys[i].b, s.keys[i].len);
			if (s.keys[i].len && tu_chance(&r, 1, 2))
				s.keys[i].b[0] = 'k'; /* common prefix */
			if (s.keys[i].len > 1 && tu_chance(&r, 1, 4))
				s.keys[i].b[1] = 0; /* embedded NUL */
			if (sidx_below(&s, i, s.keys[i].b, s.keys[i].len) < 0)
				break;
		}
	}
	unsigned char vbuf[1600], gbuf[1600];
	unsigned phase_len = p->nops / 10 + 1;

	for (uint64_t op = 0; op < p->nops; op++) {
		M.op = op;
		bool filling = (op / phase_len) % 2 == 0;
		unsigned k = (unsigned)tu_below(&r, s.n);
		const void *key = s.keys[k].b;
		size_t klen = s.keys[k].len;
		if (klen == 0 && tu_chance(&r, 1, 2))
			key = NULL;
		unsigned what = (unsigned)tu_below(&r, 1000);
		if (filling && what >= 600 && what < 700)
			what = 250;
		if (!filling && what >= 200 && what < 300)
			what = 650;
		int rc;
		if (what >= 985) {
			if (what >= 997)
				scheck_all(m, &s);
			else
				maintenance(m, &r, what == 996, p->nkeys);
			continue;
		}
		if (what < 150) {
			M.opname = "get";
			size_t bufsz = tu_chance(&r, 1, 4) ? tu_below(&r, s.vlen[k] + 2)
							   : sizeof(gbuf);
			size_t vl = 999999;
			memset(gbuf, 0xEE, sizeof(gbuf));
			rc = lfmap_str_get(m, key, klen, gbuf, bufsz, &vl);
			if (!s.present[k]) {
				MCHK(rc == -ENOENT, "get of absent key = %d", rc);
			} else {
				MCHK(vl == s.vlen[k], "get vlen %zu, model %zu", vl, s.vlen[k]);
				size_t ncopy = s.vlen[k] < bufsz ? s.vlen[k] : bufsz;
				MCHK(rc == (s.vlen[k] > bufsz ? -ENOSPC : 0), "get(bufsz %zu) = %d",
				     bufsz, rc);
				MCHK(ncopy == 0 || memcmp(gbuf, s.val[k], ncopy) == 0,
				     "get bytes differ");
				MCHK(gbuf[ncopy] == 0xEE, "get wrote past %zu bytes", ncopy);
			}
		} else if (what < 200) {
			M.opname = "get_rcu";
			const void *pv = NULL;
			size_t vl = 999999;
			lfmap_read_lock(m);
			rc = lfmap_str_get_rcu(m, key, klen, &pv, &vl);
			if (!s.present[k]) {
				MCHK(rc == -ENOENT, "get_rcu of absent key = %d", rc);
			} else {
				MCHK(rc == 0, "get_rcu = %d", rc);
				MCHK(vl == s.vlen[k], "get_rcu vlen %zu, model %zu", vl, s.vlen[k]);
				MCHK(vl == 0 || memcmp(pv, s.val[k], vl) == 0, "get_rcu bytes differ");
			}
			lfmap_read_unlock(m);
		} else if (what < 300) {
			M.opname = "set";
			size_t vl = rand_vlen(&r);
			rand_bytes(&r, vbuf, vl);
			rc = lfmap_str_set(m, key, klen, vl || tu_chance(&r, 1, 2) ? vbuf : NULL, vl);
			MCHK(rc == (s.present[k] ? 1 : 0), "set = %d, model present %d", rc,
			     s.present[k]);
			sstore(&s, k, vbuf, vl);
		} else if (what < 400) {
			M.opname = "add";
			size_t vl = rand_vlen(&r);
			rand_bytes(&r, vbuf, vl);
			rc = lfmap_str_add(m, key, klen, vbuf, vl);
			if (s.present[k]) {
				MCHK(rc == -EEXIST, "add of present key = %d", rc);
			} else {
				MCHK(rc == 0, "add of absent key = %d", rc);
				sstore(&s, k, vbuf, vl);
			}
		} else if (what < 500) {
			M.opname = "replace";
			size_t vl = rand_vlen(&r);
			rand_bytes(&r, vbuf, vl);
			rc = lfmap_str_replace(m, key, klen, vbuf, vl);
			if (s.present[k]) {
				MCHK(rc == 0, "replace of present key = %d", rc);
				sstore(&s, k, vbuf, vl);
			} else {
				MCHK(rc == -ENOENT, "replace of absent key = %d", rc);
			}
		} else if (what < 700) {
			M.opname = "del";
			rc = lfmap_str_del(m, key, klen);
			if (s.present[k]) {
				MCHK(rc == 0, "del of present key = %d", rc);
				sdrop(&s, k);
			} else {
				MCHK(rc == -ENOENT, "del of absent key = %d", rc);
			}
		} else {
			M.opname = "compute";
			size_t vl = rand_vlen(&r);
			rand_bytes(&r, vbuf, vl);
			struct scompute c = {
				.if_absent = (int)tu_below(&r, 3),
				.if_present = (int)tu_below(&r, 3),
				.v = vbuf,
				.vlen = vl,
				.model_val = s.val[k],
				.model_len = s.vlen[k],
			};
			rc = lfmap_str_compute(m, key, klen, scompute_fn, &c);
			MCHK(c.calls >= 1, "fn never called");
			MCHK(c.saw_present == s.present[k], "fn saw present=%d, model %d",
			     c.saw_present, s.present[k]);
			MCHK(c.saw_present || c.sawlen == 0, "curlen %zu for an absent key", c.sawlen);
			MCHK(c.saw_match, "fn saw another value");
			int verdict = s.present[k] ? c.if_present : c.if_absent;
			if (verdict == LFMAP_COMPUTE_REMOVE && !s.present[k])
				MCHK(rc == LFMAP_COMPUTE_REMOVE || rc == LFMAP_COMPUTE_KEEP,
				     "compute REMOVE on absent = %d", rc);
			else
				MCHK(rc == verdict, "compute = %d, verdict %d", rc, verdict);
			if (verdict == LFMAP_COMPUTE_SET)
				sstore(&s, k, vbuf, vl);
			else if (verdict == LFMAP_COMPUTE_REMOVE && s.present[k])
				sdrop(&s, k);
		}
	}
	scheck_all(m, &s);
	M.opname = "finish";
	MCHK(lfmap_migrate_step(m, 0) == 0, "migrate_step(0)");
	scheck_all(m, &s);
	struct lfmap_stats st;
	lfmap_stats(m, &st);
	cr_log_info("str model seed %" PRIu64 ": %" PRIu64 " migrations, %" PRIu64 " entries",
		    p->seed, st.migrations_finished, st.entries);
	MCHK(st.migrations_finished > 0, "the run never migrated");
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_alloc_assert_balanced(&al, "str model");
	tu_alloc_release(&al);
	for (unsigned i = 0; i < s.n; i++)
		free(s.val[i]);
	free(s.keys);
	free(s.present);
	free(s.val);
	free(s.vlen);
	free(s.seen);
}

ParameterizedTestParameters(model, str)
{
	static struct mparam params[] = {
		{ .seed = 21, .flags = LFMAP_F_NO_BACKGROUND, .max_work = 1, .nkeys = 600,
		  .nops = 100000 },
		{ .seed = 22, .flags = 0, .max_work = 2, .nkeys = 600, .nops = 100000 },
		{ .seed = 23, .flags = LFMAP_F_NO_BACKGROUND | LFMAP_F_FIXED_SEED, .max_work = 1,
		  .nkeys = 40, .nops = 100000 },
	};
	return cr_make_param_array(struct mparam, params, TU_ARRAY_SIZE(params));
}

ParameterizedTest(struct mparam *p, model, str)
{
	if (skip_param(p))
		return;
	run_str_model(p);
}
