/*
 * tests/mt/mt_str.c - multithreaded tests of the byte-string map under
 * forced migrations (modes bg / driven, see harness.h).
 *
 * Values are self-validating: a header (magic, length, key index, writer,
 * seq), a body derived from the key bytes and the seq, and a trailing
 * checksum of everything before it. A torn copy, a value of another key, a
 * freed-and-reused node or a value no writer produced fails the check.
 *
 *   disjoint_insert  disjoint lfmap_str_add: all present, counts, stats
 *   insert_race      same-key lfmap_str_add: one winner, its value stored
 *   remove_race      same-key lfmap_str_del: one winner per key
 *   iterate          lfmap_str_foreach_rcu during churn: stable keys once
 *   counters         lfmap_str_compute +1 on a few keys (empty key included):
 *                    exact totals, every increment installed once
 *   values           set/add/replace/del/compute: single-writer keys follow
 *                    the sequential spec (byte for byte), readers copy with
 *                    lfmap_str_get or read in place with lfmap_str_get_rcu
 *                    and never see torn, foreign, future or stale values
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VMAGIC 0x5354524du /* "STRM" */
#define VHDR 24
#define VMIN (VHDR + 8)
#define VMAX 4096
#define KEYBUF 512

struct vhdr {
	uint32_t magic, len, kidx, writer;
	uint64_t seq;
};

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

static unsigned char body_byte(const unsigned char *key, size_t klen, uint64_t seq, size_t i)
{
	unsigned char k = klen ? key[i % klen] : (unsigned char)0x5a;
	return (unsigned char)(k ^ (unsigned char)(seq * 131 + i));
}

/* Build a value of len bytes (VMIN <= len <= VMAX) into out. */
static void vbuild(unsigned char *out, size_t len, const void *key, size_t klen, uint32_t kidx,
		   uint32_t writer, uint64_t seq)
{
	struct vhdr h = { VMAGIC, (uint32_t)len, kidx, writer, seq };
	memcpy(out, &h, VHDR);
	for (size_t i = VHDR; i < len - 8; i++)
		out[i] = body_byte(key, klen, seq, i);
	uint64_t sum = fnv64(out, len - 8);
	memcpy(out + len - 8, &sum, 8);
}

/* NULL if v is a value built for this key (kidx checked unless UINT32_MAX). */
static const char *vproblem(const unsigned char *v, size_t vlen, const void *key, size_t klen,
			    uint32_t kidx, struct vhdr *hout)
{
	struct vhdr h;
	if (vlen < VMIN)
		return "too short";
	memcpy(&h, v, VHDR);
	if (hout)
		*hout = h;
	if (h.magic != VMAGIC)
		return "bad magic";
	if (h.len != vlen)
		return "length field differs from the value length";
	uint64_t sum;
	memcpy(&sum, v + vlen - 8, 8);
	if (sum != fnv64(v, vlen - 8))
		return "checksum mismatch (torn or reused memory)";
	if (kidx != UINT32_MAX && h.kidx != kidx)
		return "value of another key (key index)";
	for (size_t i = VHDR; i < vlen - 8; i++)
		if (v[i] != body_byte(key, klen, h.seq, i))
			return "value of another key (body)";
	return NULL;
}

static size_t vlen_pick(struct mt_rng *r)
{
	uint64_t x = mt_rng_below(r, 64);
	if (x == 0)
		return 1000 + (size_t)mt_rng_below(r, VMAX - 1000);
	return VMIN + (size_t)mt_rng_below(r, 300);
}

/* Key bytes for (tag, idx); index 0 of tag 'e' is the empty key. */
static size_t make_key(unsigned char *buf, char tag, size_t idx)
{
	if (tag == 'e' && idx == 0)
		return 0;
	if (tag == 'e' && idx == 1) { /* binary, with NULs */
		static const unsigned char b[] = { 0, 1, 0, 0xff, 0x80, 0 };
		memcpy(buf, b, sizeof b);
		return sizeof b;
	}
	if (tag == 'e' && idx == 2) { /* long */
		memset(buf, 'L', 300);
		return 300;
	}
	int n = snprintf((char *)buf, KEYBUF, "%c%zu/", tag, idx);
	size_t len = (size_t)n;
	for (size_t rep = idx % 5; rep > 0; rep--) { /* lengths vary 3..~40 */
		memcpy(buf + len, buf, (size_t)n);
		len += (size_t)n;
	}
	return len;
}

static struct lfmap *make_map(struct lfmap_config *cfg, const struct mt_mode *mode)
{
	mt_config(cfg, mode);
	struct lfmap *m = lfmap_str_create(cfg);
	if (!m)
		MT_FAIL("lfmap_str_create: errno %d", errno);
	return m;
}

/* Get key and validate; returns 0, -ENOENT or another rc (reported). */
static int get_check(struct lfmap *m, const unsigned char *key, size_t klen, uint32_t kidx,
		     struct vhdr *h, const char *what)
{
	unsigned char buf[VMAX];
	size_t vlen = 0;
	int rc = lfmap_str_get(m, klen ? key : NULL, klen, buf, sizeof buf, &vlen);
	if (rc == 0) {
		const char *p = vproblem(buf, vlen, key, klen, kidx, h);
		if (p)
			MT_FAIL("%s: key %.*s (%zu bytes): %s", what, (int)(klen < 40 ? klen : 40),
				(const char *)key, klen, p);
	} else if (rc != -ENOENT) {
		MT_FAIL("%s: lfmap_str_get returned %d", what, rc);
	}
	return rc;
}

/* ============================================================ 1. disjoint */

/* the driver is mt_disjoint_run in the harness */
static void disjoint_thread(struct mt_thread *t)
{
	struct mt_disjoint *d = t->arg;
	unsigned char key[KEYBUF], val[VMAX];
	size_t i;
	char tag = (char)('A' + t->id);
	for (i = 0; i < d->per_thread && !mt_failed(); i++) {
		if ((i & 127) == 0 && mt_expired(d->deadline))
			break;
		size_t kl = make_key(key, tag, i);
		size_t vl = vlen_pick(&t->rng);
		vbuild(val, vl, key, kl, (uint32_t)i, (uint32_t)t->id, i + 1);
		int rc = lfmap_str_add(d->map, key, kl, val, vl);
		if (rc != 0) {
			MT_FAIL("add returned %d", rc);
			break;
		}
		if ((i & 15) == 0) {
			size_t j = (size_t)mt_rng_below(&t->rng, i + 1);
			kl = make_key(key, tag, j);
			if (get_check(d->map, key, kl, (uint32_t)j, NULL, "own key") != 0)
				MT_FAIL("own key %c%zu missing", tag, j);
		}
	}
	d->done[t->id] = i;
}

static void test_disjoint_insert(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	struct mt_disjoint d;
	size_t total = mt_disjoint_run(&d, m, mode, disjoint_thread, 10000, 3000, NULL);
	int T = d.nthreads;
	mt_quiesce(m);
	unsigned char key[KEYBUF];
	size_t missing = 0;
	for (int t = 0; t < T && !mt_failed(); t++) {
		for (size_t i = 0; i < d.done[t]; i++) {
			size_t kl = make_key(key, (char)('A' + t), i);
			struct vhdr h;
			if (get_check(m, key, kl, (uint32_t)i, &h, "final get") != 0 ||
			    h.writer != (uint32_t)t || h.seq != i + 1)
				if (missing++ < 3)
					MT_FAIL("key %c%zu missing or wrong after quiesce",
						'A' + t, i);
		}
	}
	MT_CHECK(missing == 0, "%zu of %zu keys missing", missing, total);
	mt_check_stats(m, &cfg, total, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
	mt_disjoint_free(&d);
}

/* ====================================================== 2/3. same-key races */

/* The driver is mt_race_* in the harness; these are the string-map callbacks. */

static size_t race_key(unsigned char *key, const struct mt_race *r, size_t idx)
{
	return make_key(key, 'r', r->round * 100000 + idx);
}

static bool race_insert_key(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing)
{
	unsigned char key[KEYBUF], val[VMAX];
	size_t kl = race_key(key, r, idx);
	size_t vl = VMIN + (size_t)mt_rng_below(&t->rng, 100);
	vbuild(val, vl, key, kl, (uint32_t)idx, (uint32_t)t->id, r->round);
	int rc = lfmap_str_add(r->map, key, kl, val, vl);
	if (rc == 0)
		return true;
	if (rc != -EEXIST || !racing)
		MT_FAIL("add returned %d", rc);
	return false;
}

static bool race_remove_key(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing)
{
	(void)t;
	unsigned char key[KEYBUF];
	size_t kl = race_key(key, r, idx);
	int rc = lfmap_str_del(r->map, key, kl);
	if (rc == 0)
		return true;
	if (rc != -ENOENT || !racing)
		MT_FAIL("del returned %d", rc);
	return false;
}

static bool race_check_key(struct mt_race *r, size_t idx, bool after_insert, bool report)
{
	unsigned char key[KEYBUF];
	size_t kl = race_key(key, r, idx);
	struct vhdr h;
	/* get_check reports a malformed value itself */
	int rc = get_check(r->map, key, kl, (uint32_t)idx, &h, "verify");
	if (after_insert) {
		int wo = atomic_load(&r->winner_of[idx]);
		if (rc == 0 && h.writer == (uint32_t)wo)
			return true;
		if (report)
			MT_FAIL("key %zu: rc %d value of writer %u, winner %d", idx, rc,
				rc ? 0u : h.writer, wo);
		return false;
	}
	if (rc == -ENOENT)
		return true;
	if (report)
		MT_FAIL("key %zu still present after its del", idx);
	return false;
}

static const struct mt_race_ops race_ops = {
	.insert = race_insert_key,
	.remove = race_remove_key,
	.check_key = race_check_key,
	.insert_name = "add",
	.remove_name = "del",
};

static void run_race(const struct mt_mode *mode, bool race_insert)
{
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	struct mt_race r;
	mt_race_init(&r, m, &race_ops, NULL, race_insert, 2048, 128, 1500);
	mt_race_run(&r, mode);
	mt_quiesce(m);
	mt_check_stats(m, &cfg, 0, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
	mt_race_free(&r);
}

static void test_insert_race(const void *arg)
{
	run_race(arg, true);
}

static void test_remove_race(const void *arg)
{
	run_race(arg, false);
}

/* ============================================================ 4. iterate */

/* The driver is mt_iter_* in the harness; these are the string-map
 * callbacks. Stable keys have tag 's', churn keys tag 'c' (make_key), and
 * every value carries its key's index in the header. */

static int visit_cb(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct mt_visit *v = arg;
	const unsigned char *k = key;
	struct vhdr h;
	const char *p = vproblem(val, vlen, key, klen, UINT32_MAX, &h);
	if (p) {
		MT_FAIL("iterator %d: key %.*s: %s", v->tid, (int)(klen < 40 ? klen : 40),
			(const char *)key, p);
		return 1;
	}
	/* the key must be the one make_key gives for the header's index */
	unsigned char want[KEYBUF];
	char tag = klen ? (char)k[0] : '?';
	if ((tag != 's' && tag != 'c') || make_key(want, tag, h.kidx) != klen ||
	    memcmp(want, key, klen) != 0) {
		MT_FAIL("iterator %d visited foreign key %.*s", v->tid, (int)(klen < 40 ? klen : 40),
			(const char *)key);
		return 1;
	}
	return mt_visit_key(v, tag == 's', h.kidx);
}

static int iter_iterate(struct lfmap *map, struct mt_visit *v, size_t n)
{
	(void)n;
	mt_read_lock(map);
	int rc = lfmap_str_foreach_rcu(map, visit_cb, v);
	mt_read_unlock(map);
	return rc;
}

/* add/set/replace/del, values with a per-thread sequence number */
static void iter_churn(struct mt_thread *t, struct mt_iter *it, size_t idx)
{
	static _Thread_local uint64_t seq;
	unsigned char key[KEYBUF], val[VMAX];
	size_t kl = make_key(key, 'c', idx);
	size_t vl = VMIN + (size_t)mt_rng_below(&t->rng, 200);
	vbuild(val, vl, key, kl, (uint32_t)idx, (uint32_t)t->id, ++seq);
	int rc;
	switch (mt_rng_below(&t->rng, 4)) {
	case 0:
		rc = lfmap_str_add(it->map, key, kl, val, vl);
		if (rc != 0 && rc != -EEXIST)
			MT_FAIL("churn add returned %d", rc);
		break;
	case 1:
		rc = lfmap_str_set(it->map, key, kl, val, vl);
		if (rc != 0 && rc != 1)
			MT_FAIL("churn set returned %d", rc);
		break;
	case 2:
		rc = lfmap_str_replace(it->map, key, kl, val, vl);
		if (rc != 0 && rc != -ENOENT)
			MT_FAIL("churn replace returned %d", rc);
		break;
	default:
		rc = lfmap_str_del(it->map, key, kl);
		if (rc != 0 && rc != -ENOENT)
			MT_FAIL("churn del returned %d", rc);
		break;
	}
}

static const struct mt_iter_ops iter_ops = {
	.iterate = iter_iterate,
	.churn = iter_churn,
};

static void test_iterate(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	struct mt_iter it;
	mt_iter_init(&it, m, &iter_ops, NULL, 2000, 100, 2048, 2000);
	unsigned char key[KEYBUF], val[VMAX];
	struct mt_rng rng;
	mt_rng_init(&rng, mt_test_seed());
	for (size_t i = 0; i < it.nstable; i++) {
		size_t kl = make_key(key, 's', i), vl = vlen_pick(&rng);
		vbuild(val, vl, key, kl, (uint32_t)i, 0, 1);
		MT_CHECK_RC(lfmap_str_add(m, key, kl, val, vl), 0, "stable add");
	}
	mt_iter_run(&it, mode, 1500);
	mt_quiesce(m);
	size_t present = 0;
	for (size_t i = 0; i < it.nstable; i++) {
		size_t kl = make_key(key, 's', i);
		if (get_check(m, key, kl, (uint32_t)i, NULL, "stable") != 0) {
			MT_FAIL("stable key s%zu missing at the end", i);
			break;
		}
		present++;
	}
	for (size_t i = 0; i < it.nchurn; i++) {
		size_t kl = make_key(key, 'c', i);
		present += get_check(m, key, kl, (uint32_t)i, NULL, "churn") == 0;
	}
	mt_check_stats(m, &cfg, present, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
}

/* =========================================================== 5. counters */

#define NCNT 4 /* counter keys: 'e' 0..3 (empty, binary, long, text) */

struct counters {
	struct lfmap *map;
	size_t per_thread;
	uint64_t deadline;
	size_t maxtotal;
	_Atomic uint64_t *seen[NCNT];
	_Atomic uint64_t incs[NCNT];
};

struct cnt_arg {
	uint64_t keytag;
	unsigned char out[16];
	uint64_t installed; /* count computed by the last fn call */
	bool bad;
	int calls;
};

static int cnt_fn(const void *cur, size_t curlen, const void **newval, size_t *newlen, void *arg)
{
	struct cnt_arg *a = arg;
	uint64_t c = 0;
	a->calls++;
	if (cur) {
		uint64_t chk;
		if (curlen != 16) {
			a->bad = true;
			return LFMAP_COMPUTE_KEEP;
		}
		memcpy(&c, cur, 8);
		memcpy(&chk, (const unsigned char *)cur + 8, 8);
		if (chk != mt_mix64(c ^ a->keytag)) {
			a->bad = true;
			return LFMAP_COMPUTE_KEEP;
		}
	}
	c++;
	uint64_t chk = mt_mix64(c ^ a->keytag);
	memcpy(a->out, &c, 8);
	memcpy(a->out + 8, &chk, 8);
	a->installed = c;
	*newval = a->out;
	*newlen = 16;
	return LFMAP_COMPUTE_SET;
}

static void counters_thread(struct mt_thread *t)
{
	struct counters *c = t->arg;
	unsigned char key[KEYBUF];
	for (size_t i = 0; i < c->per_thread && !mt_failed(); i++) {
		if ((i & 127) == 0 && mt_expired(c->deadline))
			break;
		int k = (int)mt_rng_below(&t->rng, NCNT);
		size_t kl = make_key(key, 'e', (size_t)k);
		struct cnt_arg a = { .keytag = (uint64_t)k * 7919 };
		int rc = lfmap_str_compute(c->map, kl ? key : NULL, kl, cnt_fn, &a);
		if (a.bad) {
			MT_FAIL("counter %d: compute saw a corrupt current value", k);
			break;
		}
		if (rc != LFMAP_COMPUTE_SET) {
			MT_FAIL("counter compute returned %d", rc);
			break;
		}
		uint64_t prev = a.installed - 1;
		if (prev >= c->maxtotal) {
			MT_FAIL("counter %d reached %" PRIu64 ", beyond any possible total", k,
				a.installed);
			break;
		}
		uint64_t bit = UINT64_C(1) << (prev & 63);
		if (atomic_fetch_or(&c->seen[k][prev >> 6], bit) & bit)
			MT_FAIL("counter %d: increment from %" PRIu64 " installed twice (lost update)",
				k, prev);
		atomic_fetch_add(&c->incs[k], 1);
	}
}

static void test_counters(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	int T = mt_threads(16);
	struct counters c = { .map = m };
	c.per_thread = mt_iters(100000);
	c.maxtotal = c.per_thread * (size_t)T;
	for (int k = 0; k < NCNT; k++) {
		c.seen[k] = calloc(c.maxtotal / 64 + 1, sizeof(uint64_t));
		atomic_init(&c.incs[k], 0);
	}
	c.deadline = mt_deadline_ms(1500);
	/* filler so that migrations have something to move */
	unsigned char key[KEYBUF], val[VMAX];
	for (size_t i = 0; i < 200; i++) {
		size_t kl = make_key(key, 'f', i);
		vbuild(val, VMIN, key, kl, (uint32_t)i, 0, 1);
		MT_CHECK_RC(lfmap_str_add(m, key, kl, val, VMIN), 0, "filler add");
	}
	mt_run_resized(m, mode, T, counters_thread, &c);
	mt_quiesce(m);
	size_t present = 200;
	for (int k = 0; k < NCNT; k++) {
		uint64_t want = atomic_load(&c.incs[k]);
		size_t kl = make_key(key, 'e', (size_t)k), vlen = 0;
		unsigned char buf[16];
		int rc = lfmap_str_get(m, kl ? key : NULL, kl, buf, sizeof buf, &vlen);
		uint64_t got = 0;
		if (rc == 0 && vlen == 16)
			memcpy(&got, buf, 8);
		if (want == 0)
			continue;
		present++;
		MT_CHECK(rc == 0 && got == want, "counter %d: rc %d value %" PRIu64 " after %" PRIu64
			 " increments", k, rc, got, want);
	}
	mt_check_stats(m, &cfg, present, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
	for (int k = 0; k < NCNT; k++)
		free((void *)c.seen[k]);
}

/* ============================================================ 8. values */

#define SV_MAXKEYS 1024

struct skey {
	unsigned char b[KEYBUF];
	size_t len;
};

struct svals {
	struct lfmap *map;
	int nwriters;
	size_t owned_per, nkeys;
	struct skey keys[SV_MAXKEYS];
	_Atomic uint64_t maxseq[64];
	/* owner state per owned key: last seq and length written, 0 = absent */
	uint64_t *last_seq;
	size_t *last_len;
	uint32_t *last_writer;
	size_t ops;
	uint64_t deadline;
	atomic_int writers_left;
	_Atomic uint64_t reads, writes;
};

static void sv_check(struct svals *s, const void *v, size_t vlen, size_t kidx, uint64_t *seq_out,
		     const char *what)
{
	struct vhdr h;
	const struct skey *k = &s->keys[kidx];
	const char *p = vproblem(v, vlen, k->b, k->len, (uint32_t)kidx, &h);
	if (p) {
		MT_FAIL("%s: key %zu: %s", what, kidx, p);
		return;
	}
	if (h.writer >= (uint32_t)s->nwriters || h.seq == 0 ||
	    h.seq > atomic_load_explicit(&s->maxseq[h.writer], memory_order_acquire))
		MT_FAIL("%s: key %zu: value of writer %u seq %" PRIu64 " was never written", what,
			kidx, h.writer, h.seq);
	if (seq_out)
		*seq_out = h.seq;
}

struct sv_cfn {
	struct svals *s;
	size_t kidx;
	int verdict_if_present;
	const unsigned char *newv;
	size_t newlen;
	bool cur_seen;
	int calls;
};

static int sv_compute_fn(const void *cur, size_t curlen, const void **newval, size_t *newlen,
			 void *arg)
{
	struct sv_cfn *a = arg;
	a->calls++;
	a->cur_seen = cur != NULL;
	if (cur) {
		sv_check(a->s, cur, curlen, a->kidx, NULL, "compute cur");
		if (a->verdict_if_present != LFMAP_COMPUTE_SET)
			return a->verdict_if_present;
	}
	*newval = a->newv;
	*newlen = a->newlen;
	return LFMAP_COMPUTE_SET;
}

static void sv_owned_op(struct mt_thread *t, struct svals *s, size_t kidx, uint64_t *seq,
			unsigned char *val)
{
	const struct skey *k = &s->keys[kidx];
	const void *kp = k->len ? k->b : NULL;
	size_t vl = vlen_pick(&t->rng);
	uint64_t sq = ++*seq;
	atomic_store_explicit(&s->maxseq[t->id], sq, memory_order_release);
	vbuild(val, vl, k->b, k->len, (uint32_t)kidx, (uint32_t)t->id, sq);
	bool present = s->last_seq[kidx] != 0;
	bool wrote = false;
	int rc;
	switch (mt_rng_below(&t->rng, 6)) {
	case 0:
		rc = lfmap_str_set(s->map, kp, k->len, val, vl);
		MT_CHECK_RC(rc, present ? 1 : 0, "set of an owned key");
		wrote = true;
		break;
	case 1:
		rc = lfmap_str_add(s->map, kp, k->len, val, vl);
		MT_CHECK_RC(rc, present ? -EEXIST : 0, "add of an owned key");
		wrote = !present;
		break;
	case 2:
		rc = lfmap_str_replace(s->map, kp, k->len, val, vl);
		MT_CHECK_RC(rc, present ? 0 : -ENOENT, "replace of an owned key");
		wrote = present;
		break;
	case 3:
		rc = lfmap_str_del(s->map, kp, k->len);
		MT_CHECK_RC(rc, present ? 0 : -ENOENT, "del of an owned key");
		if (present)
			s->last_seq[kidx] = 0;
		break;
	default: {
		static const int verdicts[3] = { LFMAP_COMPUTE_SET, LFMAP_COMPUTE_REMOVE,
						 LFMAP_COMPUTE_KEEP };
		struct sv_cfn a = { s, kidx, verdicts[mt_rng_below(&t->rng, 3)], val, vl, false, 0 };
		rc = lfmap_str_compute(s->map, kp, k->len, sv_compute_fn, &a);
		int want = present ? a.verdict_if_present : LFMAP_COMPUTE_SET;
		MT_CHECK_RC(rc, want, "compute of an owned key");
		if (a.cur_seen != present)
			MT_FAIL("compute of owned key %zu: fn saw it %s, owner knows it %s", kidx,
				a.cur_seen ? "present" : "absent", present ? "present" : "absent");
		if (rc == LFMAP_COMPUTE_SET)
			wrote = true;
		else if (rc == LFMAP_COMPUTE_REMOVE)
			s->last_seq[kidx] = 0;
		break;
	}
	}
	if (wrote) {
		s->last_seq[kidx] = sq;
		s->last_len[kidx] = vl;
		s->last_writer[kidx] = (uint32_t)t->id;
	}
	/* read your own write, byte for byte */
	unsigned char buf[VMAX];
	size_t got = 0;
	rc = lfmap_str_get(s->map, kp, k->len, buf, sizeof buf, &got);
	if (s->last_seq[kidx] == 0) {
		MT_CHECK_RC(rc, -ENOENT, "get of a deleted owned key");
	} else {
		unsigned char want[VMAX];
		vbuild(want, s->last_len[kidx], k->b, k->len, (uint32_t)kidx, s->last_writer[kidx],
		       s->last_seq[kidx]);
		if (rc != 0 || got != s->last_len[kidx] || memcmp(buf, want, got) != 0)
			MT_FAIL("owner reads key %zu: rc %d, %zu bytes, not the %zu bytes of seq "
				"%" PRIu64 " it wrote",
				kidx, rc, got, s->last_len[kidx], s->last_seq[kidx]);
	}
}

static void sv_shared_op(struct mt_thread *t, struct svals *s, size_t kidx, uint64_t *seq,
			 unsigned char *val)
{
	const struct skey *k = &s->keys[kidx];
	const void *kp = k->len ? k->b : NULL;
	size_t vl = vlen_pick(&t->rng);
	uint64_t sq = ++*seq;
	atomic_store_explicit(&s->maxseq[t->id], sq, memory_order_release);
	vbuild(val, vl, k->b, k->len, (uint32_t)kidx, (uint32_t)t->id, sq);
	int rc;
	switch (mt_rng_below(&t->rng, 5)) {
	case 0:
		rc = lfmap_str_set(s->map, kp, k->len, val, vl);
		if (rc != 0 && rc != 1)
			MT_FAIL("shared set returned %d", rc);
		break;
	case 1:
		rc = lfmap_str_add(s->map, kp, k->len, val, vl);
		if (rc != 0 && rc != -EEXIST)
			MT_FAIL("shared add returned %d", rc);
		break;
	case 2:
		rc = lfmap_str_replace(s->map, kp, k->len, val, vl);
		if (rc != 0 && rc != -ENOENT)
			MT_FAIL("shared replace returned %d", rc);
		break;
	case 3:
		rc = lfmap_str_del(s->map, kp, k->len);
		if (rc != 0 && rc != -ENOENT)
			MT_FAIL("shared del returned %d", rc);
		break;
	default: {
		static const int verdicts[3] = { LFMAP_COMPUTE_SET, LFMAP_COMPUTE_REMOVE,
						 LFMAP_COMPUTE_KEEP };
		struct sv_cfn a = { s, kidx, verdicts[mt_rng_below(&t->rng, 3)], val, vl, false, 0 };
		rc = lfmap_str_compute(s->map, kp, k->len, sv_compute_fn, &a);
		if (rc < 0)
			MT_FAIL("shared compute returned %d", rc);
		break;
	}
	}
}

static void sv_reader(struct mt_thread *t, struct svals *s)
{
	uint64_t *seen = calloc(s->nkeys, sizeof(uint64_t));
	size_t nowned = s->owned_per * (size_t)s->nwriters;
	unsigned char buf[VMAX];
	uint64_t n = 0;
	while (atomic_load_explicit(&s->writers_left, memory_order_relaxed) > 0 && !mt_failed()) {
		size_t kidx = (size_t)mt_rng_below(&t->rng, s->nkeys);
		const struct skey *k = &s->keys[kidx];
		const void *kp = k->len ? k->b : NULL;
		uint64_t sq = 0;
		size_t vlen = 0;
		int rc;
		n++;
		switch (mt_rng_below(&t->rng, 8)) {
		case 0: { /* small buffer: -ENOSPC with the full length */
			rc = lfmap_str_get(s->map, kp, k->len, buf, 16, &vlen);
			if (rc == -ENOENT)
				continue;
			struct vhdr h;
			memcpy(&h, buf, 16);
			if (rc != -ENOSPC || vlen < VMIN || h.magic != VMAGIC || h.len != vlen ||
			    h.kidx != kidx)
				MT_FAIL("get into 16 bytes: rc %d vlen %zu magic %#x len %u kidx %u",
					rc, vlen, h.magic, h.len, h.kidx);
			continue;
		}
		case 1:
		case 2: { /* zero copy, checked twice inside one read-side section */
			const void *v = NULL;
			mt_read_lock(s->map);
			rc = lfmap_str_get_rcu(s->map, kp, k->len, &v, &vlen);
			if (rc == 0) {
				sv_check(s, v, vlen, kidx, &sq, "get_rcu");
				for (int y = 0; y < 3; y++)
					sched_yield(); /* let writers replace and retire it */
				sv_check(s, v, vlen, kidx, NULL, "get_rcu after yield");
			} else if (rc != -ENOENT) {
				MT_FAIL("get_rcu returned %d", rc);
			}
			mt_read_unlock(s->map);
			break;
		}
		default:
			rc = lfmap_str_get(s->map, kp, k->len, buf, sizeof buf, &vlen);
			if (rc == 0)
				sv_check(s, buf, vlen, kidx, &sq, "get");
			else if (rc != -ENOENT)
				MT_FAIL("get returned %d", rc);
			break;
		}
		if (rc == 0 && kidx < nowned) {
			if (sq < seen[kidx])
				MT_FAIL("reader %d: single-writer key %zu went back from seq %" PRIu64
					" to %" PRIu64 " (stale read)",
					t->id, kidx, seen[kidx], sq);
			seen[kidx] = sq;
		}
	}
	atomic_fetch_add(&s->reads, n);
	free(seen);
}

static void svals_thread(struct mt_thread *t)
{
	struct svals *s = t->arg;
	if (t->id >= s->nwriters) {
		sv_reader(t, s);
		return;
	}
	unsigned char *val = malloc(VMAX);
	uint64_t seq = 0;
	size_t nowned = s->owned_per * (size_t)s->nwriters, i;
	for (i = 0; i < s->ops && !mt_failed(); i++) {
		if ((i & 63) == 0 && mt_expired(s->deadline))
			break;
		if (mt_rng_below(&t->rng, 2) == 0)
			sv_owned_op(t, s,
				    (size_t)t->id * s->owned_per +
					    (size_t)mt_rng_below(&t->rng, s->owned_per),
				    &seq, val);
		else
			sv_shared_op(t, s,
				     nowned + (size_t)mt_rng_below(&t->rng, s->nkeys - nowned),
				     &seq, val);
	}
	atomic_fetch_add(&s->writes, i);
	atomic_fetch_sub(&s->writers_left, 1);
	free(val);
}

static void test_values(const void *arg)
{
	const struct mt_mode *mode = arg;
	struct lfmap_config cfg;
	struct lfmap *m = make_map(&cfg, mode);
	if (!m)
		return;
	int T = mt_threads(16);
	static struct svals s;
	memset(&s, 0, sizeof s);
	s.map = m;
	s.nwriters = T * 3 / 4;
	s.owned_per = 16;
	s.nkeys = s.owned_per * (size_t)s.nwriters + 64;
	/* the three special keys (empty, binary, long) are shared keys */
	size_t nowned = s.owned_per * (size_t)s.nwriters;
	for (size_t i = 0; i < s.nkeys; i++)
		s.keys[i].len = i >= nowned && i - nowned < 3 ? make_key(s.keys[i].b, 'e', i - nowned)
							       : make_key(s.keys[i].b, 'v', i);
	s.last_seq = calloc(s.nkeys, sizeof(uint64_t));
	s.last_len = calloc(s.nkeys, sizeof(size_t));
	s.last_writer = calloc(s.nkeys, sizeof(uint32_t));
	s.ops = mt_iters(200000);
	atomic_init(&s.writers_left, s.nwriters);
	s.deadline = mt_deadline_ms(1500);
	mt_run_resized(m, mode, T, svals_thread, &s);
	mt_note("%" PRIu64 " writes, %" PRIu64 " reads", (uint64_t)atomic_load(&s.writes),
		(uint64_t)atomic_load(&s.reads));
	mt_quiesce(m);
	size_t present = 0;
	unsigned char buf[VMAX], want[VMAX];
	for (size_t k = 0; k < s.nkeys && !mt_failed(); k++) {
		const void *kp = s.keys[k].len ? s.keys[k].b : NULL;
		size_t got = 0;
		int rc = lfmap_str_get(m, kp, s.keys[k].len, buf, sizeof buf, &got);
		if (k < nowned) {
			if (s.last_seq[k] == 0) {
				MT_CHECK_RC(rc, -ENOENT, "final get of a deleted owned key");
			} else {
				vbuild(want, s.last_len[k], s.keys[k].b, s.keys[k].len, (uint32_t)k,
				       s.last_writer[k], s.last_seq[k]);
				if (rc != 0 || got != s.last_len[k] || memcmp(buf, want, got) != 0)
					MT_FAIL("owned key %zu at the end is not its last write", k);
			}
		} else if (rc == 0) {
			sv_check(&s, buf, got, k, NULL, "final get");
		}
		present += rc == 0;
	}
	mt_check_stats(m, &cfg, present, 0);
	MT_CHECK_RC(lfmap_destroy(m), 0, "lfmap_destroy");
	free(s.last_seq);
	free(s.last_len);
	free(s.last_writer);
}

int main(int argc, char **argv)
{
	mt_register_modes("str/disjoint_insert", test_disjoint_insert);
	mt_register_modes("str/insert_race", test_insert_race);
	mt_register_modes("str/remove_race", test_remove_race);
	mt_register_modes("str/iterate", test_iterate);
	mt_register_modes("str/counters", test_counters);
	mt_register_modes("str/values", test_values);
	return mt_main(argc, argv);
}
