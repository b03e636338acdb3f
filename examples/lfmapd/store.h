/*
 * store.h - lfmapd's item store: memcached items in an lfmap intrusive node
 * map keyed by byte strings, with a memory limit enforced by CLOCK eviction.
 *
 * Items are immutable once published. Every update builds a new item and
 * publishes it with one lfmap operation (upsert, insert, compare-and-replace,
 * remove); the item it replaced is unlinked by exactly the thread whose lfmap
 * call returned it, and freed with call_rcu. The only field written after
 * publication is the CLOCK access bit, a relaxed atomic hint.
 *
 * Threads: every function here must be called by a thread registered with
 * urcu-qsbr and online (the worker loops of lfmapd.c). Pointers returned
 * (struct item *) stay valid until the calling thread's next quiescent state.
 */
#ifndef LFMAPD_STORE_H
#define LFMAPD_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/urcu-qsbr.h>

#include <lfmap.h>

#define KEY_MAX 250

struct item {
	struct lfmap_node node;
	struct rcu_head rcu;
	uint64_t cas;
	uint32_t flags;
	uint32_t exptime; /* server time (seconds since start + 2); 0 = never */
	uint32_t time;    /* server time of the store */
	uint32_t nbytes;  /* value length, without the trailing "\r\n" */
	uint32_t ring;    /* CLOCK ring slot; RING_NONE until claimed */
	atomic_uchar accessed;
	uint8_t nkey;     /* key_of() points here: [nkey][key bytes] */
	char data[];      /* key bytes, value bytes, "\r\n" */
};
#define RING_NONE UINT32_MAX

static inline const char *item_key(const struct item *it) { return it->data; }
static inline char *item_value(struct item *it) { return it->data + it->nkey; }

struct store_config {
	size_t mem_limit;   /* bytes of items (headers + key + value) */
	size_t item_max;    /* largest value accepted */
	unsigned nthreads;  /* workers: the ring has one claim segment each */
	int verbose;
};

/* Result codes of the store operations (the protocol maps them to replies). */
enum st {
	ST_STORED, ST_NOT_STORED, ST_EXISTS, ST_NOT_FOUND, ST_DELETED, ST_TOUCHED,
	ST_NON_NUMERIC, ST_NO_MEMORY, ST_TOO_LARGE,
};

enum store_mode { MODE_SET, MODE_ADD, MODE_REPLACE, MODE_APPEND, MODE_PREPEND, MODE_CAS };

struct store_stats {
	uint64_t curr_items, total_items, bytes, evictions, expired_unfetched,
		reclaimed, flushes;
};

int store_init(const struct store_config *cfg);
void store_fini(void);

/* Server clock. */
uint32_t store_now(void);
uint32_t store_realtime(int64_t exptime);
uint64_t store_started_unix(void);

/* Per-thread context: worker index (ring segment), CLOCK hand. */
void store_thread_init(unsigned worker);

/* Allocate an unpublished item with room for nbytes of value (the caller
 * fills item_value() and the trailing "\r\n"). NULL: too large or no memory
 * (*err gets ST_TOO_LARGE / ST_NO_MEMORY). */
struct item *item_new(const char *key, size_t nkey, uint32_t flags, uint32_t exptime,
		      size_t nbytes, enum st *err);
/* Free an item that was never published. */
void item_discard(struct item *it);

/* Publish it according to mode (cas_in for MODE_CAS). Consumes it in every
 * case. */
enum st store_item(struct item *it, enum store_mode mode, uint64_t cas_in);

/* Look up a live item (expired or flushed ones are unlinked and reported
 * absent); marks it accessed. */
struct item *store_get(const char *key, size_t nkey);
enum st store_delete(const char *key, size_t nkey);
enum st store_touch(const char *key, size_t nkey, uint32_t exptime);
/* incr/decr; *result gets the new value. */
enum st store_arith(const char *key, size_t nkey, int incr, uint64_t delta,
		    uint64_t *result);
/* Delete everything now (delay 0) or everything stored up to now + delay,
 * invalidated at that time. */
void store_flush(uint32_t delay);
/* When the items' memory exceeds the limit: evict (CLOCK) down below it. */
void store_maybe_evict(void);
void store_get_stats(struct store_stats *st);
int store_map_stats(struct lfmap_stats *st);
/* The map's read-side section (lfmap_read_lock). Under QSBR an online thread
 * is already in one and these cost nothing, but the _rcu contract asks for
 * them, and they keep the store correct with another flavor. */
void store_read_lock(void);
void store_read_unlock(void);

#endif
