/*
 * internal.h - lfmap's private types: table layout, slot and bucket state
 * encodings, the map object, and the small inline helpers every file shares.
 * The invariants I1..I10 cited in comments are stated in docs/DESIGN.md.
 */
#ifndef LFM_INTERNAL_H
#define LFM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* liburcu's inline (LGPL) read side: lfm_read_lock below inlines
 * urcu-memb's read lock and unlock into the callers (rcu_glue.c). */
#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h> /* struct rcu_head, urcu_memb_flavor */
#include <urcu/flavor.h>

#include <lfmap.h>
#include "atomic.h"

#if defined(__SANITIZE_THREAD__)
#define LFM_TSAN_ENABLED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LFM_TSAN_ENABLED 1
#endif
#endif

#define LFM_HIDDEN __attribute__((visibility("hidden")))

/*
 * Experiment builds only (scripts/experiments.sh, `make experiment`, issue 3):
 * each -DLFM_EXPERIMENT_<NAME> removes ONE part of the evacuation barrier
 * (docs/DESIGN.md section 5, docs/EXPERIMENTS.md) so the stress harness can
 * show the anomaly it prevents. Never defined by the ninja build or the
 * install targets; scripts/check-symbols.sh checks the release library has
 * no lfm_exp_ symbol.
 *   NOFREEZE        nothing is frozen (neither control nor value words) and
 *                   the copy reads with plain loads (I4, I5)
 *   HEAD_ONLY       value words are frozen, but of the control words only
 *                   the head's: an append to the chain's last overflow
 *                   bucket during the copy is lost (I5)
 *   EARLY_FORWARD   FORWARDED is set right after freezing, before the copy
 *                   (the order of the seed article's try_evacuate) (I7)
 *   NO_RECHECK      readers (word get, node lookup, iteration) never look at
 *                   FORWARDED, so they return frozen values or "absent"
 *                   without having seen the bucket not forwarded (I7)
 *   LAGGING_HELPER  a copy stores into U with a plain store instead of a CAS
 *                   from EMPTY, so a late helper undoes user writes (I6)
 * Any of them, or -DLFM_EXPERIMENT alone (the real map: a control, and the
 * build of the stalled-thread test), compiles in lfm_exp_point(), called at
 * the racy points below. By default it delays as the environment variable
 * LFM_EXPERIMENT_DELAY says ("yield" or nanoseconds; unset or 0: none) at
 * LFM_EXP_BEFORE_COPY, LFM_EXP_BEFORE_FORWARD and LFM_EXP_BEFORE_APPEND; a test may install
 * lfm_exp_hook to act at any point (tests/stall/stall.c parks a thread).
 */
#if defined(LFM_EXPERIMENT_NOFREEZE) || defined(LFM_EXPERIMENT_HEAD_ONLY) || \
	defined(LFM_EXPERIMENT_EARLY_FORWARD) || defined(LFM_EXPERIMENT_NO_RECHECK) || \
	defined(LFM_EXPERIMENT_LAGGING_HELPER)
#ifndef LFM_EXPERIMENT
#define LFM_EXPERIMENT 1
#endif
#endif
enum lfm_exp_point {
	LFM_EXP_FROZE_HEAD,     /* freeze_chain: the head bucket is frozen, the rest not yet */
	LFM_EXP_BEFORE_COPY,    /* lfm_evacuate: chain frozen, nothing copied */
	LFM_EXP_BEFORE_FORWARD, /* lfm_evacuate: chain copied, head not FORWARDED */
	LFM_EXP_COPY_SLOT,      /* copy_entry: slot in U found, value not yet written */
	LFM_EXP_READER_HOP,     /* word get: saw FORWARDED, about to scan next */
	LFM_EXP_BEFORE_APPEND,  /* word/node update: chain walked, about to append */
	LFM_EXP_NPOINTS
};
#define LFM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LFM_LIKELY(x) __builtin_expect(!!(x), 1)
#define LFM_CACHELINE 64

/* ---- slots and buckets (table layout) ------------------------------- */

/*
 * Bucket layout, a compile-time choice (bench/slots.sh measures both):
 * 3 two-word slots + the control word fill one 64-byte line (default), or
 * 7 slots in two lines (128 bytes). -DLFM_SLOTS=7 selects the latter.
 */
#ifndef LFM_SLOTS
#define LFM_SLOTS 3
#endif
_Static_assert(LFM_SLOTS == 3 || LFM_SLOTS == 7, "LFM_SLOTS: 3 (64-byte) or 7 (128-byte) buckets");
#define LFM_BUCKET_BYTES (16 * (LFM_SLOTS + 1))

/*
 * Value word of a slot (I2, I3):
 *   0                      EMPTY: never held a value in this table
 *   payload | LIVE         a value (word map: v << 2; node maps: node pointer)
 *   payload, LIVE clear    TOMBSTONE (word map: LFM_WORD_TOMB; node maps: the
 *                          removed node's pointer, kept for comparison only,
 *                          never dereferenced)
 * and FROZEN (bit 0) on top of any of them once evacuation froze the slot.
 */
#define LFM_V_FROZEN ((uint64_t)1)
#define LFM_V_LIVE ((uint64_t)2)
#define LFM_WORD_TOMB ((uint64_t)4)
/*
 * Node maps only: NOREV (bit 2, nodes are 8-byte aligned) marks a slot whose
 * tombstone must never be revived (I2): a slot of another key that an
 * updater or copier passed on its way to a later slot with the same hash.
 * Once set it stays set: every CAS on a node value word carries it over.
 */
#define LFM_V_NOREV ((uint64_t)4)
#define LFM_NODE_BITS ((uint64_t)7) /* state bits below a node pointer */

static inline struct lfmap_node *lfm_val_node(uint64_t v)
{
	return (struct lfmap_node *)(uintptr_t)(v & ~LFM_NODE_BITS);
}

/* Control word of every bucket of a chain (I5): overflow pointer | bits. */
#define LFM_C_FROZEN ((uint64_t)1)
#define LFM_C_FORWARDED ((uint64_t)2) /* head buckets only */
#define LFM_C_BITS ((uint64_t)3)

struct lfm_slot {
	lfm_word key; /* 0 = unclaimed; word key, or full hash for node maps (I1) */
	lfm_word val; /* see above */
};

struct lfm_bucket {
	lfm_word ctrl;
	lfm_word spare; /* keeps slots 16-byte aligned; unused */
	struct lfm_slot slot[LFM_SLOTS];
} __attribute__((aligned(LFM_BUCKET_BYTES)));

_Static_assert(sizeof(struct lfm_bucket) == LFM_BUCKET_BYTES, "bucket must fill its lines");

static inline struct lfm_bucket *lfm_ctrl_next(uint64_t ctrl)
{
	return (struct lfm_bucket *)(uintptr_t)(ctrl & ~LFM_C_BITS);
}

/*
 * The slots of bucket b whose key word is k: bit s for slot s. All key
 * words are read and compared without a branch per slot: a loop that stops
 * at the key mispredicts its exit about once per lookup, since the key's
 * slot is random (callgrind --branch-sim: 0.96 mispredicted branches per
 * word-map lookup with the loop, 0.13 with the mask). Relaxed loads: key
 * words never change once set (I1), and what a caller reads next carries
 * the ordering.
 *
 * lfm_bucket_match_claim also gives, in *unclaimed, the slots whose key
 * word is 0, from the SAME read of each key word. An inserter must decide
 * from a single read: matching, then re-reading for the unclaimed slot,
 * lets another inserter of the same key claim slot s in between, and the
 * second read then offers slot s+1: the key would own two slots (I1
 * broken; found by tests/mt/mt_word.c insert_race). A claim CAS that fails
 * reads the bucket again.
 */
static inline unsigned lfm_bucket_match_claim(const struct lfm_bucket *b, uint64_t k,
					      unsigned *unclaimed)
{
	unsigned hit = 0, none = 0;
#pragma GCC unroll 8
	for (int s = 0; s < LFM_SLOTS; s++) {
		uint64_t x = lfm_load_relaxed(&b->slot[s].key);
		hit |= (unsigned)(x == k) << s;
		none |= (unsigned)(x == 0) << s;
	}
	*unclaimed = none;
	return hit;
}

/* Readers need only the matches. */
static inline unsigned lfm_bucket_match(const struct lfm_bucket *b, uint64_t k)
{
	unsigned unused; /* the compiler drops its computation */
	return lfm_bucket_match_claim(b, k, &unused);
}

/*
 * A reader's "the key is not in this chain" after a scan of bucket b found
 * no match: b has an unclaimed slot, which by I1 (claimed slots form a
 * prefix) is exactly when its last slot is unclaimed, so the key is in no
 * later bucket; or b had no overflow bucket when
 * the reader loaded its control word c, before the scan. The second half is
 * linearizable at that load: the key's slot, if any, was in b then, and a
 * slot's key never changes (I1), so the scan would have found it. One
 * branch, mostly taken for an absent key, instead of the unclaimed test
 * alone, which is data-dependent (about half the buckets of a map at
 * moderate load are full) and mispredicted: 0.56 per absent lookup in
 * callgrind's model (docs/PERFORMANCE.md "Absent keys").
 */
static inline bool lfm_chain_ends_at(const struct lfm_bucket *b, uint64_t c)
{
	/* min(last key, next) == 0: one compare, so the compiler cannot split
	 * it into the two branches that `a || b` (or `a | b`) became. */
	uint64_t k = lfm_load_relaxed(&b->slot[LFM_SLOTS - 1].key);
	uint64_t n = (uint64_t)(uintptr_t)lfm_ctrl_next(c);
	return (k < n ? k : n) == 0;
}

/* ---- tables ------------------------------------------------------------ */

enum lfm_kind { LFM_KIND_NODE = 1, LFM_KIND_WORD = 2, LFM_KIND_STR = 3 };

struct lfm_table {
	/* Read-mostly line: every operation reads it, writers do not write it
	 * (except next, once per migration). */
	uint64_t shift;    /* 64 - log2 nbuckets: see lfm_bucket_index (immutable) */
	uint64_t mult;     /* lfm_word_mult(seed): word maps' hash (immutable) */
	uint64_t seed;     /* hash seed of this table (immutable) */
	struct lfm_bucket *buckets;
	lfm_word next;  /* struct lfm_table *: migration target, set once (I7) */
	lfm_word ready; /* 1 once the table this one replaced is reclaimed (I8) */
	uint64_t nbuckets; /* power of two (immutable) */
	size_t bytes;   /* size of the bucket array allocation (with the pool) */
	/* Overflow pool (table.c): pool_cap buckets after the array, in the
	 * same mapping, handed out by pool_next; 0 for tables without one. */
	struct lfm_bucket *pool;
	uint64_t pool_cap;

	/* Migration bookkeeping, written by helpers: its own line. */
	lfm_word work_cursor __attribute__((aligned(LFM_CACHELINE)));
	lfm_word verified; /* every bucket below it is FORWARDED (I9) */
	lfm_word alloc_stuck; /* 1 after an evacuation failed to allocate, until
	                         one succeeds: helpers then freeze no new bucket */
	lfm_word overflow; /* overflow buckets appended to this table */
	lfm_word pool_next; /* next pool bucket to hand out (may pass pool_cap) */
	lfm_word ovf_malloced; /* appended overflow buckets not from the pool */
	lfm_word starting; /* 0 -> 1 by the one thread allowed to start a migration */
	lfm_word mig_kind; /* enum lfmap_resize of the migration out of this table */
	lfm_word mig_start_ns;
	lfm_word evac_writer, evac_bg; /* buckets forwarded, by who forwarded them */
	lfm_word bg_writer_mark; /* evac_writer at the last background step */
	uint64_t removes_base; /* map's removal count when the table was created */
	/* Churn measure (lfm_check_load, cycle_claims): the map's claim count
	 * and the time when the table was created, and both again when it
	 * became ready (mark - base: the claims one migration cycle brings).
	 * The last two are set before the release of ready, read after its
	 * acquire. born_ns is also the table's identity for lfmap_stats (the
	 * first table's is 0; tables are created a grace period apart, I8). */
	uint64_t claims_base, born_ns;
	lfm_word claims_mark, ready_ns;
	struct rcu_head rcu; /* retirement */
	struct lfmap *map;
};

/* ---- the map ------------------------------------------------------------ */

#define LFM_NSTRIPES 32

/*
 * Striped counters (I10): one cache line each, chosen per thread. All three
 * only grow (modulo 2^64): live entries = sum(claims) + sum(adds) -
 * sum(removes); removes is also the tombstone estimate, and claims (values
 * made live in a slot that was EMPTY, i.e. a slot newly taken) measure the
 * churn that the growth policy sizes tables for. An update does one atomic
 * add, on one of them; every 32nd through a stripe re-checks the load.
 */
struct lfm_stripe {
	lfm_word adds;    /* values revived (tombstone -> live) through this stripe */
	lfm_word removes; /* values made absent through this stripe */
	lfm_word claims;  /* values made live in an EMPTY slot through this stripe */
} __attribute__((aligned(LFM_CACHELINE)));

struct lfmap {
	/* Read-mostly line. */
	lfm_word root; /* struct lfm_table *: the current table */
	uint32_t kind;
	uint32_t flags;
	uint32_t grow_pct, shrink_pct, max_work;
	uint32_t key_size;  /* node maps: built-in fixed-size key (0: callbacks) */
	ptrdiff_t key_off;  /* ... at this offset from the struct lfmap_node */
	uint64_t min_buckets; /* automatic shrinks stop at the initial size */
	const struct rcu_flavor_struct *flavor;
	uint64_t (*hash)(const void *key, uint64_t seed, void *arg);
	int (*match)(const struct lfmap_node *node, const void *key, void *arg);
	const void *(*key_of)(const struct lfmap_node *node, void *arg);
	void (*node_free)(struct lfmap_node *node, void *arg);
	void *cb_arg;
	struct lfmap_allocator allocator; /* alloc == NULL: built-in */
	void (*trace)(void *arg, const char *line);
	void *trace_arg;

	/* Word map: the value word of key 0, which has no slot (a slot key of 0
	 * means unclaimed). Never frozen: it belongs to no table. */
	lfm_word zero_val __attribute__((aligned(LFM_CACHELINE)));

	/* Rarely written: migration statistics and callback bookkeeping. */
	lfm_word migrations_started __attribute__((aligned(LFM_CACHELINE)));
	lfm_word migrations_finished;
	lfm_word grows, shrinks, compactions, reseeds;
	lfm_word long_chains; /* flood detection events (LFMAP_FLOOD_CHAIN_BUCKETS) */
	lfm_word evac_writer, evac_bg; /* totals of finished migrations */
	lfm_word longest_ns, last_ns;
	lfm_word bg_queued;   /* background step callback queued */
	lfm_word pending_cbs; /* table retirements + background steps in flight */
	lfm_word destroying;
	struct rcu_head bg_head;
#ifdef LFM_TSAN_ENABLED
	lfm_word tsan_gp;      /* annotation address for grace periods */
	lfm_word tsan_barrier; /* annotation address: callbacks done -> barrier */
#endif

	struct lfm_stripe stripes[LFM_NSTRIPES];
};

/* ---- hashing (hash.c) -------------------------------------------------- */

static inline uint64_t lfm_mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	x *= UINT64_C(0xd6e8feb86659fd93);
	x ^= x >> 32;
	return x;
}

/* A seeded multiply-xorshift: lfmap_hash_u64, and the full hash of a node
 * map's built-in 8-byte key. */
static inline uint64_t lfm_word_bhash(uint64_t key, uint64_t seed)
{
	return lfm_mix64((key ^ seed) * (seed | 1));
}

/*
 * Bucket hash of a word-map key, of which lfm_bucket_index takes the top
 * bits: x = key ^ seed; the full 128-bit product x * mult folded to 64 bits
 * (high half xor low half), times mult once more. About five instructions
 * (one widening multiply, one xor, one multiply, the seed's xor and a move)
 * and 8 cycles of latency, against fourteen instructions and 17 cycles for
 * the multiply-xorshift above, with the same spread: 15 families of
 * structured keys (dense, strides of powers of two, keys only in high
 * bits, repeated halves, bit-reversed counters...) under 1,000 seeds each,
 * 65,536 keys in 32,768 buckets: at worst 14.9% of buckets overflowed, as
 * with the multiply-xorshift and with random keys (14.7-14.8%;
 * build/bench/hash-spread, bench/probes/hash-spread.c). A plain
 * multiply-shift (key * mult, top bits), two instructions, was tried first
 * and rejected: it is universal only on average over the multiplier, and
 * for some of the 1,000 seeds 12 of the 14 structured families overflowed
 * 39-50% of the buckets, up to 493 keys in one bucket (docs/PERFORMANCE.md,
 * "Lookup cost"; tests/test_flood.c
 * structured_word_keys_spread_like_random_ones).
 * The key itself is what a slot stores, so nothing else depends on this
 * hash. mult is the seed mixed and made odd, computed once per table
 * (t->mult), so that a seed a user fixes (LFMAP_F_FIXED_SEED: 0, 1, 2^63)
 * is not a poor multiplier; a mixed value with fewer than 24 or more than
 * 40 bits set (1, 2^63 + 1: multipliers that leave a key's top bits where
 * they were) is mixed again, which about 1 seed in 20 needs.
 */
static inline uint64_t lfm_word_mult(uint64_t seed)
{
	uint64_t m = lfm_mix64(seed ^ UINT64_C(0x2545f4914f6cdd1d)) | 1;
	for (int i = 0; i < 16; i++) {
		int bits = __builtin_popcountll(m);
		if (bits >= 24 && bits <= 40)
			break;
		m = lfm_mix64(m + UINT64_C(0x9e3779b97f4a7c15)) | 1;
	}
	return m;
}

static inline uint64_t lfm_word_ihash(uint64_t key, uint64_t seed, uint64_t mult)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 p = (unsigned __int128)(key ^ seed) * mult;
	return ((uint64_t)(p >> 64) ^ (uint64_t)p) * mult;
#else
	return lfm_mix64((key ^ seed) * mult); /* no 64x64->128 multiply */
#endif
}

/*
 * The bucket of a bucket hash in table t: its top log2(nbuckets) bits (for
 * every map kind), one shift. Tables have at least LFM_MIN_BUCKETS = 2
 * buckets, so the shift is 1..63 (a one-bucket table would need a shift by
 * 64, undefined in C, or a mask as well). With top bits, bucket i of a
 * table of n buckets holds the keys of buckets i*r .. i*r + r - 1 of a
 * table r times bigger (lib/iter.c).
 */
static inline uint64_t lfm_bucket_index(const struct lfm_table *t, uint64_t bh)
{
	return bh >> t->shift;
}

/* The bucket of a word-map key in table t: every word-map path (lookup,
 * update, copy, iteration) places a key through this one function. */
static inline uint64_t lfm_word_bucket(const struct lfm_table *t, uint64_t key)
{
	return lfm_bucket_index(t, lfm_word_ihash(key, t->seed, t->mult));
}


LFM_HIDDEN uint64_t lfm_siphash13(const void *data, size_t len, uint64_t k0, uint64_t k1);

/*
 * A node map's key: three callbacks, or the built-in fixed-size key
 * (lfmap_config.key_size). Every engine path goes through the helpers below,
 * so the two ways to describe a key cannot drift apart. The _as forms take
 * the mode as a constant so that a hot path specialised per mode (node.c
 * node_lookup_as, node_rmw_as) keeps no branch and no call for the built-in
 * keys; the
 * plain forms read it from the map.
 */
enum lfm_keymode { LFM_KEYS_CALLBACKS, LFM_KEYS_BYTES, LFM_KEYS_U64 };

static inline enum lfm_keymode lfm_keymode(const struct lfmap *m)
{
	return m->key_size == 8 ? LFM_KEYS_U64 : m->key_size != 0 ? LFM_KEYS_BYTES
								  : LFM_KEYS_CALLBACKS;
}

static inline uint64_t lfm_key_load64(const void *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof x); /* any alignment */
	return x;
}

static inline __attribute__((always_inline)) const void *
lfm_node_key_as(const struct lfmap *m, enum lfm_keymode km, const struct lfmap_node *n)
{
	if (km != LFM_KEYS_CALLBACKS)
		return (const char *)n + m->key_off;
	return m->key_of(n, m->cb_arg);
}

/* The full hash a node map stores in a slot's key word (never 0: 0 means
 * unclaimed). */
static inline __attribute__((always_inline)) uint64_t
lfm_key_hash_as(const struct lfmap *m, enum lfm_keymode km, const void *key, uint64_t seed)
{
	uint64_t h;
	if (km == LFM_KEYS_U64)
		h = lfm_word_bhash(lfm_key_load64(key), seed); /* = lfmap_hash_u64 */
	else if (km == LFM_KEYS_BYTES)
		h = lfmap_hash_bytes(key, m->key_size, seed);
	else
		h = m->hash(key, seed, m->cb_arg);
	return h != 0 ? h : 1;
}

static inline __attribute__((always_inline)) bool
lfm_key_match_as(const struct lfmap *m, enum lfm_keymode km, const struct lfmap_node *n,
		 const void *key)
{
	if (km == LFM_KEYS_U64)
		return lfm_key_load64((const char *)n + m->key_off) == lfm_key_load64(key);
	if (km == LFM_KEYS_BYTES)
		return memcmp((const char *)n + m->key_off, key, m->key_size) == 0;
	return m->match(n, key, m->cb_arg) != 0;
}

/* Bucket hash of a node map's full hash. A user's hash callback may be
 * weak in its low bits, so it is mixed; the built-in keys' hashes (seeded
 * multiply-xorshift, SipHash) are already mixed. */
static inline __attribute__((always_inline)) uint64_t lfm_node_bhash_as(enum lfm_keymode km,
									 uint64_t h)
{
	return km == LFM_KEYS_CALLBACKS ? lfm_mix64(h) : h;
}

static inline const void *lfm_node_key(const struct lfmap *m, const struct lfmap_node *n)
{
	return lfm_node_key_as(m, lfm_keymode(m), n);
}

static inline uint64_t lfm_key_hash(const struct lfmap *m, const void *key, uint64_t seed)
{
	return lfm_key_hash_as(m, lfm_keymode(m), key, seed);
}

static inline bool lfm_key_match(const struct lfmap *m, const struct lfmap_node *n,
				 const void *key)
{
	return lfm_key_match_as(m, lfm_keymode(m), n, key);
}

static inline uint64_t lfm_node_bhash(const struct lfmap *m, uint64_t h)
{
	return lfm_node_bhash_as(lfm_keymode(m), h);
}
LFM_HIDDEN uint64_t lfm_random_seed(void);

/* ---- memory (table.c) ---------------------------------------------------- */

LFM_HIDDEN void *lfm_alloc(struct lfmap *m, size_t size, size_t align); /* zeroed */
LFM_HIDDEN void lfm_free(struct lfmap *m, void *p, size_t size);
LFM_HIDDEN struct lfm_table *lfm_table_new(struct lfmap *m, uint64_t nbuckets, uint64_t seed);
LFM_HIDDEN void lfm_table_free(struct lfmap *m, struct lfm_table *t);
LFM_HIDDEN struct lfm_bucket *lfm_bucket_new(struct lfmap *m, uint64_t key, uint64_t val);
LFM_HIDDEN void lfm_bucket_free(struct lfmap *m, struct lfm_bucket *b);
/* Append after b (control word seen as *c, no successor) a bucket whose first
 * slot is (key, val). 1: appended; 0: lost to another append (*c updated,
 * continue into it); -1: b is frozen; -ENOMEM. */
LFM_HIDDEN int lfm_chain_append(struct lfmap *m, struct lfm_table *t, struct lfm_bucket *b,
				uint64_t *c, uint64_t key, uint64_t val);
LFM_HIDDEN uint64_t lfm_now_ns(void);

/* ---- RCU glue (rcu_glue.c) ------------------------------------------------ */

LFM_HIDDEN void lfm_read_lock_slow(const struct lfmap *m);
LFM_HIDDEN void lfm_read_unlock_slow(const struct lfmap *m);
/*
 * Read-side critical section of the map's flavor. With urcu-memb (the
 * default) outside TSan builds, liburcu's inline fast path: no indirect call
 * and no call into the .so (about 70 instructions per lookup less,
 * docs/PERFORMANCE.md). Other flavors and TSan builds go through the flavor
 * table in rcu_glue.c (TSan must not instrument liburcu's own words, and
 * gets the grace-period annotation there).
 */
static inline void lfm_read_lock(const struct lfmap *m)
{
#ifndef LFM_TSAN_ENABLED
	if (LFM_LIKELY(m->flavor == &urcu_memb_flavor)) {
		urcu_memb_read_lock();
		return;
	}
#endif
	lfm_read_lock_slow(m);
}
static inline void lfm_read_unlock(const struct lfmap *m)
{
#ifndef LFM_TSAN_ENABLED
	if (LFM_LIKELY(m->flavor == &urcu_memb_flavor)) {
		urcu_memb_read_unlock();
		return;
	}
#endif
	lfm_read_unlock_slow(m);
}
LFM_HIDDEN void lfm_call_rcu(struct lfmap *m, struct rcu_head *head,
			     void (*fn)(struct rcu_head *));
/* First thing in every callback: orders the callback after the queuer and
 * after every read-side section of the map that ended before the grace
 * period; returns *mapp, read only after that. */
LFM_HIDDEN struct lfmap *lfm_rcu_callback_enter(struct rcu_head *head,
						struct lfmap *const *mapp);
LFM_HIDDEN void lfm_rcu_callback_exit(struct lfmap *m);
LFM_HIDDEN void lfm_rcu_barrier(struct lfmap *m);

/* ---- migration (migrate.c) ------------------------------------------------ */

LFM_HIDDEN int lfm_evacuate(struct lfmap *m, struct lfm_table *t, uint64_t i, bool by_writer);
#ifdef LFM_EXPERIMENT
/* Experiment builds only (migrate.c): the hook called at each point; NULL
 * means the default delay. Set it before any map exists. */
extern void (*lfm_exp_hook)(int point);
LFM_HIDDEN void lfm_exp_point(int point);
#define LFM_EXP_POINT(p) lfm_exp_point(p)
#else
#define LFM_EXP_POINT(p) ((void)0)
#endif
LFM_HIDDEN int lfm_migrate_work(struct lfmap *m, struct lfm_table *t, uint64_t budget,
				bool by_writer);
#define LFM_MAX_BUCKETS (UINT64_C(1) << 40)
#define LFM_MIN_BUCKETS 2 /* lfm_bucket_index: a shift below 64 */
/* The reseed migration (same size, fresh seed) by its internal name. */
#define LFM_MIG_RESEED LFMAP_RESIZE_RESEED
LFM_HIDDEN int lfm_start_migration(struct lfmap *m, struct lfm_table *t, int kind, uint64_t nn);
LFM_HIDDEN void lfm_check_load(struct lfmap *m);
/* An insert appended to a chain of `len` buckets of table t (flood check):
 * the slow path, only for chains of LFMAP_FLOOD_CHAIN_BUCKETS or more. */
LFM_HIDDEN void lfm_long_chain(struct lfmap *m, struct lfm_table *t, uint64_t len);
static inline void lfm_chain_grew(struct lfmap *m, struct lfm_table *t, uint64_t len)
{
	if (LFM_UNLIKELY(len >= LFMAP_FLOOD_CHAIN_BUCKETS))
		lfm_long_chain(m, t, len);
}
LFM_HIDDEN void lfm_bg_kick(struct lfmap *m);

/* ---- counters (map.c) ------------------------------------------------------ */

static inline struct lfm_stripe *lfm_my_stripe(struct lfmap *m)
{
	/* The thread pointer identifies the thread; hashing it spreads threads
	 * over the stripes without any per-process state. On x86-64 it is
	 * read inline (%fs:0 is the TCB's self pointer, what glibc's
	 * pthread_self() returns, without the call). */
#if defined(__x86_64__)
	uint64_t tp;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
#else
	uint64_t tp = (uint64_t)pthread_self();
#endif
	return &m->stripes[lfm_mix64(tp) & (LFM_NSTRIPES - 1)];
}

/* Account a value going live in an EMPTY slot (LFM_COUNT_CLAIM), live from a
 * tombstone (LFM_COUNT_ADD) or absent (LFM_COUNT_REMOVE). Every 32nd count
 * through a stripe's counter re-checks the load (I10). */
enum lfm_count_kind { LFM_COUNT_ADD, LFM_COUNT_CLAIM, LFM_COUNT_REMOVE };
static inline void lfm_count_update(struct lfmap *m, enum lfm_count_kind kind)
{
	struct lfm_stripe *st = lfm_my_stripe(m);
	lfm_word *w = kind == LFM_COUNT_ADD ? &st->adds
		      : kind == LFM_COUNT_CLAIM ? &st->claims : &st->removes;
	/* relaxed: statistics only; no data is published through them. */
	uint64_t old = lfm_fetch_add_relaxed(w, 1);
	if (LFM_UNLIKELY((old & 31) == 31))
		lfm_check_load(m);
}

/* Account a user update of a value word from `before` to `after`. A value
 * word is 0 (EMPTY) only before the slot's first value (I2), so a value made
 * live from 0 is a newly claimed slot. */
static inline void lfm_account(struct lfmap *m, uint64_t before, uint64_t after)
{
	bool was = (before & LFM_V_LIVE) != 0, is = (after & LFM_V_LIVE) != 0;
	if (was != is)
		lfm_count_update(m, !is ? LFM_COUNT_REMOVE
				    : before == 0 ? LFM_COUNT_CLAIM : LFM_COUNT_ADD);
}
LFM_HIDDEN uint64_t lfm_removes_total(const struct lfmap *m);
LFM_HIDDEN uint64_t lfm_claims_total(const struct lfmap *m);

/* ---- helpers shared by the map kinds ---------------------------------------- */

static inline struct lfm_table *lfm_root_acquire(const struct lfmap *m)
{
	/* acquire: pairs with the release in table publication (create) and
	 * with the root CAS at the end of a migration, so the table's
	 * immutable fields and bucket array contents are visible. */
	return (struct lfm_table *)lfm_ptr_load_acquire(&m->root);
}

static inline struct lfm_table *lfm_next_acquire(const struct lfm_table *t)
{
	/* acquire: pairs with the release store of next in
	 * lfm_start_migration (the target table is initialised). */
	return (struct lfm_table *)lfm_ptr_load_acquire(&t->next);
}

/*
 * A writer about to update in t helps a running migration (bounded work).
 * An allocation failure while helping is not the writer's failure: its own
 * operation goes on, and fails with -ENOMEM only if its own bucket needs
 * the evacuation that could not allocate (a remove can still free memory
 * under memory pressure; found by tests/test_oom.c).
 */
static inline void lfm_writer_help(struct lfmap *m, struct lfm_table *t)
{
	if (LFM_UNLIKELY(lfm_load_relaxed(&t->next) != 0))
		(void)lfm_migrate_work(m, t, m->max_work, true);
}

/* Argument check shared by every entry point: non-NULL map of that kind. */
static inline bool lfm_bad_map(const struct lfmap *m, uint32_t kind)
{
	return LFM_UNLIKELY(m == NULL || m->kind != kind);
}

/*
 * lfm_bad_map for the `_rcu` entry points. Debug builds (-DLFMAP_DEBUG: the
 * ASan+UBSan variant) also assert the precondition that cannot be checked
 * cheaply otherwise: the caller holds the read lock of the map's flavor
 * (liburcu's read_ongoing). Release builds never abort (they do not check).
 */
#ifdef LFMAP_DEBUG
#include <assert.h>
static inline bool lfm_bad_map_rcu(const struct lfmap *m, uint32_t kind)
{
	if (lfm_bad_map(m, kind))
		return true;
	assert(m->flavor->read_ongoing() && "lfmap: _rcu call outside the read lock");
	return false;
}
#else
#define lfm_bad_map_rcu(m, kind) lfm_bad_map(m, kind)
#endif

/* Node engine (node.c), also used by the string map. */
enum lfm_node_op { N_INSERT, N_UPSERT, N_REPLACE, N_CMPREPLACE, N_REMOVE, N_REMOVE_NODE, N_COMPUTE };
LFM_HIDDEN struct lfmap_node *lfm_node_lookup(struct lfmap *m, const void *key);
LFM_HIDDEN int lfm_node_put(struct lfmap *m, struct lfmap_node *node, enum lfm_node_op op,
			    struct lfmap_node **cur);
LFM_HIDDEN int lfm_node_remove(struct lfmap *m, const void *key, struct lfmap_node **removed);
LFM_HIDDEN int lfm_node_compute(struct lfmap *m, const void *key, lfmap_compute_fn fn,
				void *arg, struct lfmap_node **old);
/* Iteration (iter.c). The quiescent variant skips de-duplication: only for
 * destroy, whose visitor frees the nodes. */
LFM_HIDDEN int lfm_node_foreach(struct lfmap *m, lfmap_node_visit_fn fn, void *arg);
LFM_HIDDEN int lfm_node_foreach_quiescent(struct lfmap *m, lfmap_node_visit_fn fn, void *arg);
LFM_HIDDEN void lfm_str_free_node(struct lfmap *m, struct lfmap_node *n);
LFM_HIDDEN int lfm_word_foreach(struct lfmap *m, lfmap_word_visit_fn fn, void *arg);

/* Common creation path (map.c). */
LFM_HIDDEN struct lfmap *lfm_map_create(const struct lfmap_config *cfg, int kind);
LFM_HIDDEN void lfm_trace(struct lfmap *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* LFM_INTERNAL_H */
