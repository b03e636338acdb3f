/*
 * store.c - lfmapd's item store on an lfmap intrusive node map.
 *
 * Publication protocol (see store.h): an item gets its CAS id and a CLOCK
 * ring slot, then one lfmap call publishes it. The thread whose lfmap call
 * returns an item as replaced/removed "unlinks" it: clears its ring slot,
 * subtracts its bytes, and frees it with call_rcu (urcu-qsbr: the memory is
 * reused only after every worker has passed a quiescent state, i.e. finished
 * the event-loop iteration that may still be copying it to a socket).
 *
 * Eviction: a CLOCK over a ring of item pointers. Each worker claims slots
 * for its new items in its own segment of the ring (no contention on a
 * shared cursor); when the segment is full, the claim sweeps it like a CLOCK
 * hand (expired/flushed items go first, accessed items get a second chance).
 * When the bytes of live items exceed the memory limit, the storing worker
 * sweeps its hand over the whole ring the same way until it is below it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _LGPL_SOURCE
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct lfmap *map;
static struct store_config cfg;
static _Atomic(struct item *) *ring;
static size_t ring_size, seg_size;
static atomic_llong mem_used, pending;
static atomic_ullong cas_counter, oldest_cas;
static atomic_uint oldest_live;
/* n_items may dip below zero for a moment: an item can be unlinked by
 * another thread before its publisher has counted it. */
static atomic_llong n_items;
static atomic_ullong n_total, n_evict, n_reclaimed, n_flush;
static time_t started_mono, started_unix;

static _Thread_local unsigned tl_worker;
static _Thread_local size_t tl_cursor, tl_hand;

/* ---- clock --------------------------------------------------------------- */

uint32_t store_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(ts.tv_sec - started_mono) + 2;
}

uint64_t store_started_unix(void) { return (uint64_t)started_unix; }

/* memcached's exptime: 0 never, negative already expired, up to 30 days
 * relative, else an absolute unix time. 1 means "already expired". */
uint32_t store_realtime(int64_t exptime)
{
	if (exptime == 0)
		return 0;
	if (exptime < 0)
		return 1;
	if (exptime > 60 * 60 * 24 * 30) {
		if (exptime <= (int64_t)started_unix)
			return 1;
		int64_t t = exptime - started_unix + 2;
		return t > (int64_t)UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)t;
	}
	int64_t t = (int64_t)store_now() + exptime;
	return t > (int64_t)UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)t;
}

/* ---- map callbacks ------------------------------------------------------- */

static uint64_t key_hash(const void *key, uint64_t seed, void *arg)
{
	(void)arg;
	const unsigned char *k = key;
	return lfmap_hash_bytes(k + 1, k[0], seed);
}

static int key_match(const struct lfmap_node *n, const void *key, void *arg)
{
	(void)arg;
	const struct item *it = lfmap_container_of(n, struct item, node);
	const unsigned char *k = key;
	return it->nkey == k[0] && memcmp(it->data, k + 1, k[0]) == 0;
}

static const void *key_of(const struct lfmap_node *n, void *arg)
{
	(void)arg;
	return &lfmap_container_of(n, struct item, node)->nkey;
}

static size_t item_size(const struct item *it)
{
	return sizeof(*it) + it->nkey + it->nbytes + 2;
}

static void node_free(struct lfmap_node *n, void *arg)
{
	(void)arg;
	free(lfmap_container_of(n, struct item, node));
}

static void free_cb(struct rcu_head *head)
{
	struct item *it = caa_container_of(head, struct item, rcu);
	lfmap_rcu_callback_enter(map, head);
	free(it);
}

/* ---- lifecycle ----------------------------------------------------------- */

int store_init(const struct store_config *c)
{
	struct lfmap_config mc;
	struct timespec ts;

	cfg = *c;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	started_mono = ts.tv_sec;
	started_unix = time(NULL) - 2;
	/* One slot per 64 bytes of limit: about the smallest item (header 72
	 * bytes + key + value). Bounds the item count as well. */
	ring_size = cfg.mem_limit / 64;
	if (ring_size < 4096)
		ring_size = 4096;
	if (ring_size > ((size_t)1 << 26))
		ring_size = (size_t)1 << 26;
	if (cfg.nthreads == 0)
		cfg.nthreads = 1;
	seg_size = ring_size / cfg.nthreads;
	ring = calloc(ring_size, sizeof(*ring));
	if (!ring)
		return -1;

	lfmap_config_init(&mc);
	mc.flavor = &urcu_qsbr_flavor;
	mc.hash = key_hash;
	mc.match = key_match;
	mc.key_of = key_of;
	mc.node_free = node_free;
	mc.size_hint = 1024;
	map = lfmap_create(&mc);
	if (!map) {
		free(ring);
		return -1;
	}
	return 0;
}

/* No worker may run any more; the caller is registered and online or
 * unregistered, and outside a read-side section. */
void store_fini(void)
{
	int r = lfmap_destroy(map);
	if (r != 0)
		fprintf(stderr, "lfmapd: lfmap_destroy: %d\n", r);
	free(ring);
}

void store_thread_init(unsigned worker)
{
	tl_worker = worker % cfg.nthreads;
	tl_cursor = 0;
	tl_hand = (size_t)tl_worker * seg_size;
}

/* ---- item life ----------------------------------------------------------- */

struct item *item_new(const char *key, size_t nkey, uint32_t flags, uint32_t exptime,
		      size_t nbytes, enum st *err)
{
	if (nbytes > cfg.item_max || nkey > KEY_MAX) {
		*err = ST_TOO_LARGE;
		return NULL;
	}
	size_t sz = sizeof(struct item) + nkey + nbytes + 2;
	/* Values being received but not stored yet count against a budget too,
	 * so that many clients announcing large values cannot exhaust memory. */
	long long lim = (long long)(cfg.mem_limit > ((size_t)64 << 20) ? cfg.mem_limit
									: ((size_t)64 << 20));
	if (atomic_fetch_add(&pending, (long long)sz) + (long long)sz > lim) {
		atomic_fetch_sub(&pending, (long long)sz);
		*err = ST_NO_MEMORY;
		return NULL;
	}
	struct item *it = malloc(sz);
	if (!it) {
		atomic_fetch_sub(&pending, (long long)sz);
		*err = ST_NO_MEMORY;
		return NULL;
	}
	memset(it, 0, sizeof(*it));
	it->flags = flags;
	it->exptime = exptime;
	it->nbytes = (uint32_t)nbytes;
	it->nkey = (uint8_t)nkey;
	it->ring = RING_NONE;
	memcpy(it->data, key, nkey);
	it->data[nkey + nbytes] = '\r';
	it->data[nkey + nbytes + 1] = '\n';
	return it;
}

static void unpend(struct item *it) { atomic_fetch_sub(&pending, (long long)item_size(it)); }

void item_discard(struct item *it)
{
	unpend(it);
	free(it);
}

static int is_live(const struct item *it, uint32_t now)
{
	if (it->exptime && it->exptime <= now)
		return 0;
	if (it->cas <= atomic_load_explicit(&oldest_cas, memory_order_relaxed))
		return 0;
	uint32_t ol = atomic_load_explicit(&oldest_live, memory_order_relaxed);
	if (ol && ol <= now && it->time <= ol)
		return 0;
	return 1;
}

/* The caller's lfmap call returned it as replaced or removed: it is ours. */
static void unlinked(struct item *it)
{
	if (it->ring != RING_NONE) {
		struct item *exp = it;
		atomic_compare_exchange_strong(&ring[it->ring], &exp, NULL);
	}
	atomic_fetch_sub(&mem_used, (long long)item_size(it));
	atomic_fetch_sub_explicit(&n_items, 1, memory_order_relaxed);
	lfmap_call_rcu(map, &it->rcu, free_cb);
}

/* Try to take a ring item out of the map (CLOCK victim). 1 if we did. */
static int evict_victim(struct item *v)
{
	if (lfmap_remove_node_rcu(map, &v->node) != 0)
		return 0;
	unlinked(v);
	return 1;
}

/* Is a ring occupant a published item (safe to pass to lfmap)? */
static int published(struct item *v)
{
	return atomic_load_explicit(&v->accessed, memory_order_acquire) != 0xff;
}

/* Claim a ring slot in this worker's segment for it (before it is
 * published). A full segment is swept like a CLOCK. */
static void ring_claim(struct item *it)
{
	size_t base = (size_t)tl_worker * seg_size;
	uint32_t now = store_now();
	for (size_t i = 0; i < 2 * seg_size + 2; i++) {
		size_t idx = base + (tl_cursor++ % seg_size);
		struct item *cur = atomic_load_explicit(&ring[idx], memory_order_acquire);
		if (cur && published(cur)) {
			int force = i >= 64; /* do not sweep a hot segment forever */
			if (is_live(cur, now) && !force &&
			    atomic_load_explicit(&cur->accessed, memory_order_relaxed)) {
				atomic_store_explicit(&cur->accessed, 0, memory_order_relaxed);
				continue;
			}
			if (!evict_victim(cur))
				continue;
			if (is_live(cur, now))
				atomic_fetch_add_explicit(&n_evict, 1, memory_order_relaxed);
			else
				atomic_fetch_add_explicit(&n_reclaimed, 1, memory_order_relaxed);
			cur = atomic_load_explicit(&ring[idx], memory_order_acquire);
		}
		if (cur)
			continue;
		struct item *exp = NULL;
		if (atomic_compare_exchange_strong(&ring[idx], &exp, it)) {
			it->ring = (uint32_t)idx;
			return;
		}
	}
	/* Not found (every slot is being replaced right now): the item is not
	 * evictable by the CLOCK, only by replacement/deletion/flush. */
}

/* Give the item its CAS id and ring slot; it stays unpublished. The marker
 * 0xff in accessed tells CLOCK sweeps to leave it alone. */
static void prepare(struct item *it, uint64_t keep_cas)
{
	it->time = store_now();
	it->cas = keep_cas ? keep_cas : atomic_fetch_add(&cas_counter, 1) + 1;
	atomic_store_explicit(&it->accessed, 0xff, memory_order_relaxed);
	ring_claim(it);
}

/* lfmap published it. */
static void now_published(struct item *it)
{
	atomic_store_explicit(&it->accessed, 0, memory_order_release);
	unpend(it);
	atomic_fetch_add(&mem_used, (long long)item_size(it));
	atomic_fetch_add_explicit(&n_items, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n_total, 1, memory_order_relaxed);
}

/* A prepared item that will not be published: others may have seen it in
 * the ring, so it is freed after a grace period. */
static void abandon(struct item *it)
{
	if (it->ring != RING_NONE) {
		struct item *exp = it;
		atomic_compare_exchange_strong(&ring[it->ring], &exp, NULL);
	}
	unpend(it);
	lfmap_call_rcu(map, &it->rcu, free_cb);
}

static void make_key(unsigned char *kb, const char *key, size_t nkey)
{
	kb[0] = (unsigned char)nkey;
	memcpy(kb + 1, key, nkey);
}

/* The live item for key, or NULL; a dead (expired, flushed) one found on the
 * way is unlinked. */
static struct item *lookup_live(const unsigned char *kb)
{
	struct lfmap_node *n = lfmap_lookup_rcu(map, kb);
	if (!n)
		return NULL;
	struct item *it = lfmap_container_of(n, struct item, node);
	if (is_live(it, store_now()))
		return it;
	if (lfmap_remove_node_rcu(map, n) == 0) {
		unlinked(it);
		atomic_fetch_add_explicit(&n_reclaimed, 1, memory_order_relaxed);
	}
	return NULL;
}

/* ---- operations ---------------------------------------------------------- */

struct item *store_get(const char *key, size_t nkey)
{
	unsigned char kb[1 + KEY_MAX];
	if (nkey > KEY_MAX)
		return NULL;
	make_key(kb, key, nkey);
	struct item *it = lookup_live(kb);
	if (it && !atomic_load_explicit(&it->accessed, memory_order_relaxed))
		atomic_store_explicit(&it->accessed, 1, memory_order_relaxed);
	return it;
}

/* A copy of cur's key with room for nbytes of value (append, prepend, incr,
 * touch). */
static struct item *derive(const struct item *cur, uint32_t exptime, size_t nbytes,
			   enum st *err)
{
	return item_new(cur->data, cur->nkey, cur->flags, exptime, nbytes, err);
}

static enum st store_concat(struct item *it, int append)
{
	unsigned char kb[1 + KEY_MAX];
	enum st err;
	make_key(kb, it->data, it->nkey);
	for (;;) {
		struct item *cur = lookup_live(kb);
		if (!cur) {
			item_discard(it);
			return ST_NOT_STORED;
		}
		struct item *nb = derive(cur, cur->exptime, (size_t)cur->nbytes + it->nbytes, &err);
		if (!nb) {
			item_discard(it);
			return err;
		}
		char *v = item_value(nb);
		if (append) {
			memcpy(v, item_value(cur), cur->nbytes);
			memcpy(v + cur->nbytes, item_value(it), it->nbytes);
		} else {
			memcpy(v, item_value(it), it->nbytes);
			memcpy(v + it->nbytes, item_value(cur), cur->nbytes);
		}
		prepare(nb, 0);
		int r = lfmap_cmp_replace_rcu(map, &cur->node, &nb->node);
		if (r == 0) {
			now_published(nb);
			unlinked(cur);
			item_discard(it);
			return ST_STORED;
		}
		abandon(nb);
		if (r != -ECANCELED && r != -ENOENT) {
			item_discard(it);
			return ST_NO_MEMORY;
		}
	}
}

enum st store_item(struct item *it, enum store_mode mode, uint64_t cas_in)
{
	unsigned char kb[1 + KEY_MAX];
	struct lfmap_node *old = NULL;
	int r;

	if (mode == MODE_APPEND || mode == MODE_PREPEND)
		return store_concat(it, mode == MODE_APPEND);
	make_key(kb, it->data, it->nkey);
	prepare(it, 0);
	switch (mode) {
	case MODE_SET:
		r = lfmap_upsert_rcu(map, &it->node, &old);
		if (r < 0)
			break;
		now_published(it);
		if (r == 1)
			unlinked(lfmap_container_of(old, struct item, node));
		return ST_STORED;
	case MODE_ADD:
		for (;;) {
			r = lfmap_insert_rcu(map, &it->node, &old);
			if (r == 0) {
				now_published(it);
				return ST_STORED;
			}
			if (r != -EEXIST)
				break;
			struct item *ex = lfmap_container_of(old, struct item, node);
			if (is_live(ex, store_now())) {
				abandon(it);
				return ST_NOT_STORED;
			}
			r = lfmap_cmp_replace_rcu(map, old, &it->node);
			if (r == 0) {
				now_published(it);
				unlinked(ex);
				return ST_STORED;
			}
			if (r != -ECANCELED && r != -ENOENT)
				break;
		}
		break;
	case MODE_REPLACE:
	case MODE_CAS:
		for (;;) {
			struct item *cur = lookup_live(kb);
			if (!cur) {
				abandon(it);
				return mode == MODE_CAS ? ST_NOT_FOUND : ST_NOT_STORED;
			}
			if (mode == MODE_CAS && cur->cas != cas_in) {
				abandon(it);
				return ST_EXISTS;
			}
			r = lfmap_cmp_replace_rcu(map, &cur->node, &it->node);
			if (r == 0) {
				now_published(it);
				unlinked(cur);
				return ST_STORED;
			}
			if (r != -ECANCELED && r != -ENOENT)
				break;
		}
		break;
	default:
		r = -EINVAL;
		break;
	}
	abandon(it);
	return ST_NO_MEMORY;
}

enum st store_delete(const char *key, size_t nkey)
{
	unsigned char kb[1 + KEY_MAX];
	struct lfmap_node *old;
	if (nkey > KEY_MAX)
		return ST_NOT_FOUND;
	make_key(kb, key, nkey);
	if (lfmap_remove_rcu(map, kb, &old) != 0)
		return ST_NOT_FOUND;
	struct item *it = lfmap_container_of(old, struct item, node);
	int live = is_live(it, store_now());
	unlinked(it);
	return live ? ST_DELETED : ST_NOT_FOUND;
}

enum st store_touch(const char *key, size_t nkey, uint32_t exptime)
{
	unsigned char kb[1 + KEY_MAX];
	enum st err;
	if (nkey > KEY_MAX)
		return ST_NOT_FOUND;
	make_key(kb, key, nkey);
	for (;;) {
		struct item *cur = lookup_live(kb);
		if (!cur)
			return ST_NOT_FOUND;
		struct item *nb = derive(cur, exptime, cur->nbytes, &err);
		if (!nb)
			return err;
		memcpy(item_value(nb), item_value(cur), cur->nbytes);
		prepare(nb, cur->cas); /* touch keeps the CAS id, as memcached */
		int r = lfmap_cmp_replace_rcu(map, &cur->node, &nb->node);
		if (r == 0) {
			now_published(nb);
			unlinked(cur);
			return ST_TOUCHED;
		}
		abandon(nb);
		if (r != -ECANCELED && r != -ENOENT)
			return ST_NO_MEMORY;
	}
}

/* memcached accepts a value of digits, optionally followed by spaces (decr
 * used to pad in place); at most 20 digits, no overflow. */
static int parse_counter(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (n == 0)
		return -1;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (i == 0)
		return -1;
	for (; i < n; i++)
		if (p[i] != ' ')
			return -1;
	*out = v;
	return 0;
}

enum st store_arith(const char *key, size_t nkey, int incr, uint64_t delta,
		    uint64_t *result)
{
	unsigned char kb[1 + KEY_MAX];
	char num[24];
	enum st err;
	if (nkey > KEY_MAX)
		return ST_NOT_FOUND;
	make_key(kb, key, nkey);
	for (;;) {
		struct item *cur = lookup_live(kb);
		uint64_t v;
		if (!cur)
			return ST_NOT_FOUND;
		if (parse_counter(item_value(cur), cur->nbytes, &v) != 0)
			return ST_NON_NUMERIC;
		if (incr)
			v += delta; /* wraps at 2^64, as memcached */
		else
			v = v < delta ? 0 : v - delta;
		int len = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		struct item *nb = derive(cur, cur->exptime, (size_t)len, &err);
		if (!nb)
			return err;
		memcpy(item_value(nb), num, (size_t)len);
		prepare(nb, 0);
		int r = lfmap_cmp_replace_rcu(map, &cur->node, &nb->node);
		if (r == 0) {
			now_published(nb);
			unlinked(cur);
			*result = v;
			return ST_STORED;
		}
		abandon(nb);
		if (r != -ECANCELED && r != -ENOENT)
			return ST_NO_MEMORY;
	}
}

static int flush_visit(struct lfmap_node *n, void *arg)
{
	uint64_t upto = *(uint64_t *)arg;
	struct item *it = lfmap_container_of(n, struct item, node);
	if (it->cas <= upto && lfmap_remove_node_rcu(map, n) == 0)
		unlinked(it);
	return 0;
}

void store_flush(uint32_t delay)
{
	atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
	if (delay == 0) {
		/* Every item whose CAS id was handed out so far is invalid from
		 * now on; then free them (those missed by the iteration are
		 * unlinked lazily when found). */
		uint64_t upto = atomic_load(&cas_counter);
		unsigned long long prev = atomic_load(&oldest_cas);
		while (prev < upto && !atomic_compare_exchange_weak(&oldest_cas, &prev, upto))
			;
		lfmap_foreach_rcu(map, flush_visit, &upto);
	} else {
		atomic_store(&oldest_live, store_now() + delay - 1);
	}
}

void store_maybe_evict(void)
{
	long long limit = (long long)cfg.mem_limit;
	if (atomic_load_explicit(&mem_used, memory_order_relaxed) <= limit)
		return;
	uint32_t now = store_now();
	for (unsigned budget = 4096; budget > 0; budget--) {
		if (atomic_load_explicit(&mem_used, memory_order_relaxed) <= limit)
			return;
		size_t idx = tl_hand++ % ring_size;
		struct item *cur = atomic_load_explicit(&ring[idx], memory_order_acquire);
		if (!cur || !published(cur))
			continue;
		int live = is_live(cur, now);
		if (live && atomic_load_explicit(&cur->accessed, memory_order_relaxed)) {
			atomic_store_explicit(&cur->accessed, 0, memory_order_relaxed);
			continue;
		}
		if (evict_victim(cur))
			atomic_fetch_add_explicit(live ? &n_evict : &n_reclaimed, 1,
						  memory_order_relaxed);
	}
}

void store_get_stats(struct store_stats *st)
{
	long long b = atomic_load(&mem_used);
	long long ni = atomic_load(&n_items);
	st->curr_items = ni < 0 ? 0 : (uint64_t)ni;
	st->total_items = atomic_load(&n_total);
	st->bytes = b < 0 ? 0 : (uint64_t)b;
	st->evictions = atomic_load(&n_evict);
	st->reclaimed = atomic_load(&n_reclaimed);
	st->expired_unfetched = 0;
	st->flushes = atomic_load(&n_flush);
}

int store_map_stats(struct lfmap_stats *st) { return lfmap_stats(map, st); }

void store_read_lock(void) { lfmap_read_lock(map); }
void store_read_unlock(void) { lfmap_read_unlock(map); }
