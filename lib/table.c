/*
 * table.c - memory for tables and overflow buckets.
 *
 * A table is a header plus a power-of-two array of buckets (64 bytes, or
 * 128 with -DLFM_SLOTS=7). Large arrays from the built-in allocator come
 * from mmap (already zero, faulted in lazily, so starting a migration costs
 * no O(n) memset) with transparent huge pages requested to cut TLB misses;
 * everything else is aligned_alloc + memset, or the user's allocator +
 * memset.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

#define LFM_MMAP_MIN ((size_t)1 << 21) /* 2 MiB: one huge page */

static bool use_mmap(const struct lfmap *m, size_t size)
{
	return m->allocator.alloc == NULL && size >= LFM_MMAP_MIN;
}

void *lfm_alloc(struct lfmap *m, size_t size, size_t align)
{
	void *p;

	if (m->allocator.alloc != NULL) {
		p = m->allocator.alloc(m->allocator.ctx, size, align);
		/* Every block must start zeroed (EMPTY slots, NULL links).
		 * LFMAP_F_ALLOC_ZEROED: the allocator promises it, and a
		 * memset here would fault a lazily mapped table in at once. */
		if (p != NULL && !(m->flags & LFMAP_F_ALLOC_ZEROED))
			memset(p, 0, size);
		return p;
	}
	if (use_mmap(m, size)) {
		/*
		 * Map 2 MiB more and trim, so the array starts on a huge-page
		 * boundary: transparent huge pages only back aligned 2 MiB
		 * ranges, and an unaligned 2.5 MiB table got none, faulting
		 * 4 KiB at a time instead. lfm_free unmaps exactly [p, p+size).
		 */
		size_t len = size + LFM_MMAP_MIN;
		char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);
		if (raw == MAP_FAILED)
			return NULL;
		char *a = (char *)(((uintptr_t)raw + LFM_MMAP_MIN - 1) & ~(uintptr_t)(LFM_MMAP_MIN - 1));
		size_t end = (size + 4095) & ~(size_t)4095;
		if (a > raw)
			(void)munmap(raw, (size_t)(a - raw));
		if (raw + len > a + end)
			(void)munmap(a + end, (size_t)(raw + len - (a + end)));
		p = a;
#ifdef MADV_HUGEPAGE
		(void)madvise(p, size, MADV_HUGEPAGE); /* best effort */
#endif
		return p;
	}
	size_t rounded = (size + align - 1) & ~(align - 1);
	p = aligned_alloc(align, rounded);
	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void lfm_free(struct lfmap *m, void *p, size_t size)
{
	if (p == NULL)
		return;
	if (m->allocator.alloc != NULL)
		m->allocator.free(m->allocator.ctx, p, size);
	else if (use_mmap(m, size))
		munmap(p, size);
	else
		free(p);
}

/*
 * Overflow pool: a table whose bucket array is mmap'd (built-in allocator,
 * >= 2 MiB) gets at least 1/LFM_POOL_DIV as many overflow buckets again in
 * the same mapping (rounded up to whole huge pages: a partial last page was
 * faulted 4 KiB at a time; growing to 4M keys, 900 -> 550 writer faults).
 * Appends take them with one fetch-add instead of a malloc, and, above all,
 * in pages of the table's huge-page mapping: a malloc'd overflow bucket
 * often meant a fresh 4 KiB page, and a page fault costs more than 10 us on
 * this VM, which was most of the growth latency tail (docs/PERFORMANCE.md,
 * "Growth"). Untouched pool pages cost no memory (but a huge page is
 * faulted whole: the first pool bucket used in one costs 2 MiB of RSS). At
 * the grow threshold (2.25 entries per 3-slot bucket) about 19% of buckets
 * overflow (Poisson), and a map that keeps filling while its grow runs
 * reaches 26% (a 4M-key growth: each table of 128k-512k buckets ran a
 * quarter-sized pool dry, 1,118-3,735 malloc'd buckets each, which also
 * made freeing the table walk every chain); so half. Only pages used
 * become resident. Beyond the pool, appends fall back to malloc.
 * Pool buckets are never freed one by one: they go with the table.
 */
#define LFM_POOL_DIV 2

struct lfm_table *lfm_table_new(struct lfmap *m, uint64_t nbuckets, uint64_t seed)
{
	struct lfm_table *t = lfm_alloc(m, sizeof *t, LFM_CACHELINE);
	if (t == NULL)
		return NULL;
	size_t array = (size_t)nbuckets * sizeof(struct lfm_bucket);
	uint64_t pool = 0;
	t->bytes = array;
	if (use_mmap(m, array)) {
		/* Whole huge pages: the pool takes the rest of the last one
		 * (at least nbuckets / LFM_POOL_DIV buckets). */
		size_t want = array + (size_t)(nbuckets / LFM_POOL_DIV) * sizeof(struct lfm_bucket);
		t->bytes = (want + LFM_MMAP_MIN - 1) & ~(LFM_MMAP_MIN - 1);
		pool = (t->bytes - array) / sizeof(struct lfm_bucket);
	}
	t->buckets = lfm_alloc(m, t->bytes, LFM_BUCKET_BYTES);
	if (t->buckets == NULL) {
		lfm_free(m, t, sizeof *t);
		return NULL;
	}
	t->pool = pool != 0 ? t->buckets + nbuckets : NULL;
	t->pool_cap = pool;
	t->nbuckets = nbuckets;
	t->shift = (uint64_t)(64 - __builtin_ctzll(nbuckets)); /* nbuckets >= 2 */
	t->seed = seed;
	t->mult = lfm_word_mult(seed);
	t->map = m;
	/* The table is private until published with a release store/CAS
	 * (root at creation, next at migration start): plain init is fine. */
	return t;
}

/* Free a table no thread can reach any more (retired after a grace period,
 * or at destroy): its chains are immutable, so plain walking is safe. */
static bool in_pool(const struct lfm_table *t, const struct lfm_bucket *b)
{
	return t->pool_cap != 0 && b >= t->pool && b < t->pool + t->pool_cap;
}

void lfm_table_free(struct lfmap *m, struct lfm_table *t)
{
	/* Only malloc'd overflow buckets are freed one by one; when every one
	 * came from the pool, the walk over all chains is skipped. */
	for (uint64_t i = 0; i < t->nbuckets && lfm_load_relaxed(&t->ovf_malloced) != 0; i++) {
		struct lfm_bucket *b = lfm_ctrl_next(lfm_load_acquire(&t->buckets[i].ctrl));
		while (b != NULL) {
			struct lfm_bucket *nx = lfm_ctrl_next(lfm_load_acquire(&b->ctrl));
			if (!in_pool(t, b))
				lfm_bucket_free(m, b);
			b = nx;
		}
	}
	lfm_free(m, t->buckets, t->bytes);
	lfm_free(m, t, sizeof *t);
}

/* A new overflow bucket whose first slot already holds (key, val): appending
 * it with one CAS both extends the chain and publishes the entry. */
struct lfm_bucket *lfm_bucket_new(struct lfmap *m, uint64_t key, uint64_t val)
{
	struct lfm_bucket *b = lfm_alloc(m, sizeof *b, LFM_BUCKET_BYTES);
	if (b != NULL) {
		b->slot[0].key = key; /* private until the release CAS appends it */
		b->slot[0].val = val;
	}
	return b;
}

/*
 * Append a prefilled overflow bucket after `b` (whose control word was seen as
 * `c`, with no successor). Returns 1 if appended, 0 if another bucket was
 * appended first (*c updated, caller continues into it), -1 if the chain is
 * frozen, -ENOMEM. Release on success publishes the new bucket's slot (I3).
 */
int lfm_chain_append(struct lfmap *m, struct lfm_table *t, struct lfm_bucket *b, uint64_t *c,
		     uint64_t key, uint64_t val)
{
	if (*c & LFM_C_FROZEN)
		return -1;
	struct lfm_bucket *nb = NULL;
	if (t->pool_cap != 0) {
		/* relaxed: the index only hands out distinct buckets; the
		 * release CAS below publishes the bucket's contents. */
		uint64_t i = lfm_fetch_add_relaxed(&t->pool_next, 1);
		if (i < t->pool_cap) {
			nb = &t->pool[i]; /* zero (fresh mapping), private until the CAS */
			nb->slot[0].key = key;
			nb->slot[0].val = val;
		}
	}
	if (nb == NULL)
		nb = lfm_bucket_new(m, key, val);
	if (nb == NULL)
		return -ENOMEM;
	uint64_t exp = 0;
	if (lfm_cas_acq_rel(&b->ctrl, &exp, (uint64_t)(uintptr_t)nb)) {
		lfm_fetch_add_relaxed(&t->overflow, 1);
		if (!in_pool(t, nb))
			lfm_fetch_add_relaxed(&t->ovf_malloced, 1);
		return 1;
	}
	if (!in_pool(t, nb))
		lfm_bucket_free(m, nb); /* never published */
	/* (a pool bucket that lost stays unused until the table is freed) */
	*c = exp;
#ifdef LFM_EXPERIMENT_NOFREEZE
	/* Experiment NOFREEZE only: there FORWARDED comes without FROZEN (a
	 * state the real map never produces: I5 before I7); without this the
	 * caller would follow a NULL next pointer. */
	if (exp & LFM_C_FORWARDED)
		return -1;
#endif
	return (exp & LFM_C_FROZEN) ? -1 : 0;
}

void lfm_bucket_free(struct lfmap *m, struct lfm_bucket *b)
{
	lfm_free(m, b, sizeof *b);
}

uint64_t lfm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
