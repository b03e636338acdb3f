/*
 * rcu_glue.c - every call lfmap makes into liburcu goes through here, so the
 * flavor is a runtime choice (struct rcu_flavor_struct) and ThreadSanitizer
 * can be told about grace periods, which it cannot see (liburcu is not
 * instrumented and synchronises through inline assembly and syscalls).
 *
 * Annotations (TSan builds only):
 *  - read unlock: release on the map's gp address. Every access a reader made
 *    inside the section happens-before that release.
 *  - callback entry: acquire on the gp address. A callback runs after a grace
 *    period, i.e. after every section that could see the retired memory has
 *    ended and released, so acquiring them orders the reader accesses before
 *    the free. Sections that start later cannot reach the memory.
 *  - call_rcu: release on the rcu_head, acquired in the callback: the
 *    unlinking thread's writes happen-before the callback.
 *  - callback exit: release on the map's barrier address, acquired after
 *    rcu_barrier returns: what a callback did (free a node, read the map's
 *    allocator) happens-before lfmap_destroy frees the map.
 *  - rcu_barrier: liburcu's own barrier bookkeeping is uninstrumented; its
 *    writes are ignored (they are not lfmap's words).
 * This mirrors the approach checked in shared/notes-tooling.md; it adds no
 * edge between two readers, nor between a reader and a concurrent writer, so
 * real races on map words are still reported (the TSan blindness check in
 * tsan/ proves it).
 *
 * Read-side fast path: with the default flavor (urcu-memb) the read lock and
 * unlock are liburcu's inline versions (_LGPL_SOURCE: <urcu/static/...>),
 * inlined into lfmap's entry points by lfm_read_lock in internal.h, not an
 * indirect call through the flavor table into liburcu-memb.so. That
 * took about half of a locking lookup's 168 instructions (bench/results/
 * counts.tsv, docs/PERFORMANCE.md). Other flavors go through the table,
 * and so do TSan builds: liburcu's inline read side touches its grace-period
 * words with accesses TSan would instrument and report (races inside
 * liburcu by design); through the table they stay in the uninstrumented .so,
 * as every other liburcu internal does.
 */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include "internal.h"

#ifdef LFM_TSAN_ENABLED
#include <sanitizer/tsan_interface.h>
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define GP_ADDR(m) ((void *)&((struct lfmap *)(m))->tsan_gp)
#define BARRIER_ADDR(m) ((void *)&((struct lfmap *)(m))->tsan_barrier)
#endif

/* The flavor-table path of lfm_read_lock / lfm_read_unlock (internal.h
 * inlines the urcu-memb fast path; TSan builds always come here). */
void lfm_read_lock_slow(const struct lfmap *m)
{
	m->flavor->read_lock();
}

void lfm_read_unlock_slow(const struct lfmap *m)
{
#ifdef LFM_TSAN_ENABLED
	__tsan_release(GP_ADDR(m));
#endif
	m->flavor->read_unlock();
}

void lfm_call_rcu(struct lfmap *m, struct rcu_head *head, void (*fn)(struct rcu_head *))
{
#ifdef LFM_TSAN_ENABLED
	__tsan_release(head);
#endif
	m->flavor->update_call_rcu(head, fn);
}

struct lfmap *lfm_rcu_callback_enter(struct rcu_head *head, struct lfmap *const *mapp)
{
#ifdef LFM_TSAN_ENABLED
	__tsan_acquire(head); /* before reading anything the queuer wrote */
	struct lfmap *m = *mapp;
	__tsan_acquire(GP_ADDR(m));
	return m;
#else
	(void)head;
	return *mapp;
#endif
}

void lfm_rcu_callback_exit(struct lfmap *m)
{
#ifdef LFM_TSAN_ENABLED
	__tsan_release(BARRIER_ADDR(m));
#else
	(void)m;
#endif
}

void lfm_rcu_barrier(struct lfmap *m)
{
#ifdef LFM_TSAN_ENABLED
	AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
	m->flavor->barrier();
#ifdef LFM_TSAN_ENABLED
	AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
	__tsan_acquire(GP_ADDR(m));
	__tsan_acquire(BARRIER_ADDR(m));
#endif
}

/* Public wrappers. */
void lfmap_read_lock(const struct lfmap *map)
{
	if (map != NULL)
		lfm_read_lock(map);
}

void lfmap_read_unlock(const struct lfmap *map)
{
	if (map != NULL)
		lfm_read_unlock(map);
}

void lfmap_call_rcu(const struct lfmap *map, struct rcu_head *head,
		    void (*fn)(struct rcu_head *head))
{
	if (map != NULL && head != NULL && fn != NULL)
		lfm_call_rcu((struct lfmap *)map, head, fn);
}

void lfmap_rcu_callback_enter(const struct lfmap *map, struct rcu_head *head)
{
	if (map == NULL || head == NULL)
		return;
	struct lfmap *m = (struct lfmap *)map;
	(void)lfm_rcu_callback_enter(head, &m);
}

void lfmap_synchronize_rcu(const struct lfmap *map)
{
	if (map == NULL)
		return;
	map->flavor->update_synchronize_rcu();
#ifdef LFM_TSAN_ENABLED
	__tsan_acquire(GP_ADDR(map));
#endif
}
