/*
 * iter.c - iteration that stays correct during a migration.
 *
 * The root table T is walked bucket by bucket ("source buckets"). For each
 * source bucket i, one acquire load of its head decides where its keys are:
 *  - not FORWARDED: in T's chain i. Every key present for the whole
 *    iteration has its LIVE slot there (a frozen value is immutable, an
 *    unfrozen one is authoritative), so it is seen once (I1/I2, I7).
 *  - FORWARDED: in T->next (U), which does not migrate while we hold the
 *    read lock (I8). The keys of source i are in the U buckets that i maps to
 *    (grow: i, i+n, ...; compact: i; shrink: i & U->mask), mixed with the
 *    keys of other source buckets in a shrink, so only keys whose bucket
 *    hash maps to i under T are reported.
 * Each source bucket is visited exactly once, and each key belongs to one
 * source bucket, so no key is reported from two places. Within one visit a
 * word key has one slot; a node-map key can be removed and re-inserted into a
 * later slot while we scan, so node maps de-duplicate per source bucket.
 */
#include "internal.h"

struct emit_ctx {
	struct lfmap *m;
	uint64_t src, src_mask, src_seed; /* filter: keys of source bucket src */
	bool filter;
	/* word maps */
	lfmap_word_visit_fn wfn;
	/* node maps: the nodes already reported for this source bucket */
	lfmap_node_visit_fn nfn;
	void *arg;
	struct lfmap_node *seen_inline[32];
	struct lfmap_node **seen;
	size_t nseen, capseen;
	bool seen_heap;
	bool no_dedup;
};

static uint64_t bhash(const struct lfmap *m, uint64_t key, uint64_t seed)
{
	return m->kind == LFM_KIND_WORD ? lfm_word_bhash(key, seed) : lfm_node_bhash(key);
}

static bool already_seen(struct emit_ctx *e, struct lfmap_node *n)
{
	struct lfmap *m = e->m;
	uint64_t h = __atomic_load_n(&n->hash, __ATOMIC_RELAXED);
	for (size_t j = 0; j < e->nseen; j++) {
		struct lfmap_node *o = e->seen[j];
		if (o == n)
			return true;
		if (__atomic_load_n(&o->hash, __ATOMIC_RELAXED) == h &&
		    m->match(n, m->key_of(o, m->cb_arg), m->cb_arg))
			return true;
	}
	return false;
}

static int remember(struct emit_ctx *e, struct lfmap_node *n)
{
	if (e->nseen == e->capseen) {
		size_t ncap = e->capseen * 2;
		struct lfmap_node **ns = lfm_alloc(e->m, ncap * sizeof *ns, 8);
		if (ns == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < e->nseen; j++)
			ns[j] = e->seen[j];
		if (e->seen_heap)
			lfm_free(e->m, e->seen, e->capseen * sizeof *ns);
		e->seen = ns;
		e->capseen = ncap;
		e->seen_heap = true;
	}
	e->seen[e->nseen++] = n;
	return 0;
}

static int emit(struct emit_ctx *e, uint64_t key, uint64_t val)
{
	if (e->filter && (bhash(e->m, key, e->src_seed) & e->src_mask) != e->src)
		return 0;
	if (e->m->kind == LFM_KIND_WORD)
		return e->wfn(key, val >> 2, e->arg);
	struct lfmap_node *n = (struct lfmap_node *)(uintptr_t)(val & ~LFM_V_STATE);
	if (e->no_dedup)
		return e->nfn(n, e->arg);
	if (already_seen(e, n))
		return 0;
	int r = remember(e, n);
	return r < 0 ? r : e->nfn(n, e->arg);
}

static int emit_chain(struct emit_ctx *e, struct lfm_bucket *b)
{
	while (b != NULL) {
		for (int s = 0; s < LFM_SLOTS; s++) {
			uint64_t k = lfm_load_relaxed(&b->slot[s].key);
			if (k == 0)
				return 0; /* I1 */
			/* acquire: the value's payload (node) is published by
			 * the release CAS that stored it. */
			uint64_t v = lfm_load_acquire(&b->slot[s].val);
			if (!(v & LFM_V_LIVE))
				continue;
			int r = emit(e, k, v & ~LFM_V_FROZEN);
			if (r != 0)
				return r;
		}
		b = lfm_ctrl_next(lfm_load_acquire(&b->ctrl));
	}
	return 0;
}

static int iterate(struct emit_ctx *e)
{
	struct lfmap *m = e->m;
	struct lfm_table *t = lfm_root_acquire(m);
	int r = 0;

	e->seen = e->seen_inline;
	e->capseen = sizeof e->seen_inline / sizeof e->seen_inline[0];
	for (uint64_t i = 0; i < t->nbuckets && r == 0; i++) {
		struct lfm_bucket *head = &t->buckets[i];
		e->nseen = 0;
		e->filter = false;
#ifdef LFM_EXPERIMENT_NO_RECHECK
		if (true) { /* pitfall (I7): stay in T, miss updates made in U */
#else
		if (!(lfm_load_acquire(&head->ctrl) & LFM_C_FORWARDED)) {
#endif
			r = emit_chain(e, head);
			continue;
		}
		struct lfm_table *u = lfm_next_acquire(t);
		e->filter = true;
		e->src = i;
		e->src_mask = t->mask;
		e->src_seed = t->seed;
		if (u->nbuckets >= t->nbuckets) {
			for (uint64_t j = i; j < u->nbuckets && r == 0; j += t->nbuckets)
				r = emit_chain(e, &u->buckets[j]);
		} else {
			r = emit_chain(e, &u->buckets[i & u->mask]);
		}
	}
	if (e->seen_heap)
		lfm_free(m, e->seen, e->capseen * sizeof *e->seen);
	return r;
}

int lfm_word_foreach(struct lfmap *m, lfmap_word_visit_fn fn, void *arg)
{
	uint64_t z = lfm_load_acquire(&m->zero_val);
	if (z & LFM_V_LIVE) {
		int r = fn(0, z >> 2, arg);
		if (r != 0)
			return r;
	}
	struct emit_ctx e = {.m = m, .wfn = fn, .arg = arg};
	return iterate(&e);
}

int lfm_node_foreach(struct lfmap *m, lfmap_node_visit_fn fn, void *arg)
{
	struct emit_ctx e = {.m = m, .nfn = fn, .arg = arg};
	return iterate(&e);
}

int lfm_node_foreach_quiescent(struct lfmap *m, lfmap_node_visit_fn fn, void *arg)
{
	struct emit_ctx e = {.m = m, .nfn = fn, .arg = arg, .no_dedup = true};
	return iterate(&e);
}
