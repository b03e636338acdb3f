/*
 * lfmap/common.h - configuration, lifecycle, RCU glue, migration control and
 * statistics shared by every lfmap map kind.
 *
 * Conventions that hold for every public lfmap function:
 *
 *  - Errors are values. Functions returning int return 0 (or a documented
 *    positive outcome) on success and a negative errno value on failure:
 *      -EINVAL  a NULL map/key/node/output pointer, a call on a map of another
 *               kind, or an invalid configuration;
 *      -ENOMEM  an allocation through the map's allocator failed; the map keeps
 *               every entry it had and stays usable;
 *      -ENOENT  the key (or the given node) is not mapped;
 *      -EEXIST  insert-if-absent found the key present;
 *      -ECANCELED a compare-and-swap / compare-and-replace saw another value;
 *      -ERANGE  a word-map value does not fit in 62 bits;
 *      -EAGAIN  a resize request could not start now (a migration is running
 *               or the previous table has not been reclaimed yet);
 *      -EBUSY   destroy of a node map that still holds nodes and has no
 *               node_free callback.
 *    Functions returning a pointer return NULL and set errno on failure.
 *  - Functions whose name ends in "_rcu" must be called with the map's RCU
 *    read lock held (lfmap_read_lock() or the flavor's own rcu_read_lock()).
 *    Pointers they hand out stay valid until that read-side critical section
 *    ends. The other functions take the read lock themselves; they may also be
 *    called with it held (liburcu read-side sections nest). A library built
 *    with -DLFMAP_DEBUG (the project's debug variant) asserts the read lock
 *    in every "_rcu" call (liburcu's rcu_read_ongoing); release builds do
 *    not check it and never abort.
 *  - Every thread that calls into a map must be registered with the map's
 *    liburcu flavor (rcu_register_thread() of that flavor; not needed for
 *    urcu-bp). Under QSBR it must also be online.
 *  - fork(): call the flavor's call_rcu_before_fork() before fork(),
 *    call_rcu_after_fork_parent() in the parent and
 *    call_rcu_after_fork_child() in the child (urcu_memb_... for the default
 *    flavor), and fork only while no other thread is inside a read-side
 *    critical section; the child's thread may then use, resize and destroy
 *    every map it inherited (tests/test_fork.c, docs/RELIABILITY.md).
 *  - Every successful update is linearizable and has acquire-release
 *    semantics: what the writer stored before publishing a node/value is
 *    visible to a reader that obtains it. A failed call publishes nothing.
 *  - lfmap starts no thread, prints nothing (unless LFMAP_TRACE is set in the
 *    environment, see struct lfmap_config.trace) and keeps no process-wide
 *    state: all of it hangs off the map.
 */
#ifndef LFMAP_COMMON_H
#define LFMAP_COMMON_H

#include <errno.h> /* the error codes below */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LFMAP_API __attribute__((visibility("default")))
#else
#define LFMAP_API
#endif

#define LFMAP_VERSION_MAJOR 0
#define LFMAP_VERSION_MINOR 1
#define LFMAP_VERSION_PATCH 0

struct rcu_flavor_struct; /* <urcu/flavor.h> */
struct rcu_head;          /* <urcu/call-rcu.h> */
struct lfmap;             /* opaque; one type for every map kind */
struct lfmap_node;        /* <lfmap/node.h> */

/*
 * Injected allocator (like Concurrency Kit's struct ck_malloc). alloc returns
 * at least size bytes aligned to align (a power of two, at most 4096), or
 * NULL; the memory need not be zeroed (lfmap clears it), unless the map has
 * LFMAP_F_ALLOC_ZEROED: then alloc must return zeroed memory and lfmap does
 * not write it until it uses it. free receives the size passed to alloc.
 * Set both or neither (one alone is -EINVAL at create). Both may be called
 * from any thread that uses the map, including the liburcu call_rcu worker
 * thread, so they must be thread-safe.
 */
struct lfmap_allocator {
	void *(*alloc)(void *ctx, size_t size, size_t align);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
};

/* Flags for struct lfmap_config.flags. */
#define LFMAP_F_NO_AUTO_GROW   0x1u /* never grow by itself (lfmap_resize still works) */
#define LFMAP_F_NO_AUTO_SHRINK 0x2u /* never shrink by itself */
#define LFMAP_F_FIXED_SEED     0x4u /* use config.seed instead of getrandom() */
#define LFMAP_F_NO_BACKGROUND  0x8u /* no map work in call_rcu callbacks (they only
                                       free memory): migrations are started by
                                       writers and finished by writers and
                                       lfmap_migrate_step() */
#define LFMAP_F_NO_RESEED      0x10u /* never start a reseeding migration by itself
                                        when a chain grows suspiciously long (the
                                        flood defence, docs/RELIABILITY.md); long
                                        chains are still counted, and
                                        lfmap_resize(LFMAP_RESIZE_RESEED) still
                                        works. Every map kind */
#define LFMAP_F_ALLOC_ZEROED   0x20u /* config.allocator returns zeroed memory, so
                                        lfmap does not clear what it allocates.
                                        Without it lfmap clears every block,
                                        which writes (and so faults in) a whole
                                        new table in the one insert that starts
                                        a migration. For allocators that hand out
                                        fresh anonymous mappings (zero pages,
                                        faulted lazily as the table is used) or
                                        pre-faulted, pre-zeroed memory (no page
                                        fault on an insert at all). The allocator
                                        must then zero every block it returns,
                                        reused ones included. No effect with the
                                        built-in allocator */

/*
 * Versioned options. Always initialise with lfmap_config_init(), then change
 * the fields you care about; struct_size lets later versions add fields.
 */
struct lfmap_config {
	size_t struct_size; /* set by lfmap_config_init() */
	/* liburcu flavor; NULL means urcu-memb (&urcu_memb_flavor). */
	const struct rcu_flavor_struct *flavor;
	/* Node maps only (lfmap_create): hash of a key under a seed, equality
	 * of a node's key with a key, and the key of a node. The hash should
	 * depend on the seed so that the per-map random seed defeats flooding.
	 * Called without locks, possibly several times per operation, from any
	 * thread; they must not call into the map. */
	uint64_t (*hash)(const void *key, uint64_t seed, void *arg);
	int (*match)(const struct lfmap_node *node, const void *key, void *arg);
	const void *(*key_of)(const struct lfmap_node *node, void *arg);
	/* Node maps only: called by lfmap_destroy() for every node still in the
	 * map (no grace period needed: destroy requires no concurrent users).
	 * Without it, destroying a non-empty node map fails with -EBUSY. */
	void (*node_free)(struct lfmap_node *node, void *arg);
	void *cb_arg; /* passed to hash, match, key_of, node_free */
	/* Expected number of entries; the first table is sized to hold it
	 * below the grow threshold. 0 means the smallest table. Above
	 * SIZE_MAX >> 8 create fails with EINVAL. */
	size_t size_hint;
	/* Grow when entries exceed grow_pct percent of slot capacity (x2, or
	 * more doublings if the map filled up faster); shrink x1/2 when they
	 * fall below shrink_pct percent (and below grow_pct / 3, so that the
	 * half-size table is not grown again), but never below the size the
	 * map was created with. 1 <= shrink_pct, 2 * shrink_pct < grow_pct <= 100. */
	unsigned grow_pct;
	unsigned shrink_pct;
	/* Buckets of migration work a writer does per update operation while
	 * a migration runs (>= 1). */
	unsigned max_work;
	unsigned flags; /* LFMAP_F_* */
	uint64_t seed;  /* used with LFMAP_F_FIXED_SEED */
	/* Optional allocator; NULL alloc/free means the built-in one (mmap with
	 * transparent huge pages for large bucket arrays, aligned_alloc else). */
	struct lfmap_allocator allocator;
	/* Optional migration trace sink: one line per finished migration. If
	 * NULL and the environment variable LFMAP_TRACE is set to a non-zero
	 * value when the map is created, lines go to stderr. */
	void (*trace)(void *arg, const char *line);
	void *trace_arg;
	/* Node maps only, instead of hash, match and key_of: the key is the
	 * key_size bytes at key_offset bytes from the struct lfmap_node (negative
	 * when the key comes before the node in your struct; see
	 * LFMAP_KEY_OFFSET in <lfmap/node.h>). lfmap hashes it with the map's
	 * seed (lfmap_hash_u64 of the 8-byte word when key_size is 8,
	 * lfmap_hash_bytes otherwise) and compares it bytewise, inline, with no
	 * callback: the fast path for fixed-size keys. A key passed to lookup,
	 * remove or compute is a pointer to key_size bytes, any alignment.
	 * key_size 0 (the default) means the callbacks; setting key_size
	 * together with any of hash, match or key_of is -EINVAL at create. */
	size_t key_size;
	ptrdiff_t key_offset;
};

/* Fill cfg with defaults: memb flavor, grow at 75%, shrink below 10%,
 * max_work 2, random seed, built-in allocator. Thread-safe (touches only cfg). */
LFMAP_API void lfmap_config_init(struct lfmap_config *cfg);

/*
 * Destroy a map of any kind and free every table and overflow bucket.
 * Context: no other thread may use the map, and the caller must not be in a
 * read-side critical section or a call_rcu callback (it waits for the map's
 * pending call_rcu callbacks with the flavor's rcu_barrier()).
 * Node maps: remaining nodes go to config.node_free; without it a non-empty
 * map is left intact and -EBUSY is returned. String maps free their nodes.
 * Returns 0, -EINVAL (NULL) or -EBUSY.
 */
LFMAP_API int lfmap_destroy(struct lfmap *map);

/*
 * RCU read-side critical section of the map's flavor. Prefer these over the
 * flavor's own rcu_read_lock()/rcu_read_unlock() in programs run under
 * ThreadSanitizer: they carry the annotations that make grace periods visible
 * to it (in other builds they are plain calls). Nest freely.
 */
LFMAP_API void lfmap_read_lock(const struct lfmap *map);
LFMAP_API void lfmap_read_unlock(const struct lfmap *map);

/*
 * Reclamation through the map's flavor, for nodes the user frees (intrusive
 * maps). Equivalent to the flavor's call_rcu / synchronize_rcu, plus, in
 * programs built with -fsanitize=thread, the annotations that order the
 * free after every read-side section of the map (lfmap's own included: its
 * migrations and iterations read nodes through match/key_of). Outside TSan
 * builds they are plain calls.
 *  - lfmap_call_rcu: fn(head) runs after a grace period, on the flavor's
 *    call_rcu worker; any registered thread, read lock allowed.
 *  - lfmap_rcu_callback_enter: call it first in such a callback.
 *  - lfmap_synchronize_rcu: wait for a grace period; never with the read
 *    lock held.
 */
LFMAP_API void lfmap_call_rcu(const struct lfmap *map, struct rcu_head *head,
			      void (*fn)(struct rcu_head *head));
LFMAP_API void lfmap_rcu_callback_enter(const struct lfmap *map, struct rcu_head *head);
LFMAP_API void lfmap_synchronize_rcu(const struct lfmap *map);

enum lfmap_resize {
	LFMAP_RESIZE_GROW = 1,    /* twice the buckets */
	LFMAP_RESIZE_SHRINK = 2,  /* half the buckets (not below the minimum) */
	LFMAP_RESIZE_COMPACT = 3, /* same size: drops tombstones and overflow */
	LFMAP_RESIZE_RESEED = 4,  /* same size, fresh hash seed (rotates the
	                             secret; what the flood defence runs).
	                             Every map kind: node and string maps
	                             rehash each key with key_of under the
	                             new seed */
};

/*
 * Start a migration now. Any thread, read lock not required. It only starts
 * the migration: writers, the background call_rcu work and
 * lfmap_migrate_step() carry it out incrementally.
 * Returns 0 when started, -EAGAIN when a migration is running or the table
 * replaced by the last one has not been reclaimed yet (retry after a grace
 * period), -EINVAL (bad kind, or shrink of a minimum-size table), -ENOMEM.
 * A reseed counts in lfmap_stats' seed_changes; with LFMAP_F_FIXED_SEED the
 * next seed is derived from the current one (reproducible). An intrusive
 * map whose hash ignores the seed accepts the reseed (it changes nothing).
 */
LFMAP_API int lfmap_resize(struct lfmap *map, enum lfmap_resize kind);

/*
 * Do up to nbuckets buckets of migration work (0 means: finish the running
 * migration). Any thread, read lock not required (taken inside). For daemons
 * that drive maintenance themselves (LFMAP_F_NO_BACKGROUND).
 * Returns 1 if a migration is still running afterwards, 0 if none is,
 * -ENOMEM if an evacuation could not allocate (it is retried later).
 */
LFMAP_API int lfmap_migrate_step(struct lfmap *map, size_t nbuckets);

/*
 * Approximate entry count: sum of the per-stripe counters, O(stripes), no
 * lock needed. Exact when no update runs concurrently. Returns 0 for NULL.
 */
LFMAP_API size_t lfmap_count_approx(const struct lfmap *map);

/*
 * Exact count by iteration (takes the read lock). Under concurrent updates
 * it counts every key present for the whole call exactly once.
 * Returns 0, -EINVAL, or -ENOMEM (node and string maps: the per-bucket
 * de-duplication list of lfmap_foreach_rcu could not grow).
 */
LFMAP_API int lfmap_count_exact(struct lfmap *map, size_t *count);

struct lfmap_stats {
	uint64_t entries;            /* approximate (striped counters) */
	uint64_t buckets;            /* head buckets of the current root table */
	uint64_t slots;              /* slot capacity incl. overflow buckets */
	uint64_t overflow_buckets;   /* in the current root table */
	uint64_t claimed_slots;      /* slots whose key word is set */
	uint64_t tombstones;         /* claimed slots holding no value */
	uint64_t longest_chain;      /* buckets in the longest chain */
	double load_factor;          /* entries / (buckets * slots per bucket) */
	uint64_t migrating;          /* 1 while a migration runs */
	uint64_t migrations_started;
	uint64_t migrations_finished;
	uint64_t grows, shrinks, compactions; /* finished, by kind */
	uint64_t evacuated_by_writers;    /* buckets forwarded by update ops */
	uint64_t evacuated_by_background; /* by call_rcu work or lfmap_migrate_step */
	uint64_t longest_migration_ns;
	uint64_t last_migration_ns;
	uint64_t seed_changes;       /* finished reseeding migrations (flood defence
	                                or lfmap_resize), every map kind */
	uint64_t long_chains;        /* inserts that made a chain longer than
	                                LFMAP_FLOOD_CHAIN_BUCKETS buckets (also
	                                those that started no reseed) */
};

/*
 * Hash-flood detection: an insert that appends a bucket to a chain of this
 * many buckets (3 slots each: at least 3 * 6 = 18 keys in one bucket chain,
 * about 1e-9 likely per bucket at the default load) counts in
 * lfmap_stats.long_chains. In a map of any kind whose load is at or below
 * grow_pct it also starts a same-size migration with a fresh random seed (a
 * "reseed", counted in seed_changes), unless LFMAP_F_NO_RESEED; with
 * LFMAP_F_FIXED_SEED the next seed is derived from the current one
 * (reproducible, for tests). An intrusive map first checks that its hash
 * would spread the chain under another seed: with a hash that ignores the
 * seed (allowed) the chain is only counted, so a futile reseed is never
 * started, let alone repeated.
 */
#define LFMAP_FLOOD_CHAIN_BUCKETS 6

/*
 * Fill *st. Takes the read lock; walks the root table, O(buckets): meant for
 * monitoring, not for hot paths (about 30 ns per bucket: 62 ms for a
 * 4M-key word map on the development VM). The walk leaves its read-side
 * critical section every 4,096 buckets, so grace periods (retired tables,
 * removed nodes, the next migration of every map of the flavor) wait for
 * one such chunk, not for the whole walk; called inside the caller's own
 * read-side section it is one section, and they wait for all of it. If a
 * migration replaces the table during the walk, the walk starts over on
 * the new one (after 4 restarts it finishes in one section): the counts
 * describe one table. Returns 0 or -EINVAL.
 */
LFMAP_API int lfmap_stats(struct lfmap *map, struct lfmap_stats *st);

/*
 * Keyed hashes for the hash callback of intrusive maps: pass the seed lfmap
 * gives you, so the per-map random seed defeats hash flooding.
 * lfmap_hash_u64: a seeded multiply-xorshift (fast, for integer keys).
 * lfmap_hash_bytes: SipHash-1-3 keyed with (seed, f(seed)) (for strings).
 * Pure functions: any thread, no lock.
 */
LFMAP_API uint64_t lfmap_hash_u64(uint64_t key, uint64_t seed);
LFMAP_API uint64_t lfmap_hash_bytes(const void *data, size_t len, uint64_t seed);

/* Slots per bucket (a bucket is one 64-byte cache line). */
LFMAP_API unsigned lfmap_slots_per_bucket(void);

#ifdef __cplusplus
}
#endif
#endif /* LFMAP_COMMON_H */
