/*
 * atomic.h - the only way lfmap touches a shared word.
 *
 * Each wrapper names its memory order (mimalloc style), so
 * `grep -n 'lfm_.*_\(acquire\|release\|acq_rel\|relaxed\)' lib/` lists every
 * ordering the map relies on, and each call site says why (citing the
 * invariants of docs/DESIGN.md). All shared words are uint64_t / uintptr_t
 * accessed through __atomic builtins, which ThreadSanitizer instruments.
 * There is no standalone fence anywhere (TSan ignores them): ordering is
 * always carried by the access itself.
 */
#ifndef LFM_ATOMIC_H
#define LFM_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t lfm_word; /* a shared 64-bit word */

static inline uint64_t lfm_load_relaxed(const lfm_word *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline uint64_t lfm_load_acquire(const lfm_word *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void lfm_store_relaxed(lfm_word *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline void lfm_store_release(lfm_word *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* CAS that publishes on success and observes on failure: *expected gets the
 * current value, read with acquire, so a loser sees what the winner
 * published. */
static inline bool lfm_cas_acq_rel(lfm_word *p, uint64_t *expected, uint64_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}
/* CAS with no ordering: only for words whose publication is carried by a
 * later release on another word (slot key claims, see I3). */
static inline bool lfm_cas_relaxed(lfm_word *p, uint64_t *expected, uint64_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_RELAXED,
					   __ATOMIC_RELAXED);
}
static inline uint64_t lfm_fetch_or_acq_rel(lfm_word *p, uint64_t bits)
{
	return __atomic_fetch_or(p, bits, __ATOMIC_ACQ_REL);
}
/* Counters and cursors: no data is published through them. */
static inline uint64_t lfm_fetch_add_relaxed(lfm_word *p, uint64_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* Pointer-typed shorthands for words that hold pointers. */
#define lfm_ptr_load_acquire(pp) ((void *)(uintptr_t)lfm_load_acquire((const lfm_word *)(pp)))

#endif /* LFM_ATOMIC_H */
