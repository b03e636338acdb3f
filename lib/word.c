/*
 * word.c - the word-key map: 64-bit keys inline in the slot key word, values
 * encoded as (v << 2) | LIVE in the slot value word.
 *
 * Every update is one routine, word_rmw(): find (or claim) the key's slot in
 * the authoritative table, then a CAS loop on its value word driven by
 * word_decide(). A CAS can only fail because the value changed or was frozen
 * (I4): the former re-decides, the latter helps evacuate the bucket and
 * retries in the next table (at most one hop, I8).
 */
#include "internal.h"

enum word_op { W_INSERT, W_PUT, W_REPLACE, W_CAS, W_ADD, W_REMOVE, W_COMPUTE };

struct word_req {
	enum word_op op;
	uint64_t key;
	uint64_t val;      /* new value (insert/put/replace/cas desired) */
	uint64_t expected; /* cas */
	int64_t delta;     /* fetch-add */
	lfmap_word_compute_fn fn;
	void *arg;
	/* results */
	int ret;
	bool has_out;
	uint64_t out;
};

static inline uint64_t enc(uint64_t v)
{
	return (v << 2) | LFM_V_LIVE;
}
static inline uint64_t dec(uint64_t w)
{
	return w >> 2;
}

/*
 * Decide the outcome given the current value word `cur` (FROZEN bit
 * ignored). Returns true if the value word must become *nv; false if the
 * operation completes without writing (r->ret set).
 */
#define LFM_ALWAYS_INLINE inline __attribute__((always_inline))

static LFM_ALWAYS_INLINE bool word_decide(struct word_req *r, uint64_t cur, uint64_t *nv)
{
	bool live = (cur & LFM_V_LIVE) != 0;
	uint64_t v = dec(cur);

	r->has_out = live;
	r->out = v;
	switch (r->op) {
	case W_INSERT:
		if (live) {
			r->ret = -EEXIST;
			return false;
		}
		*nv = enc(r->val);
		r->ret = 0;
		return true;
	case W_PUT:
		*nv = enc(r->val);
		r->ret = live ? 1 : 0;
		return true;
	case W_REPLACE:
		if (!live) {
			r->ret = -ENOENT;
			return false;
		}
		*nv = enc(r->val);
		r->ret = 0;
		return true;
	case W_CAS:
		if (!live) {
			r->ret = -ENOENT;
			return false;
		}
		if (v != r->expected) {
			r->ret = -ECANCELED;
			return false;
		}
		*nv = enc(r->val);
		r->ret = 0;
		return true;
	case W_ADD:
		*nv = enc(((live ? v : 0) + (uint64_t)r->delta) & LFMAP_WORD_VALUE_MAX);
		r->out = live ? v : 0;
		r->has_out = true;
		r->ret = 0;
		return true;
	case W_REMOVE:
		if (!live) {
			r->ret = -ENOENT;
			return false;
		}
		*nv = LFM_WORD_TOMB;
		r->ret = 0;
		return true;
	case W_COMPUTE: {
		uint64_t newv = 0;
		int verdict = r->fn(r->key, live ? &v : NULL, &newv, r->arg);
		r->ret = verdict;
		if (verdict == LFMAP_COMPUTE_SET) {
			if (newv > LFMAP_WORD_VALUE_MAX) {
				r->ret = -ERANGE;
				return false;
			}
			*nv = enc(newv);
			return true;
		}
		if (verdict == LFMAP_COMPUTE_REMOVE) {
			*nv = LFM_WORD_TOMB;
			return live; /* removing an absent key writes nothing */
		}
		if (verdict != LFMAP_COMPUTE_KEEP)
			r->ret = -EINVAL;
		return false;
	}
	}
	r->ret = -EINVAL;
	return false;
}

/*
 * CAS loop on one value word. Returns 1 when done (r->ret holds the result),
 * 0 when the word is frozen and the caller must help and move on (I4).
 */
static LFM_ALWAYS_INLINE int value_cas_loop(struct lfmap *m, struct word_req *r, lfm_word *vp)
{
	/* acquire: a value published by a release CAS, with what the writer
	 * stored before (user data behind pointer values). */
	uint64_t cur = lfm_load_acquire(vp);
	for (;;) {
		uint64_t nv;
		bool write = word_decide(r, cur & ~LFM_V_FROZEN, &nv);
		if (!write)
			return 1; /* valid even if frozen: see lfmap_word_get_rcu */
		if (cur & LFM_V_FROZEN)
			return 0;
		/* acq_rel: release publishes the new value; on failure cur is
		 * re-read with acquire and we decide again. */
		if (lfm_cas_acq_rel(vp, &cur, nv)) {
			lfm_account(m, cur, nv);
			return 1;
		}
	}
}

/* Key 0 lives in the map's side slot, which no migration touches. */
static int zero_key_rmw(struct lfmap *m, struct word_req *r)
{
	(void)value_cas_loop(m, r, &m->zero_val);
	return r->ret;
}

/*
 * Always inlined into each public update with a constant r->op, so the
 * compiler drops word_decide's switch and the unused cases (insert and
 * remove: about a third fewer instructions than one generic routine).
 */
static LFM_ALWAYS_INLINE int word_rmw(struct lfmap *m, struct word_req *r)
{
	if (r->key == 0)
		return zero_key_rmw(m, r);

	struct lfm_table *t = lfm_root_acquire(m);
	lfm_writer_help(m, t);
	int err;

	for (;;) {
		uint64_t i = lfm_word_bucket(t, r->key);
		struct lfm_bucket *b = &t->buckets[i];
		/* acquire: I7, a FORWARDED head means the copies are in next. */
		uint64_t c = lfm_load_acquire(&b->ctrl);
		if (c & LFM_C_FORWARDED) {
			t = lfm_next_acquire(t);
			continue;
		}
		uint64_t len = 1; /* buckets of the chain walked so far */
		for (;;) {
			unsigned unclaimed, hit = lfm_bucket_match_claim(b, r->key, &unclaimed);
			struct lfm_slot *sl;
			if (hit != 0) {
				sl = &b->slot[__builtin_ctz(hit)];
			} else if (unclaimed != 0) {
				/* I1: the key is in no later slot, and the
				 * lowest unclaimed slot (of the same read) is
				 * the next to claim. Claim it only if the op
				 * would insert. A lost claim to another key (or
				 * after a stale 0) reads the bucket again. */
				uint64_t nv, k = 0;
				if (!word_decide(r, 0, &nv))
					return r->ret;
				sl = &b->slot[__builtin_ctz(unclaimed)];
				if (!lfm_cas_relaxed(&sl->key, &k, r->key) && k != r->key)
					continue;
			} else {
				goto next_bucket;
			}
			if (value_cas_loop(m, r, &sl->val))
				return r->ret;
			goto frozen;
		next_bucket:
			c = lfm_load_acquire(&b->ctrl);
			struct lfm_bucket *nx = lfm_ctrl_next(c);
			if (nx != NULL) {
				b = nx;
				len++;
				continue;
			}
			/* End of chain: the key is absent. */
			uint64_t nv;
			if (!word_decide(r, 0, &nv))
				return r->ret;
			/* One CAS appends the bucket and publishes the entry. */
			LFM_EXP_POINT(LFM_EXP_BEFORE_APPEND);
			int a = lfm_chain_append(m, t, b, &c, r->key, nv);
			if (a == 1) {
				lfm_account(m, 0, nv);
				lfm_check_load(m);
				lfm_chain_grew(m, t, len + 1);
				return r->ret;
			}
			if (a == -1)
				goto frozen;
			if (a < 0)
				return a;
			b = lfm_ctrl_next(c);
			len++;
		}
	frozen:
		/* The bucket is being evacuated: finish it, then the key's
		 * authoritative copy is in next (I7, I8: one hop only). */
		err = lfm_evacuate(m, t, i, true);
		if (err < 0)
			return err;
		t = lfm_next_acquire(t);
	}
}

/* ---- lookups: wait-free, no RMW, no fence ----------------------------------- */

static LFM_ALWAYS_INLINE int word_get(struct lfmap *m, uint64_t key, uint64_t *val)
{
	uint64_t v;
	if (LFM_UNLIKELY(key == 0)) {
		v = lfm_load_acquire(&m->zero_val);
		goto out;
	}
	struct lfm_table *t = lfm_root_acquire(m);
	struct lfm_bucket *b = &t->buckets[lfm_word_bucket(t, key)];
	/*
	 * Before returning a frozen value or "absent", a reader must have seen
	 * the head not FORWARDED (I7): this one load before the scan. If it is
	 * FORWARDED, next holds the bucket's keys and is itself not migrating
	 * while we are in this read-side section (I8). acquire: also pairs
	 * with the release CAS that appended the overflow bucket c points to.
	 */
	uint64_t c = lfm_load_acquire(&b->ctrl);
#ifndef LFM_EXPERIMENT_NO_RECHECK
	/* (Experiment NO_RECHECK drops this check: pitfall "a reader
	 * returning a frozen value without having seen the bucket not
	 * FORWARDED", a stale read, I7.) */
	if (LFM_UNLIKELY(c & LFM_C_FORWARDED)) {
		t = lfm_next_acquire(t);
		b = &t->buckets[lfm_word_bucket(t, key)];
		LFM_EXP_POINT(LFM_EXP_READER_HOP);
		c = lfm_load_acquire(&b->ctrl);
	}
#endif
	for (;;) {
		unsigned hit = lfm_bucket_match(b, key);
		if (LFM_LIKELY(hit != 0)) {
			/* I1: one slot per key and table. acquire: the value
			 * load carries the ordering of the relaxed key load. */
			v = lfm_load_acquire(&b->slot[__builtin_ctz(hit)].val);
			goto out;
		}
		if (lfm_chain_ends_at(b, c))
			return -ENOENT; /* I1 */
		b = lfm_ctrl_next(c);
		c = lfm_load_acquire(&b->ctrl);
	}
out:
	if (!(v & LFM_V_LIVE))
		return -ENOENT;
	if (val != NULL)
		*val = dec(v);
	return 0;
}

int lfmap_word_get_rcu(struct lfmap *m, uint64_t key, uint64_t *val)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_WORD))
		return -EINVAL;
	return word_get(m, key, val);
}

/* ---- updates ------------------------------------------------------------------ */

/* Run a request; the caller holds the read lock. *out gets the value that
 * was current when the operation took effect, if there was one. */
static LFM_ALWAYS_INLINE int run_rcu(struct lfmap *m, struct word_req *r, uint64_t *out)
{
	int ret = word_rmw(m, r);
	if (out != NULL && r->has_out && ret != -ENOMEM && ret != -EINVAL && ret != -ERANGE)
		*out = r->out;
	return ret;
}

#define CHECK_ARGS(v)                                \
	do {                                         \
		if (lfm_bad_map_rcu(m, LFM_KIND_WORD))\
			return -EINVAL;              \
		if ((v) > LFMAP_WORD_VALUE_MAX)      \
			return -ERANGE;              \
	} while (0)

/* Insert, put and remove: the daemon's hot updates, inlined into both the
 * _rcu entry point and the one that locks (no second call layer). */
static LFM_ALWAYS_INLINE int run_simple(struct lfmap *m, enum word_op op, uint64_t key,
					uint64_t val, uint64_t *out)
{
	struct word_req r = {.op = op, .key = key, .val = val};
	return run_rcu(m, &r, out);
}

int lfmap_word_insert_rcu(struct lfmap *m, uint64_t key, uint64_t val, uint64_t *cur)
{
	CHECK_ARGS(val);
	return run_simple(m, W_INSERT, key, val, cur);
}

int lfmap_word_put_rcu(struct lfmap *m, uint64_t key, uint64_t val, uint64_t *old)
{
	CHECK_ARGS(val);
	return run_simple(m, W_PUT, key, val, old);
}

int lfmap_word_replace_rcu(struct lfmap *m, uint64_t key, uint64_t val, uint64_t *old)
{
	CHECK_ARGS(val);
	struct word_req r = {.op = W_REPLACE, .key = key, .val = val};
	return run_rcu(m, &r, old);
}

int lfmap_word_cas_rcu(struct lfmap *m, uint64_t key, uint64_t *expected, uint64_t desired)
{
	CHECK_ARGS(desired);
	if (expected == NULL)
		return -EINVAL;
	struct word_req r = {.op = W_CAS, .key = key, .val = desired, .expected = *expected};
	uint64_t cur = 0;
	int ret = run_rcu(m, &r, &cur);
	if (ret == -ECANCELED)
		*expected = cur;
	return ret;
}

int lfmap_word_fetch_add_rcu(struct lfmap *m, uint64_t key, int64_t delta, uint64_t *old)
{
	CHECK_ARGS(0);
	struct word_req r = {.op = W_ADD, .key = key, .delta = delta};
	return run_rcu(m, &r, old);
}

int lfmap_word_remove_rcu(struct lfmap *m, uint64_t key, uint64_t *old)
{
	CHECK_ARGS(0);
	return run_simple(m, W_REMOVE, key, 0, old);
}

int lfmap_word_compute_rcu(struct lfmap *m, uint64_t key, lfmap_word_compute_fn fn, void *arg,
			   uint64_t *old)
{
	CHECK_ARGS(0);
	if (fn == NULL)
		return -EINVAL;
	struct word_req r = {.op = W_COMPUTE, .key = key, .fn = fn, .arg = arg};
	return run_rcu(m, &r, old);
}

/* Entry points that take the read lock themselves. */

int lfmap_word_get(struct lfmap *m, uint64_t key, uint64_t *val)
{
	if (lfm_bad_map(m, LFM_KIND_WORD))
		return -EINVAL;
	lfm_read_lock(m);
	int ret = word_get(m, key, val);
	lfm_read_unlock(m);
	return ret;
}

#define LOCKED(call)                                    \
	do {                                            \
		if (lfm_bad_map(m, LFM_KIND_WORD))      \
			return -EINVAL;                 \
		lfm_read_lock(m);                       \
		int ret_ = (call);                      \
		lfm_read_unlock(m);                     \
		return ret_;                            \
	} while (0)

/* The argument checks of CHECK_ARGS, then run_simple under the lock. */
#define LOCKED_SIMPLE(op, v, out)                            \
	do {                                                 \
		if (lfm_bad_map(m, LFM_KIND_WORD))           \
			return -EINVAL;                      \
		if ((v) > LFMAP_WORD_VALUE_MAX)              \
			return -ERANGE;                      \
		lfm_read_lock(m);                            \
		int ret_ = run_simple(m, op, key, (v), out); \
		lfm_read_unlock(m);                          \
		return ret_;                                 \
	} while (0)

int lfmap_word_insert(struct lfmap *m, uint64_t key, uint64_t val, uint64_t *cur)
{
	LOCKED_SIMPLE(W_INSERT, val, cur);
}

int lfmap_word_put(struct lfmap *m, uint64_t key, uint64_t val, uint64_t *old)
{
	LOCKED_SIMPLE(W_PUT, val, old);
}

int lfmap_word_replace(struct lfmap *m, uint64_t key, uint64_t val, uint64_t *old)
{
	LOCKED(lfmap_word_replace_rcu(m, key, val, old));
}

int lfmap_word_cas(struct lfmap *m, uint64_t key, uint64_t *expected, uint64_t desired)
{
	LOCKED(lfmap_word_cas_rcu(m, key, expected, desired));
}

int lfmap_word_fetch_add(struct lfmap *m, uint64_t key, int64_t delta, uint64_t *old)
{
	LOCKED(lfmap_word_fetch_add_rcu(m, key, delta, old));
}

int lfmap_word_remove(struct lfmap *m, uint64_t key, uint64_t *old)
{
	LOCKED_SIMPLE(W_REMOVE, 0, old);
}

int lfmap_word_compute(struct lfmap *m, uint64_t key, lfmap_word_compute_fn fn, void *arg,
		       uint64_t *old)
{
	LOCKED(lfmap_word_compute_rcu(m, key, fn, arg, old));
}

int lfmap_word_foreach_rcu(struct lfmap *m, lfmap_word_visit_fn fn, void *arg)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_WORD) || fn == NULL)
		return -EINVAL;
	return lfm_word_foreach(m, fn, arg);
}

int lfmap_word_foreach(struct lfmap *m, lfmap_word_visit_fn fn, void *arg)
{
	LOCKED(lfmap_word_foreach_rcu(m, fn, arg));
}
