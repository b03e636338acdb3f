/* bench/adapters/oa.c - the lock-based baselines: an open-addressing table
 * with inline {key, value} entries (linear probing, key 0 = empty, key ~0 =
 * tombstone), max load 3/4 counting tombstones, grown x2 (or rehashed in
 * place when mostly tombstones) by a full rehash under the write lock.
 *  rwlock-oa:  one table behind one pthread_rwlock (the naive daemon map)
 *  striped-oa: 64 independent such tables ("stripes"), chosen by the top
 *              hash bits, each behind its own pthread_rwlock on its own
 *              cache line; a stripe rehashes alone */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "../adapter.h"

#define EMPTY 0
#define TOMB UINT64_MAX

struct ent {
	uint64_t key, val;
};
struct tab {
	struct ent *e;
	size_t mask;  /* capacity - 1 */
	size_t live, used; /* used = live + tombstones */
};

static void tab_init(struct tab *t, size_t n)
{
	size_t cap = 8;
	while (cap * 3 / 4 < n)
		cap <<= 1;
	t->e = calloc(cap, sizeof(*t->e));
	if (!t->e)
		abort();
	t->mask = cap - 1;
	t->live = t->used = 0;
}
static struct ent *tab_find(const struct tab *t, uint64_t k, uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct ent *e = &t->e[i];
		if (e->key == k)
			return e;
		if (e->key == EMPTY)
			return NULL;
	}
}
static void tab_rehash(struct tab *t, size_t cap)
{
	struct ent *old = t->e;
	size_t oldcap = t->mask + 1;
	struct ent *ne = calloc(cap, sizeof(*ne));
	if (!ne)
		abort();
	for (size_t i = 0; i < oldcap; i++) {
		uint64_t k = old[i].key;
		if (k == EMPTY || k == TOMB)
			continue;
		size_t j = bench_hash(k) & (cap - 1);
		while (ne[j].key != EMPTY)
			j = (j + 1) & (cap - 1);
		ne[j] = old[i];
	}
	free(old);
	t->e = ne;
	t->mask = cap - 1;
	t->used = t->live;
}
static int tab_insert(struct tab *t, uint64_t k, uint64_t v, uint64_t h)
{
	struct ent *tomb = NULL;
	size_t i;
	for (i = h & t->mask;; i = (i + 1) & t->mask) {
		struct ent *e = &t->e[i];
		if (e->key == k)
			return 0;
		if (e->key == TOMB && !tomb)
			tomb = e;
		if (e->key == EMPTY)
			break;
	}
	if (tomb) { /* reuse: used does not change */
		tomb->val = v;
		tomb->key = k;
		t->live++;
		return 1;
	}
	t->e[i].val = v;
	t->e[i].key = k;
	t->live++;
	t->used++;
	size_t cap = t->mask + 1;
	if (t->used > cap / 4 * 3)
		tab_rehash(t, t->live > cap / 8 * 3 ? cap * 2 : cap);
	return 1;
}
static int tab_remove(struct tab *t, uint64_t k, uint64_t h)
{
	struct ent *e = tab_find(t, k, h);
	if (!e)
		return 0;
	e->key = TOMB;
	t->live--;
	return 1;
}

/* ---- one table, one rwlock ---- */
struct rw {
	pthread_rwlock_t lock;
	struct tab t;
};
static void *rw_create(size_t n)
{
	struct rw *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	pthread_rwlock_init(&m->lock, NULL);
	tab_init(&m->t, n);
	return m;
}
static void nop(void *m) { (void)m; }
static int rw_get(void *mv, uint64_t k, uint64_t *v)
{
	struct rw *m = mv;
	uint64_t h = bench_hash(k);
	pthread_rwlock_rdlock(&m->lock);
	struct ent *e = tab_find(&m->t, k, h);
	if (e)
		*v = e->val;
	pthread_rwlock_unlock(&m->lock);
	return e != NULL;
}
static int rw_ins(void *mv, uint64_t k, uint64_t v)
{
	struct rw *m = mv;
	uint64_t h = bench_hash(k);
	pthread_rwlock_wrlock(&m->lock);
	int r = tab_insert(&m->t, k, v, h);
	pthread_rwlock_unlock(&m->lock);
	return r;
}
static int rw_rem(void *mv, uint64_t k)
{
	struct rw *m = mv;
	uint64_t h = bench_hash(k);
	pthread_rwlock_wrlock(&m->lock);
	int r = tab_remove(&m->t, k, h);
	pthread_rwlock_unlock(&m->lock);
	return r;
}
static void rw_destroy(void *mv)
{
	struct rw *m = mv;
	pthread_rwlock_destroy(&m->lock);
	free(m->t.e);
	free(m);
}
const struct bench_adapter bench_rwlock_oa = {
	"rwlock-oa", rw_create, nop, nop, NULL, rw_get, rw_ins, rw_rem, rw_destroy,
};

/* ---- 64 stripes ---- */
#define NSTRIPES 64
struct stripe {
	pthread_rwlock_t lock;
	struct tab t;
} __attribute__((aligned(64)));
struct striped {
	struct stripe s[NSTRIPES];
};
static void *st_create(size_t n)
{
	struct striped *m = aligned_alloc(64, sizeof(*m));
	if (!m)
		abort();
	for (int i = 0; i < NSTRIPES; i++) {
		pthread_rwlock_init(&m->s[i].lock, NULL);
		tab_init(&m->s[i].t, n / NSTRIPES);
	}
	return m;
}
/* stripe from the top 6 hash bits, slot from the low bits */
#define STRIPE(m, h) (&(m)->s[(h) >> 58])
static int st_get(void *mv, uint64_t k, uint64_t *v)
{
	uint64_t h = bench_hash(k);
	struct stripe *s = STRIPE((struct striped *)mv, h);
	pthread_rwlock_rdlock(&s->lock);
	struct ent *e = tab_find(&s->t, k, h);
	if (e)
		*v = e->val;
	pthread_rwlock_unlock(&s->lock);
	return e != NULL;
}
static int st_ins(void *mv, uint64_t k, uint64_t v)
{
	uint64_t h = bench_hash(k);
	struct stripe *s = STRIPE((struct striped *)mv, h);
	pthread_rwlock_wrlock(&s->lock);
	int r = tab_insert(&s->t, k, v, h);
	pthread_rwlock_unlock(&s->lock);
	return r;
}
static int st_rem(void *mv, uint64_t k)
{
	uint64_t h = bench_hash(k);
	struct stripe *s = STRIPE((struct striped *)mv, h);
	pthread_rwlock_wrlock(&s->lock);
	int r = tab_remove(&s->t, k, h);
	pthread_rwlock_unlock(&s->lock);
	return r;
}
static void st_destroy(void *mv)
{
	struct striped *m = mv;
	for (int i = 0; i < NSTRIPES; i++) {
		pthread_rwlock_destroy(&m->s[i].lock);
		free(m->s[i].t.e);
	}
	free(m);
}
const struct bench_adapter bench_striped_oa = {
	"striped-oa", st_create, nop, nop, NULL, st_get, st_ins, st_rem, st_destroy,
};

/* ---- null: the harness's own cost (RNG, dispatch, timing) ---- */
static volatile uint64_t null_sink;
static void *null_create(size_t n) { (void)n; return (void *)&null_sink; }
static int null_get(void *m, uint64_t k, uint64_t *v) { (void)m; *v = k; return (int)(k & 1); }
static int null_ins(void *m, uint64_t k, uint64_t v) { (void)m; (void)v; return (int)(k & 1); }
static int null_rem(void *m, uint64_t k) { (void)m; return (int)(k & 1); }
static void null_destroy(void *m) { (void)m; }
const struct bench_adapter bench_null = {
	"null", null_create, nop, nop, NULL, null_get, null_ins, null_rem, null_destroy,
};
