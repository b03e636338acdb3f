/*
 * tests/mt/mt_reseed.c - reseeding under concurrency (issue 6).
 *
 * A reseed (lfmap_resize(map, LFMAP_RESIZE_RESEED), also what the flood
 * defence runs) is a same-size migration into a table with a fresh hash
 * seed: every key moves to another bucket, through the same freeze / copy /
 * forward barrier as any migration. tests/test_flood.c and test_reseed.c
 * interleave it with updates in one thread; this file runs it against many
 * threads at once.
 *
 * One test per map kind (word, str, node) and mode (bg / driven, harness.h):
 *   - a tiny first table (size_hint 0) and max_work 1 (mt_config), so
 *     that a migration, once started, takes many operations to finish;
 *     grow_pct 30 (fewer automatic compactions competing with reseeds);
 *   - 12 workers (8 under TSan) on 2 cores, each on its own key range with
 *     a private model of it (the sequential spec: every get / insert / put /
 *     replace / cas / compute / remove result is checked against the model,
 *     byte for byte for strings, node identity for node maps);
 *   - a shared read-only range, inserted before the workers start, that
 *     every lookup must find with its value;
 *   - now and then a worker iterates the whole map: every shared key and
 *     every key of its own model (which only it changes) exactly once, no
 *     key twice, no malformed value;
 *   - one "reseeder" thread that keeps calling lfmap_resize(RESEED) and,
 *     in between, GROW / COMPACT / SHRINK (and lfmap_migrate_step in the
 *     driven mode).
 * The workers run for at least 0.4 s (0.6 s under TSan) and until
 * MIN_RESEEDS reseeding migrations have finished (seed_changes in
 * lfmap_stats, read before the map is quiesced); if that takes longer than
 * 10 s (3 s were too short at load 15), the test fails. Then: count_exact
 * before and after quiescing; a final iteration and a lookup of every key
 * agree with the models;
 * statistics consistent (grows + shrinks + compactions + seed_changes =
 * finished migrations, one trace line per migration, claimed - tombstones
 * = entries); node maps: every node freed exactly once (call_rcu or
 * node_free).
 *
 * While no migration can start (the table the last one replaced is not
 * reclaimed yet) the reseeder slows the workers down (see reseeder_thread);
 * they run at full speed whenever a migration runs.
 *
 * A map kind whose lfmap_resize(RESEED) returns -ENOTSUP FAILS here (it
 * does not skip).
 *
 * Reproducers for why requested reseeds wait (docs/RELIABILITY.md,
 * "Concurrent reseeding"):
 *   LFMAP_RESEED_NO_THROTTLE=1  never slow the workers down: the call_rcu
 *                               backlog delays every reclamation, and str/bg
 *                               fails with 0 reseeds in 10 s
 *   LFMAP_RESEED_NODE_REMOVES=N node maps remove in 2 of N operations
 *                               (default 64, at least 8): with 8, automatic
 *                               compactions take most migrations in node/bg
 *                               (LFMAP_MT_VERBOSE=1 shows the counts; under
 *                               load the test fails)
 *
 * Against a build with one part of the evacuation barrier removed
 * (-DLFM_EXPERIMENT_NO_RECHECK, -DLFM_EXPERIMENT_LAGGING_HELPER, see
 * lib/internal.h) it fails: docs/RELIABILITY.md, "Concurrent reseeding".
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finished reseeding migrations required while the workers run. */
#define MIN_RESEEDS 3

enum kind { K_WORD, K_STR, K_NODE };

/* ------------------------------------------------------------ key ids */

/*
 * Key ids g: 0 .. nshared-1 are the shared read-only keys, then nown keys per
 * worker (worker w owns nshared + w * nown .. + nown - 1). Every value
 * encodes (g, seq): seq 0 is the value of a shared key, a worker's writes use
 * seq 1, 2, ... (per worker, never reused), so a value names the write that
 * produced it.
 */
#define WTAG UINT64_C(0x5200000000000000)
#define TAG_MASK UINT64_C(0xFF00000000000000)

/* 62-bit value: check (14 bits) << 48 | g (16 bits) << 32 | seq (32 bits) */
static uint64_t wval(uint32_t g, uint32_t seq)
{
	uint64_t low = ((uint64_t)g << 32) | seq;
	return low | ((mt_mix64(low ^ UINT64_C(0x7e5eed)) & 0x3fff) << 48);
}

/* Decode a word value; false if its check bits are wrong. */
static bool wval_decode(uint64_t v, uint32_t *g, uint32_t *seq)
{
	uint64_t low = v & ((UINT64_C(1) << 48) - 1);
	if (v != wval((uint32_t)(low >> 32), (uint32_t)low))
		return false;
	*g = (uint32_t)(low >> 32);
	*seq = (uint32_t)low;
	return true;
}

/* ---------------------------------------------------------- node items */

struct item {
	struct lfmap_node ln;
	uint64_t key;
	uint64_t val; /* wval(g, seq) */
	uint64_t check;
	atomic_int retired;
	struct rcu_head rh;
};

static inline struct item *item_of(struct lfmap_node *n)
{
	return lfmap_container_of(n, struct item, ln);
}

static uint64_t item_check(uint64_t key, uint64_t val)
{
	return mt_mix64(key * 31 + val) ^ UINT64_C(0xfeedbeef);
}

static _Atomic uint64_t n_alloc, n_free_rcu, n_free_unpub, n_free_destroy;
static atomic_int n_destroy_bad;

static struct item *item_new(uint32_t g, uint32_t seq)
{
	struct item *it = malloc(sizeof *it);
	if (!it) {
		MT_FAIL("out of memory");
		return NULL;
	}
	it->ln.hash = 0;
	it->key = WTAG | g;
	it->val = wval(g, seq);
	it->check = item_check(it->key, it->val);
	atomic_init(&it->retired, 0);
	atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
	return it;
}

static void item_free_unpublished(struct item *it)
{
	atomic_fetch_add_explicit(&n_free_unpub, 1, memory_order_relaxed);
	free(it);
}

static void item_rcu_cb(struct rcu_head *h)
{
	mt_rcu_cb_enter(h);
	struct item *it = lfmap_container_of(h, struct item, rh);
	atomic_fetch_add_explicit(&n_free_rcu, 1, memory_order_relaxed);
	memset(it, 0xdd, sizeof *it);
	free(it);
}

/* A node the map handed back (removed / replaced): free after a grace
 * period. Caller holds the read lock. Handed back twice = a bug. */
static void item_retire(struct lfmap_node *n, const char *what)
{
	struct item *it = item_of(n);
	if (atomic_exchange(&it->retired, 1) != 0) {
		MT_FAIL("%s: node of key %#" PRIx64 " handed out as removed twice", what, it->key);
		return;
	}
	mt_call_rcu(&it->rh, item_rcu_cb);
}

static void node_free_cb(struct lfmap_node *n, void *arg)
{
	(void)arg;
	struct item *it = item_of(n);
	if (atomic_load(&it->retired) != 0 || it->check != item_check(it->key, it->val))
		atomic_fetch_add(&n_destroy_bad, 1);
	atomic_fetch_add(&n_free_destroy, 1);
	free(it);
}

/* A seeded hash: a reseed really moves the keys. */
static uint64_t n_hash(const void *key, uint64_t seed, void *arg)
{
	(void)arg;
	return mt_mix64(*(const uint64_t *)key ^ seed);
}

static int n_match(const struct lfmap_node *n, const void *key, void *arg)
{
	(void)arg;
	return lfmap_container_of(n, struct item, ln)->key == *(const uint64_t *)key;
}

static const void *n_key_of(const struct lfmap_node *n, void *arg)
{
	(void)arg;
	return &lfmap_container_of(n, struct item, ln)->key;
}

/* -------------------------------------------------------- string values */

#define SMAGIC 0x52534431u /* "RSD1" */
#define SHDR 16
#define SMIN (SHDR + 8)
#define SMAXV (SMIN + 200)
#define SKEYBUF 96

static uint64_t fnv64(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* Key of id g: "r<g>/" repeated 1..4 times (lengths 3..~28). */
static size_t skey(unsigned char *buf, uint32_t g)
{
	int n = snprintf((char *)buf, SKEYBUF, "r%u/", g);
	size_t len = (size_t)n;
	for (uint32_t rep = g % 4; rep > 0; rep--) {
		memcpy(buf + len, buf, (size_t)n);
		len += (size_t)n;
	}
	return len;
}

/* Key bytes -> g, or UINT32_MAX if they are not a key of this test. */
static uint32_t skey_decode(const void *key, size_t klen)
{
	const unsigned char *k = key;
	if (klen < 3 || klen >= SKEYBUF || k[0] != 'r')
		return UINT32_MAX;
	uint32_t g = 0;
	size_t i = 1;
	while (i < klen && k[i] >= '0' && k[i] <= '9' && i < 8)
		g = g * 10 + (uint32_t)(k[i++] - '0');
	unsigned char want[SKEYBUF];
	if (skey(want, g) != klen || memcmp(want, key, klen) != 0)
		return UINT32_MAX;
	return g;
}

static unsigned char sbody(uint32_t g, uint32_t seq, size_t i)
{
	return (unsigned char)(g * 7 + seq * 131 + i * 13);
}

static size_t sval(unsigned char *out, uint32_t g, uint32_t seq)
{
	size_t len = SMIN + (size_t)(mt_mix64(((uint64_t)g << 32) | seq) % 201);
	uint32_t hdr[4] = { SMAGIC, g, seq, (uint32_t)len };
	memcpy(out, hdr, SHDR);
	for (size_t i = SHDR; i < len - 8; i++)
		out[i] = sbody(g, seq, i);
	uint64_t sum = fnv64(out, len - 8);
	memcpy(out + len - 8, &sum, 8);
	return len;
}

/* Validate a string value: NULL (and g, seq) or the problem. */
static const char *sval_decode(const void *v, size_t vlen, uint32_t *g, uint32_t *seq)
{
	const unsigned char *p = v;
	uint32_t hdr[4];
	if (vlen < SMIN || vlen > SMAXV)
		return "bad length";
	memcpy(hdr, p, SHDR);
	if (hdr[0] != SMAGIC)
		return "bad magic";
	if (hdr[3] != vlen)
		return "length field differs from the value length";
	uint64_t sum;
	memcpy(&sum, p + vlen - 8, 8);
	if (sum != fnv64(p, vlen - 8))
		return "checksum mismatch (torn or reused memory)";
	for (size_t i = SHDR; i < vlen - 8; i++)
		if (p[i] != sbody(hdr[1], hdr[2], i))
			return "body mismatch";
	*g = hdr[1];
	*seq = hdr[2];
	return NULL;
}

/* ------------------------------------------------------------ the test */

struct rs;

struct worker {
	uint32_t *seq;        /* per own key: seq of the current value, 0 absent */
	struct item **items;  /* node maps: the node mapped for each own key */
	uint32_t next_seq;
	uint32_t *seen;       /* per key id: epoch of the last visit */
	uint32_t epoch;
	uint64_t ops, iterations, shared_lookups, throttled;
};

struct kind_ops {
	const char *name;
	enum kind kind;
	struct lfmap *(*create)(struct lfmap_config *cfg);
	/* insert shared key g (seq 0) before the workers start */
	int (*put_shared)(struct rs *s, uint32_t g);
	/* look a key up: 0 (*seq set; *g_in the id in the value), -ENOENT, or
	 * a failure already reported (< 0) */
	int (*lookup)(struct rs *s, uint32_t g, uint32_t *seq);
	/* one random operation of worker id on its own key i */
	void (*own_op)(struct rs *s, struct mt_thread *t, struct worker *w, uint32_t i);
	/* whole-map iteration handing (g, seq) to rs_visit; returns the
	 * foreach result */
	int (*iterate)(struct rs *s, void *visit_arg, bool variant);
};

struct rs {
	const struct kind_ops *ops;
	const struct mt_mode *mode;
	struct lfmap *map;
	int nthreads;
	uint32_t nshared, nown, nkeys; /* nkeys = nshared + nthreads * nown */
	size_t max_ops;
	unsigned iter_every;
	uint64_t min_end, deadline; /* see worker_thread */
	uint64_t seed_changes0;     /* seed_changes when the workers started */
	atomic_bool enough;         /* MIN_RESEEDS reseeds finished meanwhile */
	atomic_bool throttle;       /* waiting for a reclamation: workers slow down */
	bool no_throttle;           /* LFMAP_RESEED_NO_THROTTLE */
	uint32_t node_removes;      /* LFMAP_RESEED_NODE_REMOVES */
	struct worker *ws;
	/* reseeder */
	atomic_bool stop;
	uint64_t rs_reseeds, rs_other, rs_eagain, rs_einval, rs_steps;
	bool rs_notsup;
};

/* ---- visiting (iteration callbacks of every kind end here) */

struct visit {
	struct rs *s;
	int tid; /* iterating worker, -1: the final check */
	struct worker *w;
	uint32_t *seen;
	uint32_t epoch;
	uint32_t nshared_seen, nown_seen; /* own: keys of worker tid */
	size_t visited;
};

static int rs_visit(struct visit *v, uint32_t g, uint32_t vg, uint32_t seq)
{
	struct rs *s = v->s;
	v->visited++;
	if (g >= s->nkeys) {
		MT_FAIL("iteration by %d visited key id %u, out of range", v->tid, g);
		return 1;
	}
	if (vg != g) {
		MT_FAIL("iteration by %d: key %u has a value of key %u (seq %u)", v->tid, g, vg,
			seq);
		return 1;
	}
	if (v->seen[g] == v->epoch) {
		MT_FAIL("iteration by %d visited key %u twice", v->tid, g);
		return 1;
	}
	v->seen[g] = v->epoch;
	if (g < s->nshared) {
		if (seq != 0) {
			MT_FAIL("iteration by %d: shared key %u has seq %u", v->tid, g, seq);
			return 1;
		}
		v->nshared_seen++;
		return 0;
	}
	uint32_t owner = (g - s->nshared) / s->nown, i = (g - s->nshared) % s->nown;
	if (seq == 0) {
		MT_FAIL("iteration by %d: own key %u of worker %u has seq 0", v->tid, g, owner);
		return 1;
	}
	/* keys of the iterating worker (or all keys, at the end) are stable:
	 * they must hold the model's value */
	if (v->tid < 0 || owner == (uint32_t)v->tid) {
		uint32_t want = s->ws[owner].seq[i];
		if (want != seq) {
			MT_FAIL("iteration by %d: key %u of worker %u holds seq %u, model %u%s",
				v->tid, g, owner, seq, want, want ? "" : " (absent)");
			return 1;
		}
		v->nown_seen++;
	}
	return 0;
}

/* ============================================================== word */

static struct lfmap *word_create(struct lfmap_config *cfg)
{
	return lfmap_word_create(cfg);
}

static int word_put_shared(struct rs *s, uint32_t g)
{
	return lfmap_word_insert(s->map, WTAG | g, wval(g, 0), NULL);
}

static int word_lookup(struct rs *s, uint32_t g, uint32_t *seq)
{
	uint64_t v = UINT64_MAX;
	int rc = lfmap_word_get(s->map, WTAG | g, &v);
	if (rc != 0)
		return rc;
	uint32_t vg;
	if (!wval_decode(v, &vg, seq) || vg != g) {
		MT_FAIL("get key %u: malformed or foreign value %#" PRIx64, g, v);
		return -EINVAL;
	}
	return 0;
}

static void word_own_op(struct rs *s, struct mt_thread *t, struct worker *w, uint32_t i)
{
	uint32_t g = s->nshared + (uint32_t)t->id * s->nown + i;
	uint64_t key = WTAG | g;
	uint64_t last = w->seq[i] ? wval(g, w->seq[i]) : 0;
	uint32_t nseq = ++w->next_seq;
	uint64_t nv = wval(g, nseq), out = UINT64_MAX;
	bool rcu = mt_rng_below(&t->rng, 4) == 0;
	struct lfmap *m = s->map;
	int rc;
	const char *op;
	bool ok;
	if (rcu)
		mt_read_lock(m);
	switch (mt_rng_below(&t->rng, 8)) {
	case 0:
		op = "get";
		rc = rcu ? lfmap_word_get_rcu(m, key, &out) : lfmap_word_get(m, key, &out);
		ok = last ? rc == 0 && out == last : rc == -ENOENT;
		break;
	case 1:
		op = "insert";
		rc = rcu ? lfmap_word_insert_rcu(m, key, nv, &out)
			 : lfmap_word_insert(m, key, nv, &out);
		ok = last ? rc == -EEXIST && out == last : rc == 0;
		if (!last)
			w->seq[i] = nseq;
		break;
	case 2:
		op = "put";
		rc = rcu ? lfmap_word_put_rcu(m, key, nv, &out) : lfmap_word_put(m, key, nv, &out);
		ok = last ? rc == 1 && out == last : rc == 0;
		w->seq[i] = nseq;
		break;
	case 3:
		op = "replace";
		rc = rcu ? lfmap_word_replace_rcu(m, key, nv, &out)
			 : lfmap_word_replace(m, key, nv, &out);
		ok = last ? rc == 0 && out == last : rc == -ENOENT;
		if (last)
			w->seq[i] = nseq;
		break;
	case 4: {
		op = "cas";
		uint64_t exp = last ? last : wval(g, 0);
		rc = rcu ? lfmap_word_cas_rcu(m, key, &exp, nv) : lfmap_word_cas(m, key, &exp, nv);
		out = exp;
		ok = last ? rc == 0 : rc == -ENOENT;
		if (last)
			w->seq[i] = nseq;
		break;
	}
	case 5: {
		op = "stale cas";
		uint64_t exp = wval(g, nseq + 1); /* never stored yet */
		rc = rcu ? lfmap_word_cas_rcu(m, key, &exp, nv) : lfmap_word_cas(m, key, &exp, nv);
		out = exp;
		ok = last ? rc == -ECANCELED && out == last : rc == -ENOENT;
		break;
	}
	default:
		op = "remove";
		rc = rcu ? lfmap_word_remove_rcu(m, key, &out) : lfmap_word_remove(m, key, &out);
		ok = last ? rc == 0 && out == last : rc == -ENOENT;
		w->seq[i] = 0;
		break;
	}
	if (rcu)
		mt_read_unlock(m);
	if (!ok)
		MT_FAIL("worker %d %s%s key %u: rc %d out %#" PRIx64 ", model %s %#" PRIx64, t->id,
			op, rcu ? "_rcu" : "", g, rc, out, last ? "holds" : "absent", last);
}

static int word_visit_cb(uint64_t key, uint64_t val, void *arg)
{
	struct visit *v = arg;
	uint32_t vg = UINT32_MAX, seq = 0;
	if ((key & TAG_MASK) != WTAG || !wval_decode(val, &vg, &seq)) {
		MT_FAIL("iteration by %d: foreign key %#" PRIx64 " or malformed value %#" PRIx64,
			v->tid, key, val);
		return 1;
	}
	return rs_visit(v, (uint32_t)(key & ~TAG_MASK), vg, seq);
}

static int word_iterate(struct rs *s, void *arg, bool variant)
{
	if (!variant)
		return lfmap_word_foreach(s->map, word_visit_cb, arg);
	mt_read_lock(s->map);
	int rc = lfmap_word_foreach_rcu(s->map, word_visit_cb, arg);
	mt_read_unlock(s->map);
	return rc;
}

static const struct kind_ops word_ops = {
	"word", K_WORD, word_create, word_put_shared, word_lookup, word_own_op, word_iterate,
};

/* ============================================================== str */

static struct lfmap *str_create(struct lfmap_config *cfg)
{
	return lfmap_str_create(cfg);
}

static int str_put_shared(struct rs *s, uint32_t g)
{
	unsigned char k[SKEYBUF], v[SMAXV];
	size_t kl = skey(k, g), vl = sval(v, g, 0);
	return lfmap_str_add(s->map, k, kl, v, vl);
}

static int str_lookup(struct rs *s, uint32_t g, uint32_t *seq)
{
	unsigned char k[SKEYBUF], v[SMAXV + 8];
	size_t kl = skey(k, g), vl = 0;
	int rc = lfmap_str_get(s->map, k, kl, v, sizeof v, &vl);
	if (rc != 0)
		return rc;
	uint32_t vg = 0;
	const char *p = sval_decode(v, vl, &vg, seq);
	if (p || vg != g) {
		MT_FAIL("get key %u: %s", g, p ? p : "value of another key");
		return -EINVAL;
	}
	return 0;
}

/* compute: install the value in arg, whatever is there */
struct scomp {
	const unsigned char *val;
	size_t len;
	uint32_t g, calls;
	uint32_t cur_seq; /* seq of the value fn saw last, 0 absent */
	bool bad;
};

static int str_compute_fn(const void *cur, size_t curlen, const void **newval, size_t *newlen,
			  void *arg)
{
	struct scomp *c = arg;
	c->calls++;
	c->cur_seq = 0;
	if (cur) {
		uint32_t vg = 0;
		if (sval_decode(cur, curlen, &vg, &c->cur_seq) || vg != c->g)
			c->bad = true;
	}
	*newval = c->val;
	*newlen = c->len;
	return LFMAP_COMPUTE_SET;
}

static void str_own_op(struct rs *s, struct mt_thread *t, struct worker *w, uint32_t i)
{
	uint32_t g = s->nshared + (uint32_t)t->id * s->nown + i;
	unsigned char k[SKEYBUF], nv[SMAXV], buf[SMAXV + 8];
	size_t kl = skey(k, g);
	uint32_t last = w->seq[i], nseq = ++w->next_seq, got = UINT32_MAX;
	size_t nl = sval(nv, g, nseq);
	struct lfmap *m = s->map;
	int rc;
	const char *op;
	bool ok;
	switch (mt_rng_below(&t->rng, 8)) {
	case 0: {
		op = "get";
		size_t vl = 0;
		rc = lfmap_str_get(m, k, kl, buf, sizeof buf, &vl);
		uint32_t vg = 0;
		if (rc == 0 && sval_decode(buf, vl, &vg, &got) == NULL && vg == g)
			ok = last && got == last;
		else
			ok = !last && rc == -ENOENT;
		break;
	}
	case 1: {
		op = "get_rcu";
		const void *p = NULL;
		size_t vl = 0;
		uint32_t vg = 0;
		mt_read_lock(m);
		rc = lfmap_str_get_rcu(m, k, kl, &p, &vl);
		if (rc == 0 && sval_decode(p, vl, &vg, &got) == NULL && vg == g)
			ok = last && got == last;
		else
			ok = !last && rc == -ENOENT;
		mt_read_unlock(m);
		break;
	}
	case 2:
		op = "add";
		rc = lfmap_str_add(m, k, kl, nv, nl);
		ok = last ? rc == -EEXIST : rc == 0;
		if (!last)
			w->seq[i] = nseq;
		break;
	case 3:
		op = "set";
		rc = lfmap_str_set(m, k, kl, nv, nl);
		ok = rc == (last ? 1 : 0);
		w->seq[i] = nseq;
		break;
	case 4:
		op = "replace";
		rc = lfmap_str_replace(m, k, kl, nv, nl);
		ok = last ? rc == 0 : rc == -ENOENT;
		if (last)
			w->seq[i] = nseq;
		break;
	case 5: {
		op = "compute";
		struct scomp c = { nv, nl, g, 0, 0, false };
		rc = lfmap_str_compute(m, k, kl, str_compute_fn, &c);
		got = c.cur_seq;
		ok = rc == LFMAP_COMPUTE_SET && !c.bad && c.calls >= 1 && c.cur_seq == last;
		w->seq[i] = nseq;
		break;
	}
	default:
		op = "del";
		rc = lfmap_str_del(m, k, kl);
		ok = last ? rc == 0 : rc == -ENOENT;
		w->seq[i] = 0;
		break;
	}
	if (!ok)
		MT_FAIL("worker %d %s key %u: rc %d (seq seen %d), model %s seq %u", t->id, op, g,
			rc, (int)got, last ? "holds" : "absent", last);
}

static int str_visit_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct visit *v = arg;
	uint32_t g = skey_decode(key, klen), vg = 0, seq = 0;
	const char *p = g == UINT32_MAX ? "foreign key" : sval_decode(val, vlen, &vg, &seq);
	if (p) {
		MT_FAIL("iteration by %d: key %.*s: %s", v->tid, (int)(klen < 40 ? klen : 40),
			(const char *)key, p);
		return 1;
	}
	return rs_visit(v, g, vg, seq);
}

static int str_iterate(struct rs *s, void *arg, bool variant)
{
	(void)variant;
	mt_read_lock(s->map);
	int rc = lfmap_str_foreach_rcu(s->map, str_visit_cb, arg);
	mt_read_unlock(s->map);
	return rc;
}

static const struct kind_ops str_ops = {
	"str", K_STR, str_create, str_put_shared, str_lookup, str_own_op, str_iterate,
};

/* ============================================================== node */

static struct lfmap *node_create(struct lfmap_config *cfg)
{
	atomic_store(&n_alloc, 0);
	atomic_store(&n_free_rcu, 0);
	atomic_store(&n_free_unpub, 0);
	atomic_store(&n_free_destroy, 0);
	atomic_store(&n_destroy_bad, 0);
	cfg->hash = n_hash;
	cfg->match = n_match;
	cfg->key_of = n_key_of;
	cfg->node_free = node_free_cb;
	return lfmap_create(cfg);
}

static int node_put_shared(struct rs *s, uint32_t g)
{
	struct item *it = item_new(g, 0);
	if (!it)
		return -ENOMEM;
	mt_read_lock(s->map);
	int rc = lfmap_insert_rcu(s->map, &it->ln, NULL);
	mt_read_unlock(s->map);
	if (rc != 0)
		item_free_unpublished(it);
	return rc;
}

static bool item_ok(const struct item *it, uint32_t g, uint32_t *seq)
{
	uint32_t vg = 0;
	return it->key == (WTAG | g) && it->check == item_check(it->key, it->val) &&
	       wval_decode(it->val, &vg, seq) && vg == g;
}

static int node_lookup(struct rs *s, uint32_t g, uint32_t *seq)
{
	uint64_t key = WTAG | g;
	int rc = 0;
	mt_read_lock(s->map);
	struct lfmap_node *n = lfmap_lookup_rcu(s->map, &key);
	if (!n) {
		rc = -ENOENT;
	} else if (!item_ok(item_of(n), g, seq)) {
		MT_FAIL("lookup key %u: node of key %#" PRIx64 " val %#" PRIx64 " (freed or torn?)",
			g, item_of(n)->key, item_of(n)->val);
		rc = -EINVAL;
	} else if (atomic_load(&item_of(n)->retired)) {
		MT_FAIL("lookup key %u found a node already handed out as removed", g);
		rc = -EINVAL;
	}
	mt_read_unlock(s->map);
	return rc;
}

/* compute: install c->node whatever is mapped */
struct ncomp {
	struct item *node;
	struct lfmap_node *cur; /* what fn saw last */
	uint32_t calls;
};

static int node_compute_fn(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	struct ncomp *c = arg;
	c->calls++;
	c->cur = cur;
	*newnode = &c->node->ln;
	return LFMAP_COMPUTE_SET;
}

static void node_own_op(struct rs *s, struct mt_thread *t, struct worker *w, uint32_t i)
{
	uint32_t g = s->nshared + (uint32_t)t->id * s->nown + i;
	uint64_t key = WTAG | g;
	struct item *cur = w->items[i];
	struct lfmap *m = s->map;
	struct lfmap_node *out = NULL;
	const char *op;
	bool ok;
	int rc;
	/* 0..5 below, 6 remove_node, 7 remove: removes 1 in 32 (word and
	 * string maps: 1 in 4). A node map's remove leaves a tombstone that no
	 * later insert reuses, and node operations are the fastest: at 1 in 4
	 * (and still too often at 1 in 8) a table filled with tombstones
	 * within a grace period, and the automatic COMPACT, started in the
	 * reclamation callback before any lfmap_resize can, took nearly every
	 * migration in the bg mode: fewer than MIN_RESEEDS reseeds in 10 s. */
	uint32_t x = (uint32_t)mt_rng_below(&t->rng, s->node_removes);
	uint32_t op_kind = x < 2 ? 6 + x : x % 6;
	struct item *it = NULL;
	if (op_kind == 6 && !cur)
		op_kind = 7; /* remove_node needs a node: remove of an absent key */
	if (op_kind >= 1 && op_kind <= 5) {
		uint32_t nseq = ++w->next_seq;
		it = item_new(g, nseq);
		if (!it)
			return;
	}
	mt_read_lock(m);
	switch (op_kind) {
	case 0:
		op = "lookup";
		out = lfmap_lookup_rcu(m, &key);
		rc = out ? 0 : -ENOENT;
		ok = out == (cur ? &cur->ln : NULL);
		break;
	case 1:
		op = "insert";
		rc = lfmap_insert_rcu(m, &it->ln, &out);
		ok = cur ? rc == -EEXIST && out == &cur->ln : rc == 0;
		if (rc == 0)
			cur = it;
		else
			item_free_unpublished(it);
		break;
	case 2:
		op = "upsert";
		rc = lfmap_upsert_rcu(m, &it->ln, &out);
		ok = cur ? rc == 1 && out == &cur->ln : rc == 0;
		if (rc == 1 && out)
			item_retire(out, "upsert");
		if (rc >= 0)
			cur = it;
		else
			item_free_unpublished(it);
		break;
	case 3:
		op = "replace";
		rc = lfmap_replace_rcu(m, &it->ln, &out);
		ok = cur ? rc == 0 && out == &cur->ln : rc == -ENOENT;
		if (rc == 0) {
			if (out)
				item_retire(out, "replace");
			cur = it;
		} else {
			item_free_unpublished(it);
		}
		break;
	case 4:
		op = "cmp_replace";
		if (!cur) {
			rc = lfmap_replace_rcu(m, &it->ln, &out);
			ok = rc == -ENOENT;
			item_free_unpublished(it);
			break;
		}
		rc = lfmap_cmp_replace_rcu(m, &cur->ln, &it->ln);
		ok = rc == 0;
		if (rc == 0) {
			item_retire(&cur->ln, "cmp_replace");
			cur = it;
		} else {
			item_free_unpublished(it);
		}
		break;
	case 5: {
		op = "compute";
		struct ncomp c = { it, NULL, 0 };
		rc = lfmap_compute_rcu(m, &key, node_compute_fn, &c, &out);
		ok = rc == LFMAP_COMPUTE_SET && c.calls >= 1 && c.cur == out &&
		     out == (cur ? &cur->ln : NULL);
		if (rc == LFMAP_COMPUTE_SET) {
			if (out)
				item_retire(out, "compute");
			cur = it;
		} else {
			item_free_unpublished(it);
		}
		break;
	}
	case 6:
		op = "remove_node";
		rc = lfmap_remove_node_rcu(m, &cur->ln);
		ok = rc == 0;
		if (rc == 0) {
			item_retire(&cur->ln, "remove_node");
			cur = NULL;
		}
		break;
	default:
		op = "remove";
		rc = lfmap_remove_rcu(m, &key, &out);
		ok = cur ? rc == 0 && out == &cur->ln : rc == -ENOENT;
		if (rc == 0 && out) {
			item_retire(out, "remove");
			cur = NULL;
		}
		break;
	}
	mt_read_unlock(m);
	if (!ok)
		MT_FAIL("worker %d %s key %u: rc %d node %p, model %p", t->id, op, g, rc,
			(void *)out, (void *)(cur ? &cur->ln : NULL));
	w->items[i] = cur;
	uint32_t seq = 0;
	if (cur && !item_ok(cur, g, &seq))
		MT_FAIL("worker %d: own node of key %u corrupt", t->id, g);
	w->seq[i] = cur ? seq : 0;
}

static int node_visit_cb(struct lfmap_node *n, void *arg)
{
	struct visit *v = arg;
	struct item *it = item_of(n);
	uint32_t g = (uint32_t)(it->key & ~TAG_MASK), seq = 0;
	if ((it->key & TAG_MASK) != WTAG || g >= v->s->nkeys || !item_ok(it, g, &seq)) {
		MT_FAIL("iteration by %d: foreign or corrupt node (key %#" PRIx64 ")", v->tid,
			it->key);
		return 1;
	}
	if (atomic_load(&it->retired) && (v->tid < 0 || g < v->s->nshared)) {
		MT_FAIL("iteration by %d: node of key %u was handed out as removed", v->tid, g);
		return 1;
	}
	return rs_visit(v, g, g, seq);
}

static int node_iterate(struct rs *s, void *arg, bool variant)
{
	(void)variant;
	mt_read_lock(s->map);
	int rc = lfmap_foreach_rcu(s->map, node_visit_cb, arg);
	mt_read_unlock(s->map);
	return rc;
}

static const struct kind_ops node_ops = {
	"node", K_NODE, node_create, node_put_shared, node_lookup, node_own_op, node_iterate,
};

/* ============================================================ driver */

static const char *resize_name(enum lfmap_resize k)
{
	switch (k) {
	case LFMAP_RESIZE_GROW: return "GROW";
	case LFMAP_RESIZE_SHRINK: return "SHRINK";
	case LFMAP_RESIZE_COMPACT: return "COMPACT";
	case LFMAP_RESIZE_RESEED: return "RESEED";
	}
	return "?";
}

/*
 * The reseeder: RESEED x3, GROW, RESEED x3, COMPACT, RESEED x3, SHRINK, ...
 * (advance on success; a SHRINK of a minimum-size table is skipped),
 * retrying on -EAGAIN after a short sleep; in the driven mode also a few
 * lfmap_migrate_step calls per round. The map calls run inside
 * mt_read_lock for the TSan annotations (see the harness's resizer).
 * A migration may start only once the table the last one replaced has been
 * reclaimed (I8), one grace period plus the call_rcu queue later: on two
 * loaded cores that is 50-500 ms, so most requests get -EAGAIN.
 */
static void reseeder_thread(struct mt_thread *t)
{
	struct rs *s = t->arg;
#define R LFMAP_RESIZE_RESEED
	static const enum lfmap_resize cycle[12] = {
		R, R, R, LFMAP_RESIZE_GROW, R, R, R, LFMAP_RESIZE_COMPACT, R, R, R,
		LFMAP_RESIZE_SHRINK,
	};
#undef R
	const unsigned ncycle = sizeof cycle / sizeof cycle[0];
	unsigned k = 0;
	uint64_t loops = 0;
	while (!atomic_load_explicit(&s->stop, memory_order_acquire) && !mt_failed()) {
		loops++;
		enum lfmap_resize kind = cycle[k];
		if (kind == LFMAP_RESIZE_RESEED && s->rs_notsup)
			kind = LFMAP_RESIZE_COMPACT;
		mt_read_lock(s->map);
		int rrc = lfmap_resize(s->map, kind), rc;
		if (rrc == 0) {
			if (kind == LFMAP_RESIZE_RESEED)
				s->rs_reseeds++;
			else
				s->rs_other++;
			k = (k + 1) % ncycle;
		} else if (rrc == -EAGAIN) {
			s->rs_eagain++;
		} else if (rrc == -EINVAL && kind == LFMAP_RESIZE_SHRINK) {
			s->rs_einval++;
			k = (k + 1) % ncycle;
		} else if (rrc == -ENOTSUP && kind == LFMAP_RESIZE_RESEED) {
			/* fail loudly, once; keep the others running */
			MT_FAIL("%s map: lfmap_resize(RESEED) returned -ENOTSUP: this map kind "
				"cannot reseed in this build",
				s->ops->name);
			s->rs_notsup = true;
		} else {
			MT_FAIL("lfmap_resize(%s) returned %d", resize_name(kind), rrc);
		}
		if (s->mode->steps) {
			int nsteps = 1 + (int)mt_rng_below(&t->rng, 4);
			for (int i = 0; i < nsteps; i++) {
				rc = lfmap_migrate_step(s->map, 1 + (size_t)mt_rng_below(&t->rng, 8));
				s->rs_steps++;
				if (rc < 0) {
					MT_FAIL("lfmap_migrate_step returned %d", rc);
					break;
				}
				if (rc == 0)
					break;
			}
		}
		mt_read_unlock(s->map);
		struct lfmap_stats st;
		if (lfmap_stats(s->map, &st) != 0) {
			MT_FAIL("lfmap_stats failed");
			break;
		}
		if (st.seed_changes - s->seed_changes0 >= MIN_RESEEDS)
			atomic_store_explicit(&s->enough, true, memory_order_release);
		/* Waiting for the reclamation of the last replaced table (no
		 * migration runs, yet -EAGAIN): slow the workers down. Every
		 * update of a string map and most of a node map queue a
		 * call_rcu free; at full speed 12 workers queue them faster
		 * than the one call_rcu thread (one runnable thread of 14 on
		 * 2 cores) runs them, and the table's reclamation waits behind
		 * that backlog for seconds. Throttled, the backlog drains; the
		 * workers run at full speed again as soon as a migration is
		 * running, so every reseed overlaps full-speed updates. */
		atomic_store_explicit(&s->throttle,
				      rrc == -EAGAIN && !st.migrating && !s->no_throttle,
				      memory_order_relaxed);
		/* a short sleep, not sched_yield: with 12 busy workers on 2
		 * cores a yielding thread gets the CPU back only every few ms,
		 * a sleeping one is woken with priority */
		mt_sleep_us(20 + (unsigned)mt_rng_below(&t->rng, 60));
	}
}

/* One iteration by worker t, checked against its own model. */
static void worker_iterate(struct rs *s, struct mt_thread *t, struct worker *w)
{
	struct visit v = { .s = s, .tid = t->id, .w = w, .seen = w->seen, .epoch = ++w->epoch };
	int rc = s->ops->iterate(s, &v, (w->iterations & 1) != 0);
	w->iterations++;
	if (rc != 0) {
		if (!mt_failed())
			MT_FAIL("worker %d: iteration returned %d", t->id, rc);
		return;
	}
	uint32_t own_present = 0;
	for (uint32_t i = 0; i < s->nown; i++)
		own_present += w->seq[i] != 0;
	if (v.nshared_seen != s->nshared || v.nown_seen != own_present)
		MT_FAIL("worker %d: iteration saw %u of %u shared keys and %u of its %u present "
			"keys (%zu entries visited)",
			t->id, v.nshared_seen, s->nshared, v.nown_seen, own_present, v.visited);
}

static void worker_thread(struct mt_thread *t)
{
	struct rs *s = t->arg;
	struct worker *w = &s->ws[t->id];
	size_t n;
	for (n = 0; n < s->max_ops && !mt_failed(); n++) {
		/* run until MIN_RESEEDS reseeds finished and min_end passed,
		 * or until the deadline (then the test fails) */
		if ((n & 63) == 0 &&
		    (mt_expired(s->deadline) ||
		     (atomic_load_explicit(&s->enough, memory_order_acquire) &&
		      mt_expired(s->min_end))))
			break;
		if ((n & 15) == 0 && atomic_load_explicit(&s->throttle, memory_order_relaxed)) {
			w->throttled++;
			mt_sleep_us(500);
		}
		uint64_t r = mt_rng_below(&t->rng, 100);
		if (r < 15) {
			uint32_t g = (uint32_t)mt_rng_below(&t->rng, s->nshared), seq = UINT32_MAX;
			int rc = s->ops->lookup(s, g, &seq);
			if (rc == -ENOENT)
				MT_FAIL("worker %d: shared key %u not found", t->id, g);
			else if (rc == 0 && seq != 0)
				MT_FAIL("worker %d: shared key %u holds seq %u", t->id, g, seq);
			w->shared_lookups++;
		} else if (mt_rng_below(&t->rng, s->iter_every) == 0) {
			worker_iterate(s, t, w);
		} else {
			s->ops->own_op(s, t, w, (uint32_t)mt_rng_below(&t->rng, s->nown));
		}
	}
	w->ops = n;
}

static int count_exact_locked(struct lfmap *m, size_t *n)
{
	mt_read_lock(m);
	int rc = lfmap_count_exact(m, n);
	mt_read_unlock(m);
	return rc;
}

static void run_reseed(const struct kind_ops *ops, const struct mt_mode *mode)
{
	struct lfmap_config cfg;
	mt_config(&cfg, mode); /* size_hint 0, max_work 1, fixed seed, trace counter */
	/* grow at 30 % instead of 75 %: a sparser table collects overflow
	 * buckets (and with them automatic compactions, which compete with
	 * the reseeder) more slowly; it still starts at 1 bucket */
	cfg.grow_pct = 30;
	cfg.shrink_pct = 9;
	struct lfmap *m = ops->create(&cfg);
	if (!m) {
		MT_FAIL("%s create: errno %d", ops->name, errno);
		return;
	}
	static struct rs s;
	memset(&s, 0, sizeof s);
	s.ops = ops;
	s.mode = mode;
	s.map = m;
	s.nthreads = MT_TSAN ? 8 : 12;
	s.nshared = MT_TSAN ? 128 : 256;
	s.nown = MT_TSAN ? 48 : 96;
	s.nkeys = s.nshared + (uint32_t)s.nthreads * s.nown;
	s.max_ops = mt_iters(100000000); /* a safety cap: the deadlines end the run */
	s.iter_every = MT_TSAN ? 400 : 1500;
	atomic_init(&s.stop, false);
	s.ws = calloc((size_t)s.nthreads, sizeof *s.ws);
	for (int i = 0; i < s.nthreads; i++) {
		s.ws[i].seq = calloc(s.nown, sizeof(uint32_t));
		s.ws[i].items = calloc(s.nown, sizeof(struct item *));
		s.ws[i].seen = calloc(s.nkeys, sizeof(uint32_t));
	}
	uint32_t *final_seen = calloc(s.nkeys, sizeof(uint32_t));

	for (uint32_t g = 0; g < s.nshared; g++)
		MT_CHECK_RC(ops->put_shared(&s, g), 0, "insert of a shared key");

	struct lfmap_stats st0, st1, st2;
	MT_CHECK_RC(lfmap_stats(m, &st0), 0, "lfmap_stats");
	s.seed_changes0 = st0.seed_changes;
	atomic_init(&s.enough, false);
	atomic_init(&s.throttle, false);
	const char *e = getenv("LFMAP_RESEED_NO_THROTTLE");
	s.no_throttle = e && *e && strcmp(e, "0") != 0;
	e = getenv("LFMAP_RESEED_NODE_REMOVES");
	s.node_removes = e ? (uint32_t)strtoul(e, NULL, 10) : 64;
	if (s.node_removes < 8)
		s.node_removes = 8;
	s.min_end = mt_deadline_ms(MT_TSAN ? 600 : 400);
	s.deadline = mt_deadline_ms(10000);
	uint64_t t0 = mt_now_ns();
	struct mt_group *rg = mt_spawn(1, reseeder_thread, &s);
	mt_run_threads(s.nthreads, worker_thread, &s);
	/* seed_changes while the workers ran (they are done, the reseeder not) */
	MT_CHECK_RC(lfmap_stats(m, &st1), 0, "lfmap_stats");
	atomic_store_explicit(&s.stop, true, memory_order_release);
	mt_join(rg);
	uint64_t t1 = mt_now_ns();

	uint64_t ops_total = 0, iters = 0, shared = 0, throttled = 0, want = s.nshared;
	for (int i = 0; i < s.nthreads; i++) {
		ops_total += s.ws[i].ops;
		iters += s.ws[i].iterations;
		shared += s.ws[i].shared_lookups;
		throttled += s.ws[i].throttled;
		for (uint32_t k = 0; k < s.nown; k++)
			want += s.ws[i].seq[k] != 0;
	}
	uint64_t reseeds_during = st1.seed_changes - st0.seed_changes;
	mt_note("%s/%s: %.2f s, %d workers, %" PRIu64 " ops (%" PRIu64 " shared lookups, %" PRIu64
		" iterations, %" PRIu64 " throttle sleeps); reseeder: %" PRIu64 " reseeds + %" PRIu64 " other started, %" PRIu64
		" EAGAIN, %" PRIu64 " steps; seed_changes during the run %" PRIu64
		", migrations finished %" PRIu64,
		ops->name, mode->name, (double)(t1 - t0) / 1e9, s.nthreads, ops_total, shared, iters,
		throttled,
		s.rs_reseeds, s.rs_other, s.rs_eagain, s.rs_steps, reseeds_during,
		st1.migrations_finished - st0.migrations_finished);
	MT_CHECK(reseeds_during >= MIN_RESEEDS,
		 "only %" PRIu64 " reseeds finished while the workers ran (%" PRIu64
		 " started by the reseeder), want >= %d",
		 reseeds_during, s.rs_reseeds, MIN_RESEEDS);
	MT_CHECK(ops_total > 0 && iters > 0, "%" PRIu64 " ops, %" PRIu64 " iterations", ops_total,
		 iters);

	/* counts while a migration may still run (driven mode) */
	size_t n = 0;
	MT_CHECK_RC(count_exact_locked(m, &n), 0, "lfmap_count_exact");
	MT_CHECK(n == want, "count_exact %zu before quiesce, want %" PRIu64, n, want);

	mt_quiesce(m);

	/* the final iteration: every present key once, with its model value */
	struct visit v = { .s = &s, .tid = -1, .seen = final_seen, .epoch = 1 };
	int rc = ops->iterate(&s, &v, false);
	MT_CHECK_RC(rc, 0, "final iteration");
	MT_CHECK(v.nshared_seen == s.nshared, "final iteration: %u of %u shared keys",
		 v.nshared_seen, s.nshared);
	MT_CHECK(v.nshared_seen + v.nown_seen == want,
		 "final iteration: %u shared + %u own keys, models hold %" PRIu64, v.nshared_seen,
		 v.nown_seen, want);
	/* and a lookup of every key */
	size_t bad = 0;
	for (uint32_t g = 0; g < s.nkeys && !mt_failed(); g++) {
		uint32_t wseq = 0, seq = UINT32_MAX;
		if (g >= s.nshared)
			wseq = s.ws[(g - s.nshared) / s.nown].seq[(g - s.nshared) % s.nown];
		bool present = g < s.nshared || wseq != 0;
		rc = ops->lookup(&s, g, &seq);
		if (present ? rc != 0 || seq != wseq : rc != -ENOENT) {
			if (bad++ < 3)
				MT_FAIL("final lookup of key %u: rc %d seq %u, model %s seq %u", g, rc,
					seq, present ? "holds" : "absent", wseq);
		}
	}
	MT_CHECK(bad == 0, "%zu keys wrong after quiesce", bad);
	n = 0;
	MT_CHECK_RC(count_exact_locked(m, &n), 0, "lfmap_count_exact");
	MT_CHECK(n == want, "count_exact %zu after quiesce, want %" PRIu64, n, want);
	mt_check_stats(m, &cfg, want, 0); /* counts reseeds as migrations */
	memset(&st2, 0, sizeof st2);
	MT_CHECK_RC(lfmap_stats(m, &st2), 0, "lfmap_stats");
	mt_note("final: %" PRIu64 " entries, %" PRIu64 " buckets, migrations %" PRIu64
		" (g %" PRIu64 " s %" PRIu64 " c %" PRIu64 " reseed %" PRIu64
		"), evacuated by writers %" PRIu64 ", background %" PRIu64,
		want, st2.buckets, st2.migrations_finished, st2.grows, st2.shrinks, st2.compactions,
		st2.seed_changes, st2.evacuated_by_writers, st2.evacuated_by_background);

	if (ops->kind == K_NODE) {
		uint64_t live = atomic_load(&n_alloc) - atomic_load(&n_free_rcu) -
				atomic_load(&n_free_unpub);
		MT_CHECK(live == want,
			 "%" PRIu64 " nodes allocated and not freed, but %" PRIu64 " mapped", live,
			 want);
		MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
		MT_CHECK(atomic_load(&n_free_destroy) == live,
			 "destroy passed %" PRIu64 " nodes to node_free, %" PRIu64 " were live",
			 (uint64_t)atomic_load(&n_free_destroy), live);
		MT_CHECK(atomic_load(&n_destroy_bad) == 0,
			 "destroy passed %d retired or corrupt nodes to node_free",
			 atomic_load(&n_destroy_bad));
	} else {
		MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
	}
	for (int i = 0; i < s.nthreads; i++) {
		free(s.ws[i].seq);
		free(s.ws[i].items);
		free(s.ws[i].seen);
	}
	free(s.ws);
	free(final_seen);
}

static void test_word(const void *arg)
{
	run_reseed(&word_ops, arg);
}

static void test_str(const void *arg)
{
	run_reseed(&str_ops, arg);
}

static void test_node(const void *arg)
{
	run_reseed(&node_ops, arg);
}

int main(int argc, char **argv)
{
	mt_register_modes("reseed/word", test_word);
	mt_register_modes("reseed/str", test_str);
	mt_register_modes("reseed/node", test_node);
	return mt_main(argc, argv);
}
