/* bench/adapters/ck_hs.c - Concurrency Kit ck_hs (SPMC, object mode): writers
 * serialised by a mutex, readers lock-free inside ck_epoch sections. Entries
 * are malloc'd {key, value} objects; removed entries and retired tables go
 * through ck_epoch_call on a writer-side epoch record (used only under the
 * writer mutex) and are reclaimed by ck_epoch_poll from writers. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <ck_hs.h>
#include <ck_epoch.h>
#include <ck_malloc.h>
#include "../adapter.h"

struct entry {
	uint64_t key, val;
	ck_epoch_entry_t ep;
};
struct deferred { /* a retired table */
	ck_epoch_entry_t ep;
	void *table;
};
#define MAX_RECS 256
struct map {
	ck_hs_t hs;
	pthread_mutex_t wlock;
	ck_epoch_t epoch;
	ck_epoch_record_t wrec; /* used under wlock only */
	unsigned since_poll;
	ck_epoch_record_t *recs[MAX_RECS]; /* freed at destroy */
	unsigned nrecs;
};
static __thread ck_epoch_record_t *my_rec;
static struct map *the_map; /* ck_malloc has no context pointer */

static void *hs_malloc(size_t r) { return malloc(r); }
static void *hs_realloc(void *p, size_t a, size_t b, bool d)
{
	(void)a; (void)d;
	return realloc(p, b);
}
static void retired_free(ck_epoch_entry_t *e)
{
	struct deferred *d = (struct deferred *)((char *)e - offsetof(struct deferred, ep));
	free(d->table);
	free(d);
}
static void hs_free(void *p, size_t b, bool defer)
{
	(void)b;
	if (!p)
		return;
	if (!defer) {
		free(p);
		return;
	}
	/* readers may still scan this table: free it after an epoch (the
	 * caller is a writer holding wlock, so wrec is ours) */
	struct deferred *d = malloc(sizeof(*d));
	if (!d)
		abort();
	d->table = p;
	ck_epoch_call(&the_map->wrec, &d->ep, retired_free);
}
static struct ck_malloc allocator = { hs_malloc, hs_realloc, hs_free };

static unsigned long hs_hash(const void *o, unsigned long seed)
{
	(void)seed;
	return (unsigned long)bench_hash(((const struct entry *)o)->key);
}
static bool hs_cmp(const void *a, const void *b)
{
	return ((const struct entry *)a)->key == ((const struct entry *)b)->key;
}

static void *create(size_t n)
{
	struct map *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	the_map = m;
	pthread_mutex_init(&m->wlock, NULL);
	ck_epoch_init(&m->epoch);
	ck_epoch_register(&m->epoch, &m->wrec, NULL);
	if (!ck_hs_init(&m->hs, CK_HS_MODE_SPMC | CK_HS_MODE_OBJECT, hs_hash, hs_cmp,
			&allocator, n < 8 ? 8 : n, BENCH_SEED))
		abort();
	return m;
}
static void enter(void *mv)
{
	struct map *m = mv;
	my_rec = ck_epoch_recycle(&m->epoch, NULL); /* a record left by an exited thread */
	if (my_rec)
		return;
	my_rec = malloc(sizeof(*my_rec));
	if (!my_rec)
		abort();
	ck_epoch_register(&m->epoch, my_rec, NULL);
	pthread_mutex_lock(&m->wlock);
	if (m->nrecs == MAX_RECS)
		abort();
	m->recs[m->nrecs++] = my_rec;
	pthread_mutex_unlock(&m->wlock);
}
static void leave(void *mv)
{
	(void)mv;
	if (!my_rec)
		return; /* map destroyed already */
	ck_epoch_unregister(my_rec); /* freed at destroy */
	my_rec = NULL;
}
static int get(void *mv, uint64_t k, uint64_t *v)
{
	struct map *m = mv;
	struct entry probe = { .key = k };
	ck_epoch_section_t s;
	int r = 0;
	ck_epoch_begin(my_rec, &s);
	struct entry *e = ck_hs_get(&m->hs, (unsigned long)bench_hash(k), &probe);
	if (e) {
		*v = e->val;
		r = 1;
	}
	ck_epoch_end(my_rec, &s);
	return r;
}
static void maybe_poll(struct map *m)
{
	if (++m->since_poll >= 64) {
		m->since_poll = 0;
		ck_epoch_poll(&m->wrec);
	}
}
static int insert(void *mv, uint64_t k, uint64_t v)
{
	struct map *m = mv;
	struct entry *e = malloc(sizeof(*e));
	if (!e)
		abort();
	e->key = k;
	e->val = v;
	unsigned long h = (unsigned long)bench_hash(k);
	pthread_mutex_lock(&m->wlock);
	bool ok = ck_hs_put(&m->hs, h, e);
	maybe_poll(m);
	pthread_mutex_unlock(&m->wlock);
	if (!ok)
		free(e); /* present (ck_hs_put fails on a duplicate), never published */
	return ok;
}
static void entry_free(ck_epoch_entry_t *ep)
{
	free((char *)ep - offsetof(struct entry, ep));
}
static int remove_(void *mv, uint64_t k)
{
	struct map *m = mv;
	struct entry probe = { .key = k };
	unsigned long h = (unsigned long)bench_hash(k);
	pthread_mutex_lock(&m->wlock);
	struct entry *e = ck_hs_remove(&m->hs, h, &probe);
	if (e)
		ck_epoch_call(&m->wrec, &e->ep, entry_free);
	maybe_poll(m);
	pthread_mutex_unlock(&m->wlock);
	return e != NULL;
}
static void destroy(void *mv)
{
	struct map *m = mv;
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	void *o;
	while (ck_hs_next(&m->hs, &it, &o))
		free(o);
	ck_hs_destroy(&m->hs);
	ck_epoch_barrier(&m->wrec); /* runs every pending free */
	ck_epoch_unregister(&m->wrec);
	pthread_mutex_destroy(&m->wlock);
	for (unsigned i = 0; i < m->nrecs; i++)
		free(m->recs[i]);
	my_rec = NULL; /* the destroying thread's record went too */
	free(m);
	the_map = NULL;
}

const struct bench_adapter bench_ck_hs = {
	"ck_hs", create, enter, leave, NULL, get, insert, remove_, destroy,
};
