/*
 * migrate.c - incremental migration and the evacuation barrier.
 *
 * A migration moves every bucket of table T (the root) into T->next (U):
 *   evacuate(i) = freeze the chain of bucket i   (I4, I5)
 *               + copy its live slots into U     (I6)
 *               + set FORWARDED on its head      (I7)
 * Work is handed out by T->work_cursor and proved done by T->verified (I9);
 * whoever moves verified to the end swings the root to U and retires T with
 * call_rcu. Everything here runs inside a read-side critical section of the
 * caller (a writer, the background callback, lfmap_migrate_step), so T and U
 * stay allocated while it runs (I8).
 */
#include <stdio.h>

#include "internal.h"

/* Buckets per background callback: at least 1024, and enough that a
 * migration nobody else drives finishes in about 32 grace periods. */
#define LFM_BG_CHUNK(n) ((n) / 32 > 1024 ? (n) / 32 : 1024)

/* ---- step 1: freeze ----------------------------------------------------- */

/*
 * Freeze a whole chain (I5): each bucket's control word first (fetch-or, so
 * the overflow pointer we follow is the one no append can change any more),
 * then each of its value words. Both are RMWs with acq_rel: acquire so we see
 * the contents of a bucket appended just before (published by a release CAS),
 * release is not needed for correctness but keeps every state change of a
 * value word in one release sequence.
 */
static void freeze_chain(struct lfm_bucket *b)
{
	bool head = true;
	while (b != NULL) {
#if defined(LFM_EXPERIMENT_NOFREEZE)
		/* (Experiment NOFREEZE: nothing is frozen; pitfalls "an update
		 * CASing a value the evacuator already read" (I4) and "an append
		 * behind the evacuator" (I5).) */
		uint64_t c = lfm_load_acquire(&b->ctrl);
		(void)head;
		b = lfm_ctrl_next(c);
		continue;
#elif defined(LFM_EXPERIMENT_HEAD_ONLY)
		/* (Experiment HEAD_ONLY: only the head's control word is frozen,
		 * so the chain's tail still takes appends (I5).) */
		uint64_t c = head ? lfm_fetch_or_acq_rel(&b->ctrl, LFM_C_FROZEN)
				  : lfm_load_acquire(&b->ctrl);
#else
		uint64_t c = lfm_fetch_or_acq_rel(&b->ctrl, LFM_C_FROZEN);
#endif
		for (int s = 0; s < LFM_SLOTS; s++) {
			lfm_word *vp = &b->slot[s].val;
			uint64_t v = lfm_load_acquire(vp);
			/* I4: after this CAS no user CAS on the word can succeed. */
			while (!(v & LFM_V_FROZEN) && !lfm_cas_acq_rel(vp, &v, v | LFM_V_FROZEN))
				;
		}
		if (head)
			LFM_EXP_POINT(LFM_EXP_FROZE_HEAD);
		head = false;
		b = lfm_ctrl_next(c);
	}
}

/* ---- step 2: copy --------------------------------------------------------- */

/*
 * Node maps: is the U slot value cur (never EMPTY, never FROZEN: U does not
 * migrate during this migration, I8) the copy of node x, from source bucket
 * src of T, or does it show that x was copied?
 *  - x's own pointer, LIVE or as a tombstone: yes;
 *  - another LIVE node with x's key: yes (the copy was made, then users
 *    replaced it in place: upsert, replace, compute). LIVE when loaded, so
 *    dereferencing it is safe under the read lock;
 *  - anything else (a LIVE node of another key; a tombstone, whose node is
 *    never dereferenced: it may be freed already, and after a reseed it may
 *    belong to another source bucket): yes iff src is FORWARDED, since
 *    then every entry of src was copied (I7), x included. If src is not
 *    FORWARDED, no user has written a key of src into U yet (users reach
 *    U only after FORWARDED, I7), so x's copy, if made, is untouched, and
 *    this is another key's slot.
 * Ordering: if this is x's copy slot and it holds something else, users
 * removed x's key there after seeing src FORWARDED (and maybe another key
 * of the same hash revived the slot since, I2). Every write of a value word
 * is a CAS (acq_rel), so our acquire load of cur synchronizes with that
 * removal, and the acquire load of src's head then sees FORWARDED.
 * Several source buckets share one full hash in U only after a reseed (same
 * seed: one h, one bucket of T), and only when the user hash collides under
 * U's seed but not under T's; then a user insert of the other key may take
 * the EMPTY slot a copier is about to CAS, which the copier must skip, not
 * count as its copy.
 */
static bool slot_is_ours(const struct lfmap *m, struct lfm_bucket *src, uint64_t cur,
			 const struct lfmap_node *x)
{
	const struct lfmap_node *n = lfm_val_node(cur);
	if (n == x)
		return true;
	if ((cur & LFM_V_LIVE) && lfm_key_match(m, n, lfm_node_key(m, x)))
		return true;
	return (lfm_load_acquire(&src->ctrl) & LFM_C_FORWARDED) != 0;
}

#ifndef LFM_EXPERIMENT_LAGGING_HELPER /* that variant stores plainly */
/*
 * Node maps: the copy's decision at one U slot with the entry's hash. Returns
 * true if the entry is in U now (copied here, or before: slot_is_ours), false
 * to go on to the next slot. A slot of another key is made non-revivable
 * before the copier passes it (I2): once the copy is made, no earlier slot
 * with its hash may become a candidate for a user insert of its key.
 */
static bool node_copy_at(const struct lfmap *m, struct lfm_bucket *src, struct lfm_slot *sl,
			 uint64_t val)
{
	const struct lfmap_node *x = lfm_val_node(val);
	/* acquire: a LIVE node is matched (published by its release CAS). */
	uint64_t cur = lfm_load_acquire(&sl->val);
	for (;;) {
		if (cur == 0) {
			LFM_EXP_POINT(LFM_EXP_COPY_SLOT);
			/* acq_rel: release publishes the copy; failure re-reads
			 * the winner with acquire, classified below. */
			if (lfm_cas_acq_rel(&sl->val, &cur, val))
				return true;
			continue;
		}
		if (slot_is_ours(m, src, cur, x))
			return true;
		/* Another key's slot: non-revivable from now on. (FROZEN is
		 * impossible in U, I8; if met, the word is final, I4.) */
		if ((cur & (LFM_V_NOREV | LFM_V_FROZEN)) ||
		    lfm_cas_acq_rel(&sl->val, &cur, cur | LFM_V_NOREV))
			return false;
	}
}
#endif

/*
 * Copy one live entry into U (I6). The entry's slot in U is found exactly as
 * a user insert would find it, but a copy never retries: if the value CAS
 * fails, the entry was copied already (by another helper) and may since have
 * been updated or removed by users in U; retrying or rewriting would undo
 * that (lost update / resurrection).
 *
 * Word maps: the key owns at most one slot per table (I1), so "its slot" is
 * the slot whose key word is the key.
 * Node maps: key is the full hash of the node's key under U's seed (after a
 * reseed, recomputed by copy_chain). Several slots may share it; the copy
 * takes the first slot with that hash whose value is EMPTY (CAS) or is the
 * key's slot (slot_is_ours); a failed CAS is classified the same way, and
 * slots of other keys are made non-revivable as the copier passes them
 * (node_copy_at).
 * Copiers of one source bucket copy the same sequence in the same order, and
 * a slot's key never changes once its value is set (I2), so they converge on
 * one layout, and the first slot of a key in U is always the copy's: user
 * writes of the key reach U only after the bucket is forwarded (I7). Looking
 * only for the node itself is not enough: after an in-place replace X -> Y in
 * U, a lagging copier of X would pass Y's slot and copy X again further on
 * (a duplicate key and a resurrected node; found by tests/mt/mt_node.c).
 */
static int copy_entry(struct lfmap *m, struct lfm_table *u, struct lfm_bucket *src,
		      uint64_t key, uint64_t val)
{
	bool word = m->kind == LFM_KIND_WORD;
	struct lfm_bucket *b = &u->buckets[word ? lfm_word_bucket(u, key)
						 : lfm_bucket_index(u, lfm_node_bhash(m, key))];

	if (!word)
		val &= ~LFM_V_NOREV; /* per table: U's copiers mark U's slots (I2) */
	for (;;) {
		for (int s = 0; s < LFM_SLOTS; s++) {
			struct lfm_slot *sl = &b->slot[s];
			uint64_t k = lfm_load_relaxed(&sl->key);
			if (k == 0) {
				/* Claim: relaxed, the value CAS below (release)
				 * publishes the key with the value (I3). */
				if (lfm_cas_relaxed(&sl->key, &k, key))
					k = key;
			}
			if (k != key)
				continue;
#ifdef LFM_EXPERIMENT_LAGGING_HELPER
			/* Pitfall "a lagging helper writing into next with a plain
			 * store" (I6): overwrites a newer user update in U. */
			uint64_t cur = lfm_load_acquire(&sl->val);
			if (!word && cur != 0 && !slot_is_ours(m, src, cur, lfm_val_node(val)))
				continue; /* a slot of another key with the same hash */
			LFM_EXP_POINT(LFM_EXP_COPY_SLOT);
			lfm_store_relaxed(&sl->val, val);
#else
			if (!word) {
				if (!node_copy_at(m, src, sl, val))
					continue;
				return 0;
			}
			uint64_t cur = lfm_load_acquire(&sl->val);
			LFM_EXP_POINT(LFM_EXP_COPY_SLOT);
			if (cur == 0)
				(void)lfm_cas_acq_rel(&sl->val, &cur, val);
#endif
			return 0; /* copied now, or before (I6) */
		}
		uint64_t c = lfm_load_acquire(&b->ctrl);
		struct lfm_bucket *nx = lfm_ctrl_next(c);
		if (nx == NULL) {
			int r = lfm_chain_append(m, u, b, &c, key, val);
			if (r == 1 || r == -1)
				return 0; /* -1: U frozen, impossible by I8 */
			if (r < 0)
				return r;
			nx = lfm_ctrl_next(c);
		}
		b = nx;
	}
}

/*
 * Copy the live entries of T's frozen chain `head` into U. In a reseed of a
 * node map (U's seed differs), a slot's key word, the full hash under T's
 * seed, is no use in U: the hash under U's seed is recomputed from the node
 * (LIVE in a frozen slot: mapped, safe to dereference under the read lock).
 * The node's cached hash field is not rewritten: concurrent readers of T may
 * read it, and a lagging copier could write it after the node was removed
 * and reused (docs/DESIGN.md section 10).
 */
static int copy_chain(struct lfmap *m, struct lfm_table *t, struct lfm_table *u,
		      struct lfm_bucket *head)
{
	bool rehash = m->kind != LFM_KIND_WORD && u->seed != t->seed;
	struct lfm_bucket *b = head;
	while (b != NULL) {
		for (int s = 0; s < LFM_SLOTS; s++) {
			/* Frozen, hence immutable (I4). Acquire: the LIVE value was
			 * stored by a release after the key claim (I3). */
#ifdef LFM_EXPERIMENT_NOFREEZE
			/* Pitfall (I4): a plain load of a word users still CAS. */
			uint64_t v = b->slot[s].val;
#else
			uint64_t v = lfm_load_acquire(&b->slot[s].val);
#endif
			if (!(v & LFM_V_LIVE))
				continue; /* EMPTY or tombstone: nothing to move */
			uint64_t k = lfm_load_relaxed(&b->slot[s].key);
			if (rehash) {
				const struct lfmap_node *n = lfm_val_node(v);
				k = lfm_key_hash(m, lfm_node_key(m, n), u->seed);
			}
			int r = copy_entry(m, u, head, k, v & ~LFM_V_FROZEN);
			if (r < 0)
				return r;
		}
		b = lfm_ctrl_next(lfm_load_acquire(&b->ctrl));
	}
	return 0;
}

/* ---- steps 1-3 for one bucket ---------------------------------------------- */

/* Returns 1 if this call set FORWARDED, 0 if the bucket was forwarded
 * already (or by a concurrent helper), or a negative error. */
static int evacuate(struct lfmap *m, struct lfm_table *t, uint64_t i)
{
	struct lfm_table *u = lfm_next_acquire(t);
	struct lfm_bucket *head = &t->buckets[i];

	if (lfm_load_acquire(&head->ctrl) & LFM_C_FORWARDED)
		return 0;
	freeze_chain(head);
#ifdef LFM_EXPERIMENT_EARLY_FORWARD
	/* Pitfall "publishing FORWARDED before the copy is complete" (I7):
	 * users move to U and miss the entries not copied yet. */
	uint64_t old = lfm_fetch_or_acq_rel(&head->ctrl, LFM_C_FORWARDED);
	LFM_EXP_POINT(LFM_EXP_BEFORE_COPY);
	int r = copy_chain(m, t, u, head);
	if (r < 0)
		return r;
#else
	LFM_EXP_POINT(LFM_EXP_BEFORE_COPY); /* experiment builds: widen freeze -> copy */
	int r = copy_chain(m, t, u, head);
	if (r < 0)
		return r; /* frozen but not forwarded: retried by the next helper */
	LFM_EXP_POINT(LFM_EXP_BEFORE_FORWARD); /* experiment builds: widen copy -> forward */
	/*
	 * Step 3 (I7): only now may users write this bucket's keys into U. The
	 * release orders our copies, and the copies we found done (observed by
	 * acquire CAS failures), before any reader that sees FORWARDED.
	 */
	uint64_t old = lfm_fetch_or_acq_rel(&head->ctrl, LFM_C_FORWARDED);
#endif
	return !(old & LFM_C_FORWARDED);
}

/* Buckets forwarded by one call of a writer or of the background (stats and
 * the background's pacing only: relaxed). */
static void count_forwarded(struct lfm_table *t, bool by_writer, uint64_t fwd)
{
	if (fwd != 0)
		lfm_fetch_add_relaxed(by_writer ? &t->evac_writer : &t->evac_bg, fwd);
}

int lfm_evacuate(struct lfmap *m, struct lfm_table *t, uint64_t i, bool by_writer)
{
	int r = evacuate(m, t, i);
	if (r < 0)
		return r;
	count_forwarded(t, by_writer, (uint64_t)r);
	return 0;
}

#ifdef LFM_EXPERIMENT
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void (*lfm_exp_hook)(int point);

/* Experiment builds only: LFM_EXPERIMENT_DELAY = "yield" or nanoseconds. */
static void exp_delay(void)
{
	static long mode = -2; /* -2 not read yet, -1 yield, 0 none, > 0 ns */
	long md = __atomic_load_n(&mode, __ATOMIC_RELAXED);
	if (md == -2) {
		const char *e = getenv("LFM_EXPERIMENT_DELAY");
		md = e == NULL ? 0 : strcmp(e, "yield") == 0 ? -1 : strtol(e, NULL, 10);
		if (md < -1)
			md = 0;
		__atomic_store_n(&mode, md, __ATOMIC_RELAXED);
	}
	if (md == -1) {
		sched_yield();
	} else if (md > 0) {
		struct timespec ts = {md / 1000000000L, md % 1000000000L};
		nanosleep(&ts, NULL);
	}
}

void lfm_exp_point(int point)
{
	void (*h)(int) = __atomic_load_n(&lfm_exp_hook, __ATOMIC_ACQUIRE);
	if (h != NULL)
		h(point);
	else if (point == LFM_EXP_BEFORE_COPY || point == LFM_EXP_BEFORE_FORWARD ||
		 point == LFM_EXP_BEFORE_APPEND)
		exp_delay();
}
#endif

/* ---- step 4: finish ---------------------------------------------------------- */

static void retire_table_cb(struct rcu_head *head)
{
	struct lfm_table *t = caa_container_of(head, struct lfm_table, rcu);
	struct lfmap *m = lfm_rcu_callback_enter(head, &t->map);
	struct lfm_table *u = (struct lfm_table *)(uintptr_t)lfm_load_relaxed(&t->next);

	/* The end of U's cycle (cycle_claims). relaxed: published by the
	 * release of ready below; lfm_check_load reads them after an acquire
	 * of ready. */
	lfm_store_relaxed(&u->claims_mark, lfm_claims_total(m));
	lfm_store_relaxed(&u->ready_ns, lfm_now_ns());
	lfm_table_free(m, t);
	/* I8: no reader can reach t any more, so U may migrate in turn. The
	 * release pairs with the acquire in lfm_start_migration. */
	lfm_store_release(&u->ready, 1);
	if (!lfm_load_acquire(&m->destroying) && !(m->flags & LFMAP_F_NO_BACKGROUND)) {
		lfm_read_lock(m);
		lfm_check_load(m); /* growth that waited for this grace period */
		lfm_read_unlock(m);
	}
	lfm_rcu_callback_exit(m);
	__atomic_fetch_sub(&m->pending_cbs, 1, __ATOMIC_RELEASE);
}

static const char *kind_name(uint64_t kind)
{
	switch (kind) {
	case LFMAP_RESIZE_GROW: return "grow";
	case LFMAP_RESIZE_SHRINK: return "shrink";
	case LFM_MIG_RESEED: return "reseed";
	default: return "compact";
	}
}

static void finish(struct lfmap *m, struct lfm_table *t)
{
	struct lfm_table *u = lfm_next_acquire(t);
	uint64_t exp = (uint64_t)(uintptr_t)t;

	/* acq_rel: the release publishes "U is the root" after every bucket was
	 * seen FORWARDED (acquire loads in the verified walk). Exactly one
	 * thread wins and retires t. */
	if (!lfm_cas_acq_rel(&m->root, &exp, (uint64_t)(uintptr_t)u))
		return;

	uint64_t ns = lfm_now_ns() - lfm_load_relaxed(&t->mig_start_ns);
	uint64_t kind = lfm_load_relaxed(&t->mig_kind);
	uint64_t ew = lfm_load_relaxed(&t->evac_writer), eb = lfm_load_relaxed(&t->evac_bg);
	lfm_fetch_add_relaxed(&m->migrations_finished, 1);
	lfm_fetch_add_relaxed(kind == LFMAP_RESIZE_GROW     ? &m->grows
			      : kind == LFMAP_RESIZE_SHRINK ? &m->shrinks
			      : kind == LFM_MIG_RESEED      ? &m->reseeds
							    : &m->compactions,
			      1);
	lfm_fetch_add_relaxed(&m->evac_writer, ew);
	lfm_fetch_add_relaxed(&m->evac_bg, eb);
	lfm_store_relaxed(&m->last_ns, ns);
	uint64_t longest = lfm_load_relaxed(&m->longest_ns);
	while (ns > longest && !lfm_cas_relaxed(&m->longest_ns, &longest, ns))
		;
	lfm_trace(m, "lfmap: migration %llu %s %llu -> %llu buckets, %llu entries, %.3f ms, "
		     "evacuated by writers %llu, background %llu; %llu overflow buckets (%llu malloc'd)",
		  (unsigned long long)lfm_load_relaxed(&m->migrations_finished), kind_name(kind),
		  (unsigned long long)t->nbuckets, (unsigned long long)u->nbuckets,
		  (unsigned long long)lfmap_count_approx(m), (double)ns / 1e6,
		  (unsigned long long)ew, (unsigned long long)eb,
		  (unsigned long long)lfm_load_relaxed(&t->overflow),
		  (unsigned long long)lfm_load_relaxed(&t->ovf_malloced));

	lfm_fetch_add_relaxed(&m->pending_cbs, 1);
	lfm_call_rcu(m, &t->rcu, retire_table_cb);
}

/*
 * Bounded migration work on t: up to `budget` buckets from the work cursor,
 * then advance the verified cursor past forwarded buckets, evacuating a
 * stuck one itself while budget remains (I9: a helper stalled after taking a
 * range cannot keep the migration from finishing).
 *
 * The bookkeeping words (work_cursor, verified, the evacuation counters)
 * share one cache line that every helper writes. Each call touches it in
 * three bursts: one fetch-add claims its whole range (at most
 * LFM_CLAIM_MAX buckets), one CAS moves verified past everything the walk
 * saw forwarded, one add counts what this call forwarded. With a fetch-add
 * per bucket, a counter add per bucket and a CAS per verified step, two
 * writers on two cores passed the line back and forth about seven times per
 * update: a migration at 4M keys ran at 0.85 Mops/s with one writer and
 * with two alike (docs/PERFORMANCE.md "Oversubscription and migrations").
 */
#define LFM_CLAIM_MAX 64
int lfm_migrate_work(struct lfmap *m, struct lfm_table *t, uint64_t budget, bool by_writer)
{
	if (lfm_load_acquire(&t->next) == 0)
		return 0;
	uint64_t n = t->nbuckets, done = 0, fwd = 0;
	int r = 0;

	/*
	 * After an allocation failure, hand out no new bucket: an evacuation
	 * that fails leaves its bucket frozen (updates of its keys fail with
	 * -ENOMEM until it is done), so helpers only retry the stuck bucket
	 * through the verified walk below until one evacuation succeeds.
	 * Relaxed: a hint; correctness never depends on it.
	 */
	while (done < budget && !lfm_load_relaxed(&t->alloc_stuck)) {
		uint64_t want = budget - done < LFM_CLAIM_MAX ? budget - done : LFM_CLAIM_MAX;
		/* relaxed: the cursor only hands out indices; what is done is
		 * proved by FORWARDED bits, never by the cursor. A range cut
		 * short (error below) is left to the verified walk (I9). */
		uint64_t i = lfm_fetch_add_relaxed(&t->work_cursor, want);
		if (i >= n)
			break;
		uint64_t end = i + want < n ? i + want : n;
		for (; i < end; i++) {
			r = evacuate(m, t, i);
			if (r < 0) {
				lfm_store_relaxed(&t->alloc_stuck, 1);
				count_forwarded(t, by_writer, fwd);
				return r;
			}
			fwd += (uint64_t)r;
			done++;
		}
	}
	/*
	 * The verified walk: from our snapshot v, step w past every head seen
	 * FORWARDED (acquire loads), then publish w with one CAS (I9: whoever
	 * reads verified >= i+1 has seen bucket i forwarded, transitively
	 * through this release). Another walker may have moved verified
	 * meanwhile; verified only grows, to the larger of the two.
	 */
	uint64_t v = lfm_load_acquire(&t->verified), w = v;
	for (uint64_t checks = 0; checks < 8 * budget + 8 && w < n; checks++) {
		if (!(lfm_load_acquire(&t->buckets[w].ctrl) & LFM_C_FORWARDED)) {
			if (done >= budget)
				break;
			r = evacuate(m, t, w);
			if (r < 0) {
				lfm_store_relaxed(&t->alloc_stuck, 1);
				break;
			}
			if (lfm_load_relaxed(&t->alloc_stuck))
				lfm_store_relaxed(&t->alloc_stuck, 0);
			fwd += (uint64_t)r;
			done++;
		}
		w++;
	}
	/* Counted before finish(), which reports the table's totals. */
	count_forwarded(t, by_writer, fwd);
	/* acq_rel: release for the walk above; a failed CAS re-reads v. */
	while (v < w && !lfm_cas_acq_rel(&t->verified, &v, w))
		;
	if (v >= n || w >= n)
		finish(m, t);
	return r < 0 ? r : 0;
}

/* ---- starting a migration ---------------------------------------------------- */

int lfm_start_migration(struct lfmap *m, struct lfm_table *t, int kind, uint64_t nn)
{
	uint64_t n = t->nbuckets;

	if (nn < LFM_MIN_BUCKETS || (nn & (nn - 1)) != 0 || nn > LFM_MAX_BUCKETS)
		return -EINVAL;
	if ((kind == LFMAP_RESIZE_GROW && nn <= n) || (kind == LFMAP_RESIZE_SHRINK && nn >= n) ||
	    ((kind == LFMAP_RESIZE_COMPACT || kind == LFM_MIG_RESEED) && nn != n))
		return -EINVAL;
	/* I8: only the root, only once the table it replaced is reclaimed. */
	if (lfm_root_acquire(m) != t || !lfm_load_acquire(&t->ready) ||
	    lfm_load_acquire(&t->next) != 0)
		return -EAGAIN;
	uint64_t exp = 0;
	if (!lfm_cas_acq_rel(&t->starting, &exp, 1))
		return -EAGAIN;
	uint64_t seed = t->seed;
	if (kind == LFM_MIG_RESEED) /* every kind (node maps rehash in copy_chain) */
		seed = (m->flags & LFMAP_F_FIXED_SEED) ? lfm_mix64(seed + UINT64_C(0x9E3779B97F4A7C15))
						       : lfm_random_seed();
	struct lfm_table *u = lfm_table_new(m, nn, seed);
	if (u == NULL) {
		lfm_store_release(&t->starting, 0); /* postponed; may be retried */
		return -ENOMEM;
	}
	u->removes_base = lfm_removes_total(m); /* private until published */
	u->claims_base = lfm_claims_total(m);
	u->born_ns = lfm_now_ns();
	lfm_store_relaxed(&t->mig_kind, (uint64_t)kind);
	lfm_store_relaxed(&t->mig_start_ns, lfm_now_ns());
	/* release: U's initialisation and the fields above happen-before any
	 * thread that reaches U through next (lfm_next_acquire). */
	lfm_store_release(&t->next, (uint64_t)(uintptr_t)u);
	lfm_fetch_add_relaxed(&m->migrations_started, 1);
	lfm_bg_kick(m);
	return 0;
}

/*
 * Growth policy, evaluated every 32nd update per stripe, on overflow appends
 * and after a reclamation: grow past grow_pct of slot capacity, shrink below
 * shrink_pct, compact (same size) when overflow buckets pile up at a moderate
 * load (tombstones or an unlucky distribution). Caller holds the read lock.
 *
 * Churn. A slot, once claimed, stays claimed for the life of its table (I1,
 * I2), so inserts of new keys fill a table even when removes keep the live
 * count flat, and only a migration clears the tombstones. Migrations are one
 * per grace period (I8), so a table takes the claims of a whole cycle (the
 * migration that created it, then a grace period) before it can be
 * replaced. Two rules keep a table big enough for that:
 *  - a compaction that finds more than half as many overflow buckets as
 *    heads (the cycle's claims overran the table) doubles the size instead;
 *  - a shrink needs the live count plus one cycle's claims (cycle_claims) to
 *    fit the half-size table at two thirds of grow_pct, and no overflow
 *    pile (a piled table compacts first).
 * Without them a 1,000-key map under new-key churn (about 3M claims a
 * second) compacted at its 1,024 buckets once per grace period while each
 * table took 30k claims, about ten overflow buckets per head
 * (docs/PERFORMANCE.md "Churn").
 */

/*
 * The claims one migration cycle brings at the current pace: those of the
 * table's own cycle (creation to ready, claims_mark - claims_base) while the table is younger
 * than four such cycles, then the claims since ready scaled to one cycle.
 * Under steady churn a table is replaced soon after it is ready, so one
 * that lived four cycles has seen the churn slow down, and a table sized
 * for churn that stopped may shrink again.
 */
static uint64_t cycle_claims(const struct lfmap *m, const struct lfm_table *t)
{
	/* relaxed: written before the release of ready, which the caller
	 * acquired. */
	uint64_t mark = lfm_load_relaxed(&t->claims_mark);
	uint64_t c = mark - t->claims_base;
	uint64_t ready_ns = lfm_load_relaxed(&t->ready_ns);
	uint64_t cycle = ready_ns - t->born_ns;
	uint64_t since = lfm_claims_total(m) - mark;
	uint64_t now = lfm_now_ns();
	uint64_t e = now > ready_ns ? now - ready_ns : 0;
	if (e == 0 || e / 4 < cycle) /* e == 0: no 0 / 0 below */
		return c > since ? c : since;
	return (uint64_t)((double)since * (double)cycle / (double)e);
}

void lfm_check_load(struct lfmap *m)
{
	struct lfm_table *t = lfm_root_acquire(m);
	if (lfm_load_relaxed(&t->next) != 0 || !lfm_load_acquire(&t->ready))
		return;
	uint64_t live = lfmap_count_approx(m);
	uint64_t n = t->nbuckets;
	uint64_t cap = n * LFM_SLOTS;
	uint64_t ovf = lfm_load_relaxed(&t->overflow);
	bool may_grow = !(m->flags & LFMAP_F_NO_AUTO_GROW);

	if (may_grow && live * 100 > cap * m->grow_pct) {
		/*
		 * Grow by as many doublings as it takes to bring the load to
		 * two thirds of the threshold. Migrations are one per grace
		 * period (I8), so a map filling fast would otherwise outrun x2.
		 */
		uint64_t nn = n * 2;
		while (nn < LFM_MAX_BUCKETS && live * 150 > nn * LFM_SLOTS * m->grow_pct)
			nn *= 2;
		(void)lfm_start_migration(m, t, LFMAP_RESIZE_GROW, nn);
	} else if (ovf * 4 > n + 4) {
		/*
		 * Overflow buckets pile up. Near the threshold that is the load:
		 * grow, if allowed. Below it, compact only if tombstones can
		 * explain it (at least one per bucket, estimated from removals
		 * since the table was created): with a bad spread (colliding
		 * hashes) compacting would only repeat itself. Compact into a
		 * table twice the size when the pile shows churn (above).
		 */
		bool high = live * 100 * 3 > cap * m->grow_pct * 2;
		uint64_t tombs = lfm_removes_total(m) - t->removes_base;
		if (high && may_grow) {
			(void)lfm_start_migration(m, t, LFMAP_RESIZE_GROW, n * 2);
		} else if (!high && tombs > n) {
			if (may_grow && ovf * 2 > n && n * 2 <= LFM_MAX_BUCKETS)
				(void)lfm_start_migration(m, t, LFMAP_RESIZE_GROW, n * 2);
			else
				(void)lfm_start_migration(m, t, LFMAP_RESIZE_COMPACT, n);
		}
	} else if (!(m->flags & LFMAP_F_NO_AUTO_SHRINK) && n > m->min_buckets &&
		   live * 100 < cap * m->shrink_pct &&
		   (live + cycle_claims(m, t)) * 300 <= cap * m->grow_pct) {
		/*
		 * Never below the size the map was created with, and never to
		 * a size that the overflow rule above would grow again: in the
		 * half-size table the load doubles, and above two thirds of
		 * grow_pct overflow buckets make it grow. With shrink_pct above
		 * grow_pct / 3 and colliding hashes the map otherwise grew and
		 * shrank once per grace period forever (found by the fuzzer:
		 * grow_pct 100, shrink_pct 49, key % 4 hash, 11 entries,
		 * fuzz/regressions/grow-shrink-oscillation). The claims of a
		 * cycle count as load here: they arrive before the half-size
		 * table could be replaced.
		 */
		(void)lfm_start_migration(m, t, LFMAP_RESIZE_SHRINK, n / 2);
	}
}

/*
 * Flood defence (include/lfmap/common.h, LFMAP_FLOOD_CHAIN_BUCKETS): an
 * insert appended to a chain of len buckets. Count it; if the load does not
 * explain the chain, migrate to a table of the same size with a fresh seed
 * through the normal barrier (I4-I7 hold as for any migration: copies hash
 * with U's seed, readers and writers hash with the seed of the table they
 * are in; node maps recompute the full hash, copy_chain). One reseed per
 * table at most (I8 spaces migrations by a grace period), and none if the
 * load is above the grow threshold: then growing is the answer
 * (lfm_check_load). Intrusive maps whose hash would not spread the chain
 * under another seed are filtered out by node.c before (node_long_chain).
 * Every kind. Caller holds the read lock.
 */
void lfm_long_chain(struct lfmap *m, struct lfm_table *t, uint64_t len)
{
	if (len < LFMAP_FLOOD_CHAIN_BUCKETS)
		return;
	lfm_fetch_add_relaxed(&m->long_chains, 1);
	if (m->flags & LFMAP_F_NO_RESEED)
		return;
	uint64_t live = lfmap_count_approx(m);
	if (live * 100 > t->nbuckets * LFM_SLOTS * m->grow_pct) {
		lfm_check_load(m);
		return;
	}
	(void)lfm_start_migration(m, t, LFM_MIG_RESEED, t->nbuckets);
}

/* ---- background completion -------------------------------------------------- */

/*
 * lfmap starts no thread. A migration that no writer drives is finished in
 * chunks by a callback on the flavor's call_rcu worker, which re-queues
 * itself (one grace period per chunk) until no migration runs. Each step
 * does a chunk minus what writers forwarded since the previous step: while
 * writers drive the migration at least that fast, the worker stays out of
 * their way. (Working alongside them it contended for the buckets being
 * evacuated, and it competed for the CPU: growing to 4M keys, 1 thread,
 * p99 1.0-1.1 us without background work vs 3.0 us with it, and 1.6-1.9
 * vs 2.1-2.3 Mops/s; docs/PERFORMANCE.md "Growth".) The total per grace
 * period stays at least a chunk, so migrations still finish.
 */
static void bg_step_cb(struct rcu_head *head)
{
	struct lfmap *const owner = caa_container_of(head, struct lfmap, bg_head);
	struct lfmap *m = lfm_rcu_callback_enter(head, &owner);
	bool again = false;

	if (!lfm_load_acquire(&m->destroying)) {
		lfm_read_lock(m);
		struct lfm_table *t = lfm_root_acquire(m);
		uint64_t chunk = LFM_BG_CHUNK(t->nbuckets);
		/* relaxed: a rate estimate only. bg_writer_mark has one writer:
		 * this callback, queued at most once at a time (bg_queued). */
		uint64_t w = lfm_load_relaxed(&t->evac_writer);
		uint64_t by_writers = w - lfm_load_relaxed(&t->bg_writer_mark);
		lfm_store_relaxed(&t->bg_writer_mark, w);
		if (by_writers < chunk)
			(void)lfm_migrate_work(m, t, chunk - by_writers, false);
		again = lfm_load_acquire(&lfm_root_acquire(m)->next) != 0;
		lfm_read_unlock(m);
	}
	lfm_store_release(&m->bg_queued, 0);
	if (again)
		lfm_bg_kick(m);
	lfm_rcu_callback_exit(m);
	__atomic_fetch_sub(&m->pending_cbs, 1, __ATOMIC_RELEASE);
}

void lfm_bg_kick(struct lfmap *m)
{
	if ((m->flags & LFMAP_F_NO_BACKGROUND) || lfm_load_acquire(&m->destroying))
		return;
	uint64_t exp = 0;
	if (lfm_cas_acq_rel(&m->bg_queued, &exp, 1)) {
		lfm_fetch_add_relaxed(&m->pending_cbs, 1);
		lfm_call_rcu(m, &m->bg_head, bg_step_cb);
	}
}
