/*
 * iter.c - iteration that stays correct during a migration.
 *
 * The root table T is walked bucket by bucket ("source buckets"). For each
 * source bucket i, one acquire load of its head decides where its keys are:
 *  - not FORWARDED: in T's chain i. Every key present for the whole
 *    iteration has its LIVE slot there (a frozen value is immutable, an
 *    unfrozen one is authoritative), so it is seen once (I1/I2, I7).
 *  - FORWARDED: in T->next (U), which does not migrate while we hold the
 *    read lock (I8). With the same seed in U (grow, shrink, compact), the
 *    keys of source i are in the U buckets that i maps to (buckets take the
 *    top bits of the bucket hash, lfm_bucket_index: grow by r: i*r .. i*r +
 *    r - 1; compact: i; shrink by r: i / r), mixed with the keys of other
 *    source buckets in a shrink, so only keys whose bucket hash maps to i
 *    under T are reported.
 *  - A reseed (U has another seed, same size) scatters the keys of source i
 *    over all of U. The walk of T then only records which source buckets it
 *    found FORWARDED (one bit each), and a pass over U afterwards reports
 *    the keys whose source bucket, under T's seed, has its bit set. The
 *    decision is still taken once per source bucket, before its keys are
 *    read from U: a bucket seen forwarded stays forwarded, so its keys are
 *    in U when the pass reads them (I7). The bitmap lives on the stack up to
 *    4096 source buckets, else on the heap; if that allocation fails, the
 *    walk goes in windows of 4096 buckets, each followed by its own pass
 *    over U (slower; iteration never fails for lack of it).
 * Each source bucket is decided exactly once, and each key belongs to one
 * source bucket, so no key is reported from two places. Within one visit a
 * word key has one slot; a node-map key can be removed and re-inserted into a
 * later slot while we scan, so node maps de-duplicate per source bucket (in
 * the U pass of a reseed: per U chain, the only place a key of that chain
 * can move to). De-duplication compares slot key words (the key's full hash
 * under the seed of the table scanned), never the nodes' cached hash fields:
 * a node copied by a reseed keeps the hash of the seed it was inserted under
 * (include/lfmap/node.h, docs/DESIGN.md section 10).
 */
#include "internal.h"

struct seen_ent {
	struct lfmap_node *node;
	uint64_t key; /* slot key word the node was found under */
};

struct emit_ctx {
	struct lfmap *m;
	uint64_t src; /* filter: keys of source bucket src of src_tab */
	const struct lfm_table *src_tab;
	bool filter;
	/* reseed pass over U: report the keys of the source buckets whose bit
	 * is set in fwd (NULL: quiescent, read the source heads instead) */
	bool reseed_pass;
	struct lfm_table *src_table;
	uint64_t dst_seed; /* U's seed */
	uint64_t *fwd;     /* bit j: source bucket fwd_base + j seen FORWARDED */
	uint64_t fwd_base, fwd_len;
	/* word maps */
	lfmap_word_visit_fn wfn;
	/* node maps: the nodes already reported for this source bucket */
	lfmap_node_visit_fn nfn;
	void *arg;
	struct seen_ent seen_inline[32];
	struct seen_ent *seen;
	size_t nseen, capseen;
	bool seen_heap;
	bool no_dedup;
};

/* Bucket of a slot (key word k, value v, of a table with seed slot_seed)
 * in table t. For a node map whose slot key is the hash under another seed,
 * the hash under t's seed is recomputed from the node (LIVE when loaded:
 * safe to dereference under the read lock). */
static uint64_t slot_bucket(const struct lfmap *m, uint64_t k, uint64_t v, uint64_t slot_seed,
			    const struct lfm_table *t)
{
	if (m->kind == LFM_KIND_WORD)
		return lfm_word_bucket(t, k);
	if (slot_seed != t->seed) {
		const struct lfmap_node *n = lfm_val_node(v);
		k = lfm_key_hash(m, lfm_node_key(m, n), t->seed);
	}
	return lfm_bucket_index(t, lfm_node_bhash(m, k));
}

static bool already_seen(struct emit_ctx *e, struct lfmap_node *n, uint64_t k)
{
	struct lfmap *m = e->m;
	for (size_t j = 0; j < e->nseen; j++) {
		struct lfmap_node *o = e->seen[j].node;
		if (o == n)
			return true;
		if (e->seen[j].key == k && lfm_key_match(m, n, lfm_node_key(m, o)))
			return true;
	}
	return false;
}

static int remember(struct emit_ctx *e, struct lfmap_node *n, uint64_t k)
{
	if (e->nseen == e->capseen) {
		size_t ncap = e->capseen * 2;
		struct seen_ent *ns = lfm_alloc(e->m, ncap * sizeof *ns, 8);
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
	e->seen[e->nseen].node = n;
	e->seen[e->nseen].key = k;
	e->nseen++;
	return 0;
}

/* Reseed pass: was the source bucket of this U slot decided "in U"? */
static bool reseed_wanted(struct emit_ctx *e, uint64_t k, uint64_t v)
{
	struct lfm_table *t = e->src_table;
	uint64_t i = slot_bucket(e->m, k, v, e->dst_seed, t);
	if (e->fwd != NULL) {
		if (i < e->fwd_base || i - e->fwd_base >= e->fwd_len)
			return false; /* another window */
		i -= e->fwd_base;
		return (e->fwd[i / 64] >> (i % 64)) & 1;
	}
	/* quiescent (destroy): nothing changes, the head says it */
	return (lfm_load_acquire(&t->buckets[i].ctrl) & LFM_C_FORWARDED) != 0;
}

static int emit(struct emit_ctx *e, uint64_t key, uint64_t val)
{
	if (e->filter && slot_bucket(e->m, key, val, e->src_tab->seed, e->src_tab) != e->src)
		return 0;
	if (e->reseed_pass && !reseed_wanted(e, key, val))
		return 0;
	if (e->m->kind == LFM_KIND_WORD)
		return e->wfn(key, val >> 2, e->arg);
	struct lfmap_node *n = lfm_val_node(val);
	if (e->no_dedup)
		return e->nfn(n, e->arg);
	if (already_seen(e, n, key))
		return 0;
	int r = remember(e, n, key);
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

/* The pass over U of a reseed: the keys of the source buckets decided "in U"
 * (bitmap window, or the heads when quiescent). */
static int reseed_pass(struct emit_ctx *e, struct lfm_table *t, struct lfm_table *u)
{
	int r = 0;
	e->filter = false;
	e->reseed_pass = true;
	e->src_table = t;
	e->dst_seed = u->seed;
	for (uint64_t j = 0; j < u->nbuckets && r == 0; j++) {
		e->nseen = 0;
		r = emit_chain(e, &u->buckets[j]);
	}
	e->reseed_pass = false;
	return r;
}

#define LFM_ITER_STACK_WORDS 64 /* bitmap on the stack: 4096 source buckets */

static int iterate(struct emit_ctx *e)
{
	struct lfmap *m = e->m;
	struct lfm_table *t = lfm_root_acquire(m);
	struct lfm_table *u = NULL; /* T->next, read at the first FORWARDED head */
	bool reseed = false;
	uint64_t fwd_stack[LFM_ITER_STACK_WORDS];
	size_t heap_words = 0;
	uint64_t n = t->nbuckets;
	int r = 0;

	e->seen = e->seen_inline;
	e->capseen = sizeof e->seen_inline / sizeof e->seen_inline[0];
	for (uint64_t i = 0; i < n && r == 0; i++) {
		struct lfm_bucket *head = &t->buckets[i];
		e->nseen = 0;
		e->filter = false;
#ifdef LFM_EXPERIMENT_NO_RECHECK
		if (true) { /* pitfall (I7): stay in T, miss updates made in U */
#else
		if (!(lfm_load_acquire(&head->ctrl) & LFM_C_FORWARDED)) {
#endif
			r = emit_chain(e, head);
			goto next;
		}
		if (u == NULL) {
			/* I7: a FORWARDED head implies next is set, and it is
			 * set once, so T and U are fixed for the rest of the
			 * walk; U does not migrate while we hold the read lock
			 * (I8), even if the root swings to it meanwhile. */
			u = lfm_next_acquire(t);
			reseed = u->seed != t->seed;
			if (reseed && !e->no_dedup) {
				/* One bit per source bucket from here on; if
				 * that does not fit on the stack and cannot be
				 * allocated, windows of 4096 buckets, each
				 * followed by its own pass over U (slower,
				 * never -ENOMEM). */
				uint64_t words = (n - i + 63) / 64;
				e->fwd = fwd_stack;
				e->fwd_len = LFM_ITER_STACK_WORDS * 64;
				if (words > LFM_ITER_STACK_WORDS) {
					uint64_t *h = lfm_alloc(m, words * 8, 8);
					if (h != NULL) {
						e->fwd = h;
						heap_words = words;
						e->fwd_len = words * 64;
					}
				}
				e->fwd_base = i;
				for (uint64_t w = 0; w < e->fwd_len / 64; w++)
					e->fwd[w] = 0;
			}
		}
		if (reseed) {
			if (e->fwd != NULL) {
				uint64_t j = i - e->fwd_base;
				e->fwd[j / 64] |= UINT64_C(1) << (j % 64);
			}
			goto next; /* its keys: in the pass over U */
		}
		e->filter = true;
		e->src = i;
		e->src_tab = t;
		if (u->nbuckets >= n) {
			uint64_t ratio = u->nbuckets / n;
			for (uint64_t j = i * ratio; j < (i + 1) * ratio && r == 0; j++)
				r = emit_chain(e, &u->buckets[j]);
		} else {
			r = emit_chain(e, &u->buckets[i / (n / u->nbuckets)]);
		}
	next:
		/* end of a bitmap window (or of T): report its U keys */
		if (r == 0 && e->fwd != NULL &&
		    (i + 1 == n || i + 1 - e->fwd_base == e->fwd_len)) {
			r = reseed_pass(e, t, u);
			e->fwd_base = i + 1;
			for (uint64_t w = 0; w < e->fwd_len / 64; w++)
				e->fwd[w] = 0;
		}
	}
	if (r == 0 && reseed && e->fwd == NULL)
		r = reseed_pass(e, t, u); /* quiescent: once, by the heads */
	if (heap_words != 0)
		lfm_free(m, e->fwd, heap_words * 8);
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
