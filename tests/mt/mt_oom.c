/*
 * tests/mt/mt_oom.c - allocation failure with 8 threads (issue 6, item 1).
 *
 * 8 threads update a word map and a string map whose allocator fails each
 * attempt with probability 1/32 (from any thread, the call_rcu worker
 * included), while the threads also force migrations (lfmap_resize and
 * lfmap_migrate_step, both allowed to say -ENOMEM). Each thread owns a key
 * range and keeps an exact private model of it (nobody else writes those
 * keys, so every result is predictable except for -ENOMEM, which must leave
 * the key unchanged); all threads also fetch-add shared counters and count
 * their successful adds. At the end the allocator is disarmed, the postponed
 * migration is finished, and every key, both counts and every counter are
 * compared; destroy must return every byte to the allocator.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NTHREADS 8
#define OWN_KEYS 400
#define SHARED 16

struct fail_alloc {
	atomic_uint_fast64_t attempts, failed, live, live_bytes;
	atomic_uint prob; /* per 65536 */
	uint64_t seed;
};

struct hdr {
	size_t size, off;
	uint64_t magic;
};
#define HMAGIC UINT64_C(0x0a110c0a110c0a11)

static void *fa_alloc(void *ctx, size_t size, size_t align)
{
	struct fail_alloc *a = ctx;
	uint64_t n = atomic_fetch_add(&a->attempts, 1);
	unsigned p = atomic_load(&a->prob);
	if (p && (mt_mix64(n ^ a->seed) & 0xffff) < p) {
		atomic_fetch_add(&a->failed, 1);
		return NULL;
	}
	size_t al = align < 64 ? 64 : align;
	void *raw = NULL;
	if (posix_memalign(&raw, al, al + size) != 0)
		return NULL;
	char *u = (char *)raw + al;
	struct hdr *h = (struct hdr *)(void *)(u - sizeof(*h));
	h->size = size;
	h->off = al;
	h->magic = HMAGIC;
	atomic_fetch_add(&a->live, 1);
	atomic_fetch_add(&a->live_bytes, size);
	return u;
}

static void fa_free(void *ctx, void *ptr, size_t size)
{
	struct fail_alloc *a = ctx;
	if (!ptr)
		return;
	struct hdr *h = (struct hdr *)(void *)((char *)ptr - sizeof(*h));
	MT_CHECK(h->magic == HMAGIC, "free of a foreign block or double free");
	MT_CHECK(h->size == size, "free size %zu, alloc size %zu", size, h->size);
	h->magic = 0;
	atomic_fetch_sub(&a->live, 1);
	atomic_fetch_sub(&a->live_bytes, size);
	free((char *)ptr - h->off);
}

struct shared {
	struct lfmap *map;
	bool str;
	struct fail_alloc al;
	atomic_uint_fast64_t adds[SHARED];
	atomic_uint_fast64_t enomem, ops, resize_enomem, step_enomem, resizes, resize_eagain;
	/* final private models, one per thread */
	bool present[NTHREADS][OWN_KEYS];
	uint64_t val[NTHREADS][OWN_KEYS];
};

static uint64_t own_key(int t, unsigned i)
{
	return ((uint64_t)(t + 1) << 40) | (i * UINT64_C(2654435761));
}

static uint64_t shared_key(unsigned i)
{
	return UINT64_C(0xc0ffee) + i;
}

static int w_get(struct shared *s, uint64_t k, uint64_t *v)
{
	if (!s->str)
		return lfmap_word_get(s->map, k, v);
	uint64_t buf = 0;
	size_t len = 0;
	int rc = lfmap_str_get(s->map, &k, sizeof(k), &buf, sizeof(buf), &len);
	if (rc == 0) {
		MT_CHECK(len == sizeof(buf), "value length %zu", len);
		*v = buf;
	}
	return rc;
}

static int w_put(struct shared *s, uint64_t k, uint64_t v)
{
	return s->str ? lfmap_str_set(s->map, &k, sizeof(k), &v, sizeof(v))
		      : lfmap_word_put(s->map, k, v, NULL);
}

static int w_insert(struct shared *s, uint64_t k, uint64_t v)
{
	return s->str ? lfmap_str_add(s->map, &k, sizeof(k), &v, sizeof(v))
		      : lfmap_word_insert(s->map, k, v, NULL);
}

static int w_remove(struct shared *s, uint64_t k)
{
	return s->str ? lfmap_str_del(s->map, &k, sizeof(k)) : lfmap_word_remove(s->map, k, NULL);
}

static int str_add_one(const void *cur, size_t curlen, const void **newval, size_t *newlen,
		       void *arg)
{
	uint64_t *nv = arg;
	uint64_t c = 0;
	if (cur) {
		MT_CHECK(curlen == sizeof(c), "counter length %zu", curlen);
		memcpy(&c, cur, sizeof(c));
	}
	*nv = c + 1;
	*newval = nv;
	*newlen = sizeof(*nv);
	return LFMAP_COMPUTE_SET;
}

static int w_incr(struct shared *s, uint64_t k)
{
	if (!s->str)
		return lfmap_word_fetch_add(s->map, k, 1, NULL);
	uint64_t nv = 0;
	int rc = lfmap_str_compute(s->map, &k, sizeof(k), str_add_one, &nv);
	return rc == LFMAP_COMPUTE_SET ? 0 : rc;
}

static void worker(struct mt_thread *t)
{
	struct shared *s = t->arg;
	bool *present = s->present[t->id];
	uint64_t *val = s->val[t->id];
	size_t iters = mt_iters(30000);
	uint64_t enomem = 0;
	for (size_t i = 0; i < iters && !mt_failed(); i++) {
		unsigned r = (unsigned)mt_rng_below(&t->rng, 100);
		unsigned ki = (unsigned)mt_rng_below(&t->rng, OWN_KEYS);
		uint64_t k = own_key(t->id, ki), v = mt_rng_next(&t->rng) >> 3, got = 0;
		int rc;
		if (r < 30) {
			rc = w_put(s, k, v);
			MT_CHECK(rc == -ENOMEM || rc == (present[ki] ? 1 : 0), "put = %d", rc);
			if (rc >= 0) {
				present[ki] = true;
				val[ki] = v;
			}
		} else if (r < 45) {
			rc = w_insert(s, k, v);
			MT_CHECK(rc == -ENOMEM || rc == (present[ki] ? -EEXIST : 0), "insert = %d",
				 rc);
			if (rc == 0) {
				present[ki] = true;
				val[ki] = v;
			}
		} else if (r < 65) {
			rc = w_remove(s, k);
			MT_CHECK(rc == -ENOMEM || rc == (present[ki] ? 0 : -ENOENT), "remove = %d",
				 rc);
			if (rc == 0)
				present[ki] = false;
		} else if (r < 80) {
			unsigned c = (unsigned)mt_rng_below(&t->rng, SHARED);
			rc = w_incr(s, shared_key(c));
			MT_CHECK(rc == 0 || rc == -ENOMEM, "fetch_add = %d", rc);
			if (rc == 0)
				atomic_fetch_add(&s->adds[c], 1);
		} else if (r < 97 || t->id != 0) {
			rc = w_get(s, k, &got);
			MT_CHECK(rc == (present[ki] ? 0 : -ENOENT), "get = %d, model %d", rc,
				 present[ki]);
			MT_CHECK(rc != 0 || got == val[ki], "get: value differs");
		} else {
			/* thread 0 also forces migrations */
			enum lfmap_resize kind = (enum lfmap_resize)(1 + mt_rng_below(&t->rng, 3));
			rc = lfmap_resize(s->map, kind);
			MT_CHECK(rc == 0 || rc == -EAGAIN || rc == -ENOMEM ||
					 (rc == -EINVAL && kind == LFMAP_RESIZE_SHRINK),
				 "resize = %d", rc);
			if (rc == -ENOMEM)
				atomic_fetch_add(&s->resize_enomem, 1);
			else if (rc == 0)
				atomic_fetch_add(&s->resizes, 1);
			else if (rc == -EAGAIN)
				atomic_fetch_add(&s->resize_eagain, 1);
			/* the retired table is reclaimed by a call_rcu callback
			 * (I8); under load that takes long enough that most
			 * requests see -EAGAIN: wait for it now and then */
			if (rc == -EAGAIN && mt_rng_below(&t->rng, 8) == 0)
				mt_rcu_barrier();
			rc = lfmap_migrate_step(s->map, 1 + mt_rng_below(&t->rng, 8));
			MT_CHECK(rc == 0 || rc == 1 || rc == -ENOMEM, "migrate_step = %d", rc);
			if (rc == -ENOMEM)
				atomic_fetch_add(&s->step_enomem, 1);
		}
		if (rc == -ENOMEM) {
			enomem++;
			/* the failed operation changed nothing */
			if (r < 65) {
				rc = w_get(s, k, &got);
				MT_CHECK(rc == (present[ki] ? 0 : -ENOENT),
					 "after -ENOMEM: get = %d, model %d", rc, present[ki]);
				MT_CHECK(rc != 0 || got == val[ki], "after -ENOMEM: value changed");
			}
		}
	}
	atomic_fetch_add(&s->enomem, enomem);
	atomic_fetch_add(&s->ops, iters);
}

static void run(const void *arg)
{
	const struct mt_mode *mode = arg;
	for (int str = 0; str < 2; str++) {
		static struct shared s;
		memset(&s, 0, sizeof(s));
		s.str = str;
		s.al.seed = mt_test_seed();
		/* 1/32 (MT_OOM_PROB=N: N/65536) */
		const char *ps = getenv("MT_OOM_PROB");
		atomic_store(&s.al.prob, ps ? (unsigned)atoi(ps) : 2048);
		struct lfmap_config cfg;
		mt_config(&cfg, mode);
		cfg.allocator.alloc = fa_alloc;
		cfg.allocator.free = fa_free;
		cfg.allocator.ctx = &s.al;
		/* creation may fail too: retry until it works */
		for (int i = 0; i < 100 && !s.map; i++)
			s.map = str ? lfmap_str_create(&cfg) : lfmap_word_create(&cfg);
		MT_CHECK(s.map != NULL, "create failed 100 times");
		if (!s.map)
			return;
		mt_run_threads(NTHREADS, worker, &s);
		atomic_store(&s.al.prob, 0);
		mt_quiesce(s.map);
		/* every thread's keys */
		size_t want = 0;
		for (int t = 0; t < NTHREADS; t++) {
			for (unsigned i = 0; i < OWN_KEYS; i++) {
				uint64_t v = 0;
				int rc = w_get(&s, own_key(t, i), &v);
				MT_CHECK(rc == (s.present[t][i] ? 0 : -ENOENT),
					 "final get(thread %d key %u) = %d, model %d", t, i, rc,
					 s.present[t][i]);
				MT_CHECK(rc != 0 || v == s.val[t][i], "final value differs");
				want += s.present[t][i];
			}
		}
		uint64_t adds = 0;
		for (unsigned c = 0; c < SHARED; c++) {
			uint64_t v = 0, n = atomic_load(&s.adds[c]);
			int rc = w_get(&s, shared_key(c), &v);
			MT_CHECK(rc == (n ? 0 : -ENOENT), "counter %u: get = %d", c, rc);
			MT_CHECK(v == n, "counter %u = %" PRIu64 ", successful adds %" PRIu64, c, v, n);
			want += n != 0;
			adds += n;
		}
		size_t cnt = 0;
		MT_CHECK_RC(lfmap_count_exact(s.map, &cnt), 0, "count_exact");
		MT_CHECK(cnt == want, "count_exact %zu, model %zu", cnt, want);
		MT_CHECK(lfmap_count_approx(s.map) == want, "count_approx %zu, model %zu",
			 lfmap_count_approx(s.map), want);
		mt_check_stats(s.map, &cfg, want, 0);
		MT_CHECK_RC(lfmap_destroy(s.map), 0, "destroy");
		mt_rcu_barrier();
		MT_CHECK(atomic_load(&s.al.live) == 0 && atomic_load(&s.al.live_bytes) == 0,
			 "after destroy: %" PRIu64 " blocks / %" PRIu64 " bytes still allocated",
			 (uint64_t)atomic_load(&s.al.live), (uint64_t)atomic_load(&s.al.live_bytes));
		uint64_t failed = atomic_load(&s.al.failed), enomem = atomic_load(&s.enomem);
		MT_CHECK(failed > 0 && enomem > 0, "no failure injected (%" PRIu64 " / %" PRIu64 ")",
			 failed, enomem);
		mt_note("%s map, %s: %" PRIu64 " ops, %" PRIu64 " allocation attempts, %" PRIu64
			" failed, %" PRIu64 " -ENOMEM (%" PRIu64 " resize, %" PRIu64
			" migrate_step), %" PRIu64 " counter adds, resizes started %" PRIu64
			" (-EAGAIN %" PRIu64 ")",
			str ? "str" : "word", mode->name, (uint64_t)atomic_load(&s.ops),
			(uint64_t)atomic_load(&s.al.attempts), failed, enomem,
			(uint64_t)atomic_load(&s.resize_enomem),
			(uint64_t)atomic_load(&s.step_enomem), adds,
			(uint64_t)atomic_load(&s.resizes), (uint64_t)atomic_load(&s.resize_eagain));
	}
}

int main(int argc, char **argv)
{
	mt_register_modes("oom_8_threads", run);
	return mt_main(argc, argv);
}
