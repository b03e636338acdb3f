/*
 * lfmap/word.h - the word-key map: 64-bit keys and 62-bit values stored
 * inline in the buckets (no node, one cache line per lookup).
 *
 * Keys: any uint64_t, 0 included (key 0 lives in a side slot of the map).
 * Values: integers in [0, LFMAP_WORD_VALUE_MAX]; the top two bits of a value
 * are reserved (the map uses two bits of each value word for its own state).
 * Every user-space pointer on x86-64 and AArch64 fits, so a value may be a
 * pointer cast to uint64_t; the map never dereferences it. Storing a larger
 * value fails with -ERANGE.
 *
 * Two entry points per operation: lfmap_word_X() takes the map's read lock
 * itself (a daemon author need not know RCU, only register the thread with
 * the flavor); lfmap_word_X_rcu() expects the caller to hold it (cheaper in a
 * loop of operations, and through liblfmap.so also for one operation: with
 * the caller's inline read lock, urcu_memb_read_lock() under _LGPL_SOURCE,
 * an in-cache lookup costs 6.2 ns against 8.8 ns for lfmap_word_get, which
 * reaches liburcu's per-thread state through the shared library's TLS
 * calls; docs/PERFORMANCE.md "Shared library"). Both are linearizable; lookups are wait-free and
 * write nothing shared; updates are lock-free. Arguments (map, value range)
 * are checked before the map is looked at. A value read is acquire, a
 * value written is release: data published through a pointer value before an
 * update is visible to a reader that gets that value.
 */
#ifndef LFMAP_WORD_H
#define LFMAP_WORD_H

#include <lfmap/common.h>
#include <lfmap/node.h> /* enum lfmap_compute */

#ifdef __cplusplus
extern "C" {
#endif

#define LFMAP_WORD_VALUE_MAX ((UINT64_C(1) << 62) - 1)

/*
 * Create a word-key map. cfg may be NULL (defaults); hash, match, key_of and
 * node_free are ignored. Returns the map or NULL with errno EINVAL / ENOMEM.
 */
LFMAP_API struct lfmap *lfmap_word_create(const struct lfmap_config *cfg);

/* Get the value of key. Returns 0 (*val set if val non-NULL), -ENOENT, -EINVAL. */
LFMAP_API int lfmap_word_get(struct lfmap *map, uint64_t key, uint64_t *val);
LFMAP_API int lfmap_word_get_rcu(struct lfmap *map, uint64_t key, uint64_t *val);

/* Insert if absent. Returns 0, -EEXIST (*cur, if non-NULL, gets the present
 * value), -ERANGE, -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_word_insert(struct lfmap *map, uint64_t key, uint64_t val, uint64_t *cur);
LFMAP_API int lfmap_word_insert_rcu(struct lfmap *map, uint64_t key, uint64_t val,
				    uint64_t *cur);

/* Insert or replace. Returns 0 (inserted) or 1 (replaced; *old, if non-NULL,
 * gets the previous value), -ERANGE, -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_word_put(struct lfmap *map, uint64_t key, uint64_t val, uint64_t *old);
LFMAP_API int lfmap_word_put_rcu(struct lfmap *map, uint64_t key, uint64_t val,
				 uint64_t *old);

/* Replace only if present. Returns 0 (*old gets the previous value), -ENOENT,
 * -ERANGE, -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_word_replace(struct lfmap *map, uint64_t key, uint64_t val, uint64_t *old);
LFMAP_API int lfmap_word_replace_rcu(struct lfmap *map, uint64_t key, uint64_t val,
				     uint64_t *old);

/*
 * Compare-and-swap the value of a present key: if it equals *expected, set it
 * to desired. Returns 0, -ECANCELED (*expected updated to the current value),
 * -ENOENT, -ERANGE, -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_word_cas(struct lfmap *map, uint64_t key, uint64_t *expected,
			     uint64_t desired);
LFMAP_API int lfmap_word_cas_rcu(struct lfmap *map, uint64_t key, uint64_t *expected,
				 uint64_t desired);

/*
 * Counter add: an absent key counts as 0 and is inserted. The new value is
 * (old + delta) modulo 2^62. A CAS loop on the value word (never a hardware
 * fetch-add, which could not fail on a frozen slot). Returns 0 (*old, if
 * non-NULL, gets the value before the add), -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_word_fetch_add(struct lfmap *map, uint64_t key, int64_t delta,
				   uint64_t *old);
LFMAP_API int lfmap_word_fetch_add_rcu(struct lfmap *map, uint64_t key, int64_t delta,
				       uint64_t *old);

/* Remove. Returns 0 (*old, if non-NULL, gets the removed value), -ENOENT,
 * -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_word_remove(struct lfmap *map, uint64_t key, uint64_t *old);
LFMAP_API int lfmap_word_remove_rcu(struct lfmap *map, uint64_t key, uint64_t *old);

/*
 * Lock-free read-modify-write: fn(key, cur, newval, arg) gets the current
 * value (cur NULL if absent) and returns an enum lfmap_compute verdict, with
 * the value to store in *newval for LFMAP_COMPUTE_SET. fn may run several
 * times (retried on conflict). Returns the verdict that took effect (>= 0;
 * *old, if non-NULL, gets the value current then, or is left untouched if the
 * key was absent), -ERANGE (fn's value too large), -EINVAL (also for any
 * verdict outside enum lfmap_compute, negative ones included; the map is
 * unchanged), -ENOMEM.
 * LFMAP_COMPUTE_REMOVE on an absent key changes nothing and is returned as is.
 */
typedef int (*lfmap_word_compute_fn)(uint64_t key, const uint64_t *cur, uint64_t *newval,
				     void *arg);
LFMAP_API int lfmap_word_compute(struct lfmap *map, uint64_t key, lfmap_word_compute_fn fn,
				 void *arg, uint64_t *old);
LFMAP_API int lfmap_word_compute_rcu(struct lfmap *map, uint64_t key,
				     lfmap_word_compute_fn fn, void *arg, uint64_t *old);

/*
 * Visit every entry (same guarantees as lfmap_foreach_rcu: every key present
 * for the whole iteration exactly once, no key twice). fn returns 0 to go
 * on, non-zero to stop (returned). Returns 0, fn's value or -EINVAL.
 */
typedef int (*lfmap_word_visit_fn)(uint64_t key, uint64_t val, void *arg);
LFMAP_API int lfmap_word_foreach(struct lfmap *map, lfmap_word_visit_fn fn, void *arg);
LFMAP_API int lfmap_word_foreach_rcu(struct lfmap *map, lfmap_word_visit_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* LFMAP_WORD_H */
