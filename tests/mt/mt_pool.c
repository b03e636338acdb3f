/*
 * tests/mt/mt_pool.c - the overflow pool of big tables (lib/table.c): tables
 * whose bucket array is mmap'd (>= 2 MiB, built-in allocator) hand out
 * overflow buckets from a pool in the same mapping with a fetch-add, and
 * fall back to malloc when it runs out. The other mt tests use small maps
 * and never reach it.
 *
 * Threads insert disjoint keys into a word map created big enough for a
 * pool, more keys than its slots and pool hold (so appends use the pool,
 * run it dry and fall back to malloc, concurrently), while a resizer keeps
 * migrating (each new table gets its own pool; lfm_table_free must free
 * the malloc'd overflow buckets and only those: ASan/LSan check that in the
 * debug variant, TSan the publication of pool buckets). Then every key is
 * checked, half are removed and checked again.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "harness.h"

struct pool_state {
	struct lfmap *map;
	size_t per_thread;
	atomic_size_t inserted;
};

static uint64_t pkey(int t, size_t i)
{
	return ((uint64_t)(t + 1) << 40) | (uint64_t)(i + 1);
}

static void insert_thread(struct mt_thread *t)
{
	struct pool_state *s = t->arg;
	for (size_t i = 0; i < s->per_thread && !mt_failed(); i++) {
		uint64_t k = pkey(t->id, i);
		int rc = lfmap_word_insert(s->map, k, k & LFMAP_WORD_VALUE_MAX, NULL);
		if (rc != 0) {
			MT_FAIL("insert of thread %d key %zu: %d", t->id, i, rc);
			return;
		}
		atomic_fetch_add_explicit(&s->inserted, 1, memory_order_relaxed);
	}
}

static void remove_thread(struct mt_thread *t)
{
	struct pool_state *s = t->arg;
	for (size_t i = 0; i < s->per_thread && !mt_failed(); i += 2) {
		int rc = lfmap_word_remove(s->map, pkey(t->id, i), NULL);
		if (rc != 0) {
			MT_FAIL("remove of thread %d key %zu: %d", t->id, i, rc);
			return;
		}
	}
}

static void test_pool(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	mt_config(&cfg, mode);
	/* 65,536 buckets of 64 bytes: a 4 MiB mmap'd array with a pool */
	cfg.size_hint = 100000;
	struct lfmap *m = lfmap_word_create(&cfg);
	if (m == NULL) {
		MT_FAIL("lfmap_word_create");
		return;
	}
	int T = mt_threads(8);
	struct pool_state s = { .map = m, .per_thread = mt_iters(40000) };
	atomic_init(&s.inserted, 0);
	mt_run_resized(m, mode, T, insert_thread, &s);
	mt_quiesce(m);
	size_t total = atomic_load(&s.inserted);
	struct lfmap_stats st;
	MT_CHECK_RC(lfmap_stats(m, &st), 0, "lfmap_stats");
	mt_note("%zu keys, %" PRIu64 " buckets, %" PRIu64 " overflow buckets", total, st.buckets,
		st.overflow_buckets);
	for (int t = 0; t < T && !mt_failed(); t++)
		for (size_t i = 0; i < s.per_thread; i++) {
			uint64_t k = pkey(t, i), v = 0;
			int rc = lfmap_word_get(m, k, &v);
			if (rc != 0 || v != (k & LFMAP_WORD_VALUE_MAX)) {
				MT_FAIL("thread %d key %zu after the inserts: rc %d", t, i, rc);
				break;
			}
		}
	mt_check_stats(m, &cfg, total, 0);
	mt_run_resized(m, mode, T, remove_thread, &s);
	mt_quiesce(m);
	size_t left = 0;
	for (int t = 0; t < T && !mt_failed(); t++)
		for (size_t i = 0; i < s.per_thread; i++) {
			int rc = lfmap_word_get(m, pkey(t, i), NULL);
			if (rc != ((i % 2 == 0) ? -ENOENT : 0)) {
				MT_FAIL("thread %d key %zu after the removes: rc %d", t, i, rc);
				break;
			}
			left += rc == 0;
		}
	mt_check_stats(m, &cfg, left, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
}

int main(int argc, char **argv)
{
	mt_register_modes("pool/disjoint_overflow", test_pool);
	return mt_main(argc, argv);
}
