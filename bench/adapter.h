/*
 * bench/adapter.h - the one interface every map under test implements for
 * lfmap-bench. Keys and values are uint64_t; the harness never uses key 0 or
 * key UINT64_MAX (some peers reserve them). Values are < 2^62.
 *
 *  create(n_hint)      a map sized for n_hint entries (0: the smallest size)
 *  thread_enter/exit   per-thread registration (RCU, epoch record ...);
 *                      every thread that calls get/insert/remove, the main
 *                      thread included, brackets its calls with them
 *  quiesce             optional (NULL): called by a worker every
 *                      BENCH_QUIESCE_EVERY operations (QSBR quiescent state,
 *                      epoch poll), like a daemon's event loop would
 *  get                 1 and *val if present, 0 if absent
 *  insert              insert if absent: 1 inserted, 0 present already
 *  remove              1 removed, 0 absent; removed memory is reclaimed the
 *                      way a real user of that map would (grace period,
 *                      epoch, immediate free under a lock)
 *  destroy             called by the main thread between thread_enter and
 *                      thread_exit, no other thread active; frees everything
 */
#ifndef BENCH_ADAPTER_H
#define BENCH_ADAPTER_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_SEED UINT64_C(0x9e3779b97f4a7c15)
#define BENCH_QUIESCE_EVERY 64

struct bench_adapter {
	const char *name;
	void *(*create)(size_t n_hint);
	void (*thread_enter)(void *m);
	void (*thread_exit)(void *m);
	void (*quiesce)(void *m);
	int (*get)(void *m, uint64_t key, uint64_t *val);
	int (*insert)(void *m, uint64_t key, uint64_t val);
	int (*remove)(void *m, uint64_t key);
	void (*destroy)(void *m);
};

extern const struct bench_adapter bench_null, bench_lfmap_word, bench_lfmap_node,
	bench_rculfhash_memb, bench_rculfhash_qsbr, bench_ck_hs, bench_rwlock_oa,
	bench_striped_oa, bench_cuckoo, bench_tbb, bench_node_floor, bench_lfmap_word_qsbr,
	bench_lfmap_node_qsbr;

/* the hash every peer that takes one uses: lfmap's public seeded hash */
uint64_t bench_hash(uint64_t key);

#ifdef __cplusplus
}
#endif
#endif
