/*
 * node.c - the intrusive map. A slot's key word holds the full hash h of the
 * key (0 remapped to 1), its value word the node pointer | LIVE. Several
 * slots may share one h (hash collisions); at most one of them holds a LIVE
 * node of a given key (I2).
 *
 * Insert rule (I2): a key goes into the first slot with hash h that is a
 * candidate: EMPTY, or a tombstone without NOREV (a tombstone's node may be
 * freed, so its key is unknown; reviving it is safe by the rule, not by a
 * key comparison). Unclaimed slots are claimed (0 -> h) on the way. Every
 * update passing a LIVE slot of another key with hash h first sets NOREV on
 * it, so a slot that an update passed never becomes a candidate again. Hence
 * if key A is LIVE at slot j, no earlier h-slot is a candidate, now or later:
 * all inserters of A meet at the same candidate slot, exactly one value CAS
 * wins, and A's slot only moves forward in the chain. With a hash that does
 * not collide in 64 bits no slot is ever passed, and remove + insert of one
 * key reuses its slot (before NOREV existed every insert after a remove took
 * a new slot, and churn lengthened chains until a compaction).
 */
#include "internal.h"

struct node_req {
	enum lfm_node_op op;
	const void *key;
	struct lfmap_node *node;     /* node to install, or to remove (N_REMOVE_NODE) */
	struct lfmap_node *expected; /* N_CMPREPLACE */
	lfmap_compute_fn fn;
	void *arg;
	int ret;
	struct lfmap_node *out; /* node current when the op took effect */
};

static inline uint64_t live_val(struct lfmap_node *n)
{
	return (uint64_t)(uintptr_t)n | LFM_V_LIVE;
}

static inline void set_node_hash(struct lfmap_node *n, uint64_t h)
{
	/* relaxed: published with the node by the release CAS that maps it. */
	__atomic_store_n(&n->hash, h, __ATOMIC_RELAXED);
}

/* node_decide for compute(): calls the user's fn, so it keeps its frame
 * (and its call) off the other operations' path. */
static __attribute__((noinline)) bool node_decide_compute(const struct lfmap *m,
							  struct node_req *r,
							  struct lfmap_node *cur, uint64_t h,
							  uint64_t *nv)
{
	struct lfmap_node *nn = NULL;
	int verdict = r->fn(cur, &nn, r->arg);
	r->ret = verdict;
	if (verdict == LFMAP_COMPUTE_SET) {
		if (nn != NULL && nn == cur) { /* SET of the mapped node: KEEP */
			r->ret = LFMAP_COMPUTE_KEEP;
			return false;
		}
		/* a node of another key would corrupt the map (I1) */
		if (nn == NULL || ((uintptr_t)nn & LFM_NODE_BITS) || !lfm_key_match(m, nn, r->key)) {
			r->ret = -EINVAL;
			return false;
		}
		set_node_hash(nn, h);
		*nv = live_val(nn);
		return true;
	}
	if (verdict == LFMAP_COMPUTE_REMOVE) {
		*nv = (uint64_t)(uintptr_t)cur;
		return cur != NULL;
	}
	if (verdict != LFMAP_COMPUTE_KEEP && verdict >= 0)
		r->ret = -EINVAL; /* negative verdicts are errors, passed on */
	return false;
}

/*
 * Outcome for the key's current node cur (NULL: absent). Returns true if the
 * slot must change to *nv, false if the op completes without writing.
 */
static inline __attribute__((always_inline)) bool
node_decide(const struct lfmap *m, struct node_req *r, enum lfm_node_op op, struct lfmap_node *cur,
	    uint64_t h, uint64_t *nv)
{
	r->out = cur;
	if (cur != NULL && cur == r->node && op != N_REMOVE_NODE) {
		/* upsert / replace / cmp_replace (or insert) of a node that is
		 * already mapped: nothing to do, and no node to hand back as
		 * "old" (the caller would free a live node). */
		r->ret = -EEXIST;
		return false;
	}
	switch (op) {
	case N_INSERT:
		if (cur != NULL) {
			r->ret = -EEXIST;
			return false;
		}
		r->ret = 0;
		break;
	case N_UPSERT:
		r->ret = cur != NULL ? 1 : 0;
		break;
	case N_REPLACE:
		if (cur == NULL) {
			r->ret = -ENOENT;
			return false;
		}
		r->ret = 0;
		break;
	case N_CMPREPLACE:
		if (cur != r->expected) {
			r->ret = cur == NULL ? -ENOENT : -ECANCELED;
			return false;
		}
		r->ret = 0;
		break;
	case N_REMOVE:
	case N_REMOVE_NODE:
		if (cur == NULL || (op == N_REMOVE_NODE && cur != r->node)) {
			r->ret = -ENOENT;
			return false;
		}
		r->ret = 0;
		*nv = (uint64_t)(uintptr_t)cur; /* tombstone keeps the pointer (I6) */
		return true;
	case N_COMPUTE:
		return node_decide_compute(m, r, cur, h, nv);
	}
	set_node_hash(r->node, h);
	*nv = live_val(r->node);
	return true;
}

/* Is the LIVE node n the one mapped for the request's key? */
static inline __attribute__((always_inline)) bool
is_key(const struct lfmap *m, enum lfm_keymode km, const struct node_req *r, struct lfmap_node *n)
{
	return n == r->node || n == r->expected || lfm_key_match_as(m, km, n, r->key);
}

/*
 * Flood defence of the node engine (lib/migrate.c lfm_long_chain). An
 * intrusive map's hash may ignore the seed (allowed: a constant hash, a
 * hash of part of the key): then a reseed moves the same keys into the same
 * chain, and the new table would reseed again after every grace period.
 * Before reseeding, probe: hash the LIVE keys of the chain's first
 * LFMAP_FLOOD_CHAIN_BUCKETS buckets under another seed (the one a fixed-seed
 * map would reseed to; derived from the secret seed otherwise). If more than
 * half of them would still share one bucket, the reseed is futile: the
 * chain is only counted (long_chains), as with LFMAP_F_NO_RESEED. String
 * maps hash with keyed SipHash-1-3: never futile, not probed. Caller holds
 * the read lock (LIVE nodes loaded under it are safe to dereference).
 */
static bool reseed_futile(const struct lfmap *m, const struct lfm_table *t,
			  struct lfm_bucket *b)
{
	uint64_t idx[LFMAP_FLOOD_CHAIN_BUCKETS * LFM_SLOTS];
	uint64_t seed = lfm_mix64(t->seed + UINT64_C(0x9E3779B97F4A7C15));
	size_t n = 0;

	for (int d = 0; d < LFMAP_FLOOD_CHAIN_BUCKETS && b != NULL; d++) {
		for (int s = 0; s < LFM_SLOTS; s++) {
			uint64_t v = lfm_load_acquire(&b->slot[s].val);
			if (!(v & LFM_V_LIVE))
				continue;
			uint64_t h = lfm_key_hash(m, lfm_node_key(m, lfm_val_node(v)), seed);
			idx[n++] = lfm_bucket_index(t, lfm_node_bhash(m, h));
		}
		b = lfm_ctrl_next(lfm_load_acquire(&b->ctrl));
	}
	if (n < 2)
		return false; /* tombstones: a reseed compacts them */
	size_t best = 0;
	for (size_t i = 0; i < n && best * 2 <= n; i++) {
		size_t same = 0;
		for (size_t j = 0; j < n; j++)
			same += idx[j] == idx[i];
		if (same > best)
			best = same;
	}
	return best * 2 > n;
}

static void node_long_chain(struct lfmap *m, struct lfm_table *t, struct lfm_bucket *head,
			    uint64_t len)
{
	if (m->kind == LFM_KIND_NODE && !(m->flags & LFMAP_F_NO_RESEED) &&
	    lfm_load_relaxed(&t->next) == 0 && lfm_load_acquire(&t->ready) &&
	    reseed_futile(m, t, head)) {
		lfm_fetch_add_relaxed(&m->long_chains, 1); /* counted only */
		return;
	}
	lfm_long_chain(m, t, len);
}

/*
 * Every update of the node engine. Written once; op and km are constants in
 * the specialised instances below (insert and remove of the built-in 8-byte
 * key), so the operation switch and the key mode fold away there.
 */
static inline __attribute__((always_inline)) int
node_rmw_as(struct lfmap *m, struct node_req *r, enum lfm_node_op op, enum lfm_keymode km)
{
	struct lfm_table *t = lfm_root_acquire(m);
	lfm_writer_help(m, t);
	int err;

	for (;;) {
		uint64_t h = lfm_key_hash_as(m, km, r->key, t->seed);
		uint64_t i = lfm_bucket_index(t, lfm_node_bhash_as(km, h));
		struct lfm_bucket *head = &t->buckets[i];
		uint64_t nv;

		/* acquire: I7, a FORWARDED head means the copies are in next. */
		if (lfm_load_acquire(&head->ctrl) & LFM_C_FORWARDED) {
			t = lfm_next_acquire(t);
			continue;
		}
	restart:;
		struct lfm_bucket *b = head;
		uint64_t len = 1; /* buckets of the chain walked so far */
		for (;;) {
			for (int s = 0; s < LFM_SLOTS; s++) {
				struct lfm_slot *sl = &b->slot[s];
				uint64_t k = lfm_load_relaxed(&sl->key);
				if (k == 0) {
					/* I1: no h-slot further on. Claim only to insert. */
					if (!node_decide(m, r, op, NULL, h, &nv))
						return r->ret;
					if (!lfm_cas_relaxed(&sl->key, &k, h) && k != h)
						continue;
					k = h;
				}
				if (k != h)
					continue;
				uint64_t v = lfm_load_acquire(&sl->val);
				struct lfmap_node *cur;
			classify:
				if (v & LFM_V_LIVE) {
					cur = lfm_val_node(v);
					if (!is_key(m, km, r, cur)) {
						/*
						 * I2: another key with hash h. Make the
						 * slot non-revivable before passing it
						 * (a frozen slot is final already, I4).
						 * acq_rel: failure re-reads the value
						 * with acquire (a new node is matched).
						 */
						if (!(v & (LFM_V_NOREV | LFM_V_FROZEN)) &&
						    !lfm_cas_acq_rel(&sl->val, &v, v | LFM_V_NOREV))
							goto classify;
						continue;
					}
				} else if ((v & LFM_V_NOREV) == 0) {
					/* EMPTY or a revivable tombstone: the first
					 * candidate, so the key is absent (I2). */
					cur = NULL;
				} else {
					continue; /* a tombstone that is never revived */
				}
				if (!node_decide(m, r, op, cur, h, &nv))
					return r->ret; /* valid if frozen: head seen unforwarded */
				if (v & LFM_V_FROZEN)
					goto frozen;
				nv |= v & LFM_V_NOREV; /* NOREV stays (I2) */
				/* acq_rel: release publishes the node (and its hash);
				 * failure re-reads with acquire. */
				if (lfm_cas_acq_rel(&sl->val, &v, nv)) {
					lfm_account(m, v, nv);
					return r->ret;
				}
				if (v & LFM_V_FROZEN)
					goto frozen;
				goto restart; /* the slot changed under us: rescan */
			}
			uint64_t c = lfm_load_acquire(&b->ctrl);
			struct lfm_bucket *nx = lfm_ctrl_next(c);
			if (nx != NULL) {
				b = nx;
				len++;
				continue;
			}
			if (!node_decide(m, r, op, NULL, h, &nv))
				return r->ret;
			/* One CAS appends the bucket and publishes the entry. */
			LFM_EXP_POINT(LFM_EXP_BEFORE_APPEND);
			int a = lfm_chain_append(m, t, b, &c, h, nv);
			if (a == 1) {
				lfm_account(m, 0, nv);
				lfm_check_load(m);
				if (LFM_UNLIKELY(len + 1 >= LFMAP_FLOOD_CHAIN_BUCKETS))
					node_long_chain(m, t, head, len + 1);
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
		err = lfm_evacuate(m, t, i, true);
		if (err < 0)
			return err;
		t = lfm_next_acquire(t);
	}
}

static __attribute__((noinline)) int node_rmw(struct lfmap *m, struct node_req *r)
{
	return node_rmw_as(m, r, r->op, lfm_keymode(m));
}

static __attribute__((noinline)) int node_insert_u64(struct lfmap *m, struct node_req *r)
{
	return node_rmw_as(m, r, N_INSERT, LFM_KEYS_U64);
}

static __attribute__((noinline)) int node_remove_u64(struct lfmap *m, struct node_req *r)
{
	return node_rmw_as(m, r, N_REMOVE, LFM_KEYS_U64);
}

/* ---- lookup: wait-free, no RMW, no fence ----------------------------------- */

/*
 * The lookup, written once and specialised per key mode (km is a constant
 * in each instance): with the built-in 8-byte key it makes no call at all.
 */
static inline __attribute__((always_inline)) struct lfmap_node *
node_lookup_as(struct lfmap *m, enum lfm_keymode km, const void *key)
{
	struct lfm_table *t = lfm_root_acquire(m);
	uint64_t h = lfm_key_hash_as(m, km, key, t->seed);
	struct lfm_bucket *b = &t->buckets[lfm_bucket_index(t, lfm_node_bhash_as(km, h))];

	/* I7: seen not FORWARDED before the scan, or go to next (I8: once).
	 * (Experiment NO_RECHECK drops the check, as in the word map.) The
	 * control word also ends the chain early (lfm_chain_ends_at). */
	uint64_t c = lfm_load_acquire(&b->ctrl);
#ifndef LFM_EXPERIMENT_NO_RECHECK
	if (LFM_UNLIKELY(c & LFM_C_FORWARDED)) {
		struct lfm_table *u = lfm_next_acquire(t);
		if (u->seed != t->seed)
			h = lfm_key_hash_as(m, km, key, u->seed);
		b = &u->buckets[lfm_bucket_index(u, lfm_node_bhash_as(km, h))];
		c = lfm_load_acquire(&b->ctrl);
	}
#endif
	for (;;) {
		/* The slots with hash h, all compared at once (no branch per
		 * slot: lfm_bucket_match); usually one. */
		for (unsigned hit = lfm_bucket_match(b, h); hit != 0; hit &= hit - 1) {
			/* acquire: the node's contents were written before the
			 * release CAS that mapped it. */
			uint64_t v = lfm_load_acquire(&b->slot[__builtin_ctz(hit)].val);
			if ((v & LFM_V_LIVE) && lfm_key_match_as(m, km, lfm_val_node(v), key))
				return lfm_val_node(v);
		}
		if (lfm_chain_ends_at(b, c))
			return NULL; /* I1 */
		b = lfm_ctrl_next(c);
		c = lfm_load_acquire(&b->ctrl);
	}
}

/* One out-of-line instance per key mode; the entry points dispatch on the
 * map's mode with tail calls. */
static __attribute__((noinline)) struct lfmap_node *node_lookup_u64(struct lfmap *m,
								    const void *key)
{
	return node_lookup_as(m, LFM_KEYS_U64, key);
}

static __attribute__((noinline)) struct lfmap_node *node_lookup_bytes(struct lfmap *m,
								      const void *key)
{
	return node_lookup_as(m, LFM_KEYS_BYTES, key);
}

static __attribute__((noinline)) struct lfmap_node *node_lookup_cb(struct lfmap *m,
								   const void *key)
{
	return node_lookup_as(m, LFM_KEYS_CALLBACKS, key);
}

static inline struct lfmap_node *node_lookup(struct lfmap *m, const void *key)
{
	if (m->key_size == 8)
		return node_lookup_u64(m, key);
	if (LFM_UNLIKELY(m->key_size != 0))
		return node_lookup_bytes(m, key);
	return node_lookup_cb(m, key);
}

struct lfmap_node *lfm_node_lookup(struct lfmap *m, const void *key)
{
	return node_lookup(m, key);
}

struct lfmap_node *lfmap_lookup_rcu(struct lfmap *m, const void *key)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || key == NULL) {
		errno = EINVAL;
		return NULL;
	}
	return node_lookup(m, key);
}

/* ---- updates ------------------------------------------------------------------ */

static bool bad_node(const struct lfmap_node *n)
{
	return n == NULL || ((uintptr_t)n & LFM_NODE_BITS) != 0; /* I2: NOREV bit */
}

int lfmap_insert_rcu(struct lfmap *m, struct lfmap_node *node, struct lfmap_node **existing)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || bad_node(node))
		return -EINVAL;
	/* One test of the key mode picks both the key and the instance. */
	struct node_req r = {.op = N_INSERT, .node = node};
	int ret;
	if (m->key_size == 8) {
		r.key = lfm_node_key_as(m, LFM_KEYS_U64, node);
		ret = node_insert_u64(m, &r);
	} else {
		r.key = lfm_node_key(m, node);
		ret = node_rmw(m, &r);
	}
	if (ret == -EEXIST && existing != NULL)
		*existing = r.out;
	return ret;
}

int lfmap_upsert_rcu(struct lfmap *m, struct lfmap_node *node, struct lfmap_node **old)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || bad_node(node))
		return -EINVAL;
	struct node_req r = {.op = N_UPSERT, .key = lfm_node_key(m, node), .node = node};
	int ret = node_rmw(m, &r);
	if (ret >= 0 && old != NULL)
		*old = r.out;
	return ret;
}

int lfmap_replace_rcu(struct lfmap *m, struct lfmap_node *node, struct lfmap_node **old)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || bad_node(node))
		return -EINVAL;
	struct node_req r = {.op = N_REPLACE, .key = lfm_node_key(m, node), .node = node};
	int ret = node_rmw(m, &r);
	if (ret == 0 && old != NULL)
		*old = r.out;
	return ret;
}

int lfmap_cmp_replace_rcu(struct lfmap *m, struct lfmap_node *expected, struct lfmap_node *node)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || bad_node(node) || bad_node(expected))
		return -EINVAL;
	const void *key = lfm_node_key(m, expected);
	if (!lfm_key_match(m, node, key))
		return -EINVAL;
	struct node_req r = {.op = N_CMPREPLACE, .key = key, .node = node, .expected = expected};
	return node_rmw(m, &r);
}

int lfmap_remove_rcu(struct lfmap *m, const void *key, struct lfmap_node **removed)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || key == NULL)
		return -EINVAL;
	struct node_req r = {.op = N_REMOVE, .key = key};
	int ret = m->key_size == 8 ? node_remove_u64(m, &r) : node_rmw(m, &r);
	if (ret == 0 && removed != NULL)
		*removed = r.out;
	return ret;
}

int lfmap_remove_node_rcu(struct lfmap *m, struct lfmap_node *node)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || bad_node(node))
		return -EINVAL;
	struct node_req r = {.op = N_REMOVE_NODE, .key = lfm_node_key(m, node), .node = node};
	return node_rmw(m, &r);
}

/* Shared by the node map and the string map (which passes its own fn). */
int lfm_node_compute(struct lfmap *m, const void *key, lfmap_compute_fn fn, void *arg,
		     struct lfmap_node **old)
{
	struct node_req r = {.op = N_COMPUTE, .key = key, .fn = fn, .arg = arg};
	int ret = node_rmw(m, &r);
	if (ret >= 0 && old != NULL)
		*old = r.out;
	return ret;
}

int lfmap_compute_rcu(struct lfmap *m, const void *key, lfmap_compute_fn fn, void *arg,
		      struct lfmap_node **old)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || key == NULL || fn == NULL)
		return -EINVAL;
	return lfm_node_compute(m, key, fn, arg, old);
}

int lfm_node_put(struct lfmap *m, struct lfmap_node *node, enum lfm_node_op op,
		 struct lfmap_node **cur)
{
	struct node_req r = {.op = op, .key = lfm_node_key(m, node), .node = node};
	int ret = node_rmw(m, &r);
	if (cur != NULL)
		*cur = ret >= 0 || ret == -EEXIST ? r.out : NULL;
	return ret;
}

int lfm_node_remove(struct lfmap *m, const void *key, struct lfmap_node **removed)
{
	struct node_req r = {.op = N_REMOVE, .key = key};
	int ret = node_rmw(m, &r);
	if (removed != NULL)
		*removed = ret == 0 ? r.out : NULL;
	return ret;
}

int lfmap_foreach_rcu(struct lfmap *m, lfmap_node_visit_fn fn, void *arg)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_NODE) || fn == NULL)
		return -EINVAL;
	return lfm_node_foreach(m, fn, arg);
}
