/*
 * stress/checker.c - per-key linearizability checker (see checker.h and
 * stress/README.md).
 *
 * Linearizability is local: the history is linearizable iff the sub-history
 * of every key is. Per key, each op is normalised to
 *   READ(obs)          get, iteration entry, final contents, and every
 *                      update that wrote nothing (-EEXIST, -ENOENT,
 *                      -ECANCELED): it observed obs (0 = absent);
 *   WRITE(obs -> nw)   a successful update: it replaced obs by nw (a remove
 *                      writes nw = 0, an insert observed obs = 0).
 * Search (Wing & Gong / Lowe's just-in-time linearization, specialised):
 * the state is (next op of every thread on this key, current value). An op
 * may be linearized next iff it is the next op of its thread and no other
 * remaining op responded before it was invoked (inv <= min res of the
 * threads' next ops). Two reductions keep the search linear in practice:
 *  - an enabled READ whose obs equals the current value is linearized at
 *    once (it changes no state and only relaxes the real-time constraints
 *    of the others, so any linearization can be reordered to start with it);
 *  - an enabled WRITE is applicable only if its obs equals the current
 *    value; because write values are unique, a non-absent current value has
 *    at most one applicable successor in a correct history. Branching only
 *    happens between several applicable writes (in practice: concurrent
 *    inserts into an absent key), and the branch states are memoised, so the
 *    search is exact (sound and complete) within its step budget; a key
 *    whose search exceeds the budget is reported as CHK_UNDECIDED, never as
 *    a violation.
 * Violations are then classified by sound local detectors (each one only
 * fires on histories that cannot be linearizable); a key that fails the
 * search but triggers no detector is CHK_NONLINEARIZABLE (or CHK_END_STATE
 * if it passes without its final-contents read).
 */
#include "checker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *const chk_class_name[CHK_NCLASS] = {
	[CHK_LOST_INSERT] = "lost_insert",
	[CHK_LOST_UPDATE] = "lost_update",
	[CHK_RESURRECTED] = "resurrected_remove",
	[CHK_STALE_READ] = "stale_read",
	[CHK_DUPLICATE] = "duplicate_key",
	[CHK_END_STATE] = "end_state",
	[CHK_PHANTOM] = "phantom_value",
	[CHK_BAD_RESPONSE] = "bad_response",
	[CHK_NONLINEARIZABLE] = "nonlinearizable",
	[CHK_UNDECIDED] = "undecided",
};

static const char *const hop_name[HOP_NKINDS] = {
	"get", "insert", "put", "replace", "remove", "cas", "iter", "final", "iter_miss",
};

#define FINAL_TIME UINT64_MAX

struct sortent {
	uint64_t key;
	uint32_t tid;
	uint32_t idx; /* into the combined array; also program order */
};

static int cmp_sortent(const void *a, const void *b)
{
	const struct sortent *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* A normalised op of one key. */
struct nop {
	uint64_t obs, nw, inv, res;
	const struct hist_op *src;
	uint32_t thr; /* dense thread index for this key */
	uint8_t is_write;
	uint8_t is_final;
};

struct vref {
	uint64_t v;
	uint32_t i; /* index into the key's nop array */
};

static int cmp_vref(const void *a, const void *b)
{
	const struct vref *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i);
}

struct stable {
	uint64_t from, to; /* a value certainly current in (from, to) */
};

static int cmp_stable(const void *a, const void *b)
{
	const struct stable *x = a, *y = b;
	return x->from < y->from ? -1 : (x->from > y->from);
}

struct ctx {
	const struct chk_options *opt;
	struct chk_result *res;
	unsigned reported, max_report;
	uint64_t max_steps;
	/* per-key scratch (grown as needed) */
	struct nop *nops;
	size_t nops_cap;
	uint32_t *start, *len, *pos; /* per thread */
	size_t thr_cap;
	struct vref *writers, *succs;
	size_t vref_cap;
	const struct hist_op **miss; /* HOP_ITER_MISS ops of the key */
	size_t nmiss, miss_cap;
	struct stable *stab;
	size_t stab_cap;
	/* search stack and memo */
	uint32_t *stack; /* frames: pos[T], cur(2 words), ncand, idx, cand[T] */
	size_t stack_cap, stack_len;
	uint32_t *memo_keys; /* entries of T + 2 words */
	size_t memo_n, memo_cap_entries;
	uint32_t *memo_tab; /* open addressing: entry index + 1, 0 = empty */
	size_t memo_tab_size;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static void report(struct ctx *c, enum chk_class cls, uint64_t key, const struct nop *o,
		   const char *why)
{
	c->res->count[cls]++;
	if (cls != CHK_UNDECIDED) {
		uint64_t t = o && !o->is_final ? o->src->res : CHK_AT_END;
		if (t < c->res->first_bad_res)
			c->res->first_bad_res = t;
	}
	if (!c->opt->log || c->reported >= c->max_report)
		return;
	c->reported++;
	FILE *f = c->opt->log;
	fprintf(f, "violation %s: key %" PRIu64, chk_class_name[cls], key);
	if (o) {
		const struct hist_op *h = o->src;
		if (o->is_final)
			fprintf(f, ": final contents %s %#" PRIx64, o->obs ? "value" : "absent",
				o->obs);
		else
			fprintf(f,
				": thread %u %s(arg %#" PRIx64 ", expect %#" PRIx64
				") rc %d out %#" PRIx64 " [%" PRIu64 ", %" PRIu64 "]",
				(unsigned)h->tid, h->op < HOP_NKINDS ? hop_name[h->op] : "?",
				h->arg, h->expect, (int)h->rc, h->out, h->inv, h->res);
	}
	fprintf(f, "%s%s\n", why ? ": " : "", why ? why : "");
}

/* Normalise h into *o. Returns 0, or -1 for a response the op cannot give. */
static int normalise(const struct hist_op *h, struct nop *o)
{
	o->src = h;
	o->inv = h->inv;
	o->res = h->res;
	o->is_write = 0;
	o->is_final = h->op == HOP_FINAL;
	o->nw = 0;
	o->obs = 0;
	switch (h->op) {
	case HOP_GET:
		if (h->rc == 0) {
			o->obs = h->out;
			return h->out ? 0 : -1;
		}
		return h->rc == -ENOENT ? 0 : -1;
	case HOP_ITER:
	case HOP_FINAL:
		o->obs = h->out;
		return h->out ? 0 : -1;
	case HOP_INSERT:
		if (h->rc == 0) {
			o->is_write = 1;
			o->nw = h->arg;
			return h->arg ? 0 : -1;
		}
		o->obs = h->out;
		return h->rc == -EEXIST && h->out ? 0 : -1;
	case HOP_PUT:
		o->is_write = 1;
		o->nw = h->arg;
		if (h->rc == 0)
			return h->arg ? 0 : -1;
		o->obs = h->out;
		return h->rc == 1 && h->out && h->arg ? 0 : -1;
	case HOP_REPLACE:
		if (h->rc == 0) {
			o->is_write = 1;
			o->nw = h->arg;
			o->obs = h->out;
			return h->out && h->arg ? 0 : -1;
		}
		return h->rc == -ENOENT ? 0 : -1;
	case HOP_REMOVE:
		if (h->rc == 0) {
			o->is_write = 1;
			o->obs = h->out;
			return h->out ? 0 : -1;
		}
		return h->rc == -ENOENT ? 0 : -1;
	case HOP_CAS:
		if (h->rc == 0) {
			o->is_write = 1;
			o->obs = h->expect;
			o->nw = h->arg;
			return h->expect && h->arg ? 0 : -1;
		}
		if (h->rc == -ECANCELED) {
			o->obs = h->out;
			return h->out && h->out != h->expect ? 0 : -1;
		}
		return h->rc == -ENOENT ? 0 : -1;
	}
	return -1;
}

/* ---- memo: set of (pos[T], cur) */

static uint64_t memo_hash(const uint32_t *pos, unsigned T, uint64_t cur)
{
	uint64_t h = cur * 0x9E3779B97F4A7C15ull;
	for (unsigned t = 0; t < T; t++)
		h = (h ^ pos[t]) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

/* Returns 1 if already present, 0 if inserted, -1 on ENOMEM. */
static int memo_insert(struct ctx *c, const uint32_t *pos, unsigned T, uint64_t cur)
{
	size_t ew = T + 2;
	if ((c->memo_n + 1) * 2 > c->memo_tab_size) {
		size_t ns = c->memo_tab_size ? c->memo_tab_size * 2 : 1024;
		uint32_t *nt = calloc(ns, sizeof *nt);
		if (!nt)
			return -1;
		for (size_t e = 0; e < c->memo_n; e++) {
			const uint32_t *k = c->memo_keys + e * ew;
			uint64_t kc = (uint64_t)k[T] | (uint64_t)k[T + 1] << 32;
			size_t s = memo_hash(k, T, kc) & (ns - 1);
			while (nt[s])
				s = (s + 1) & (ns - 1);
			nt[s] = (uint32_t)e + 1;
		}
		free(c->memo_tab);
		c->memo_tab = nt;
		c->memo_tab_size = ns;
	}
	size_t mask = c->memo_tab_size - 1;
	size_t s = memo_hash(pos, T, cur) & mask;
	while (c->memo_tab[s]) {
		const uint32_t *k = c->memo_keys + (size_t)(c->memo_tab[s] - 1) * ew;
		if (k[T] == (uint32_t)cur && k[T + 1] == (uint32_t)(cur >> 32) &&
		    !memcmp(k, pos, T * sizeof *pos))
			return 1;
		s = (s + 1) & mask;
	}
	if (grow((void **)&c->memo_keys, &c->memo_cap_entries, (c->memo_n + 1) * ew,
		 sizeof(uint32_t)))
		return -1;
	uint32_t *k = c->memo_keys + c->memo_n * ew;
	memcpy(k, pos, T * sizeof *pos);
	k[T] = (uint32_t)cur;
	k[T + 1] = (uint32_t)(cur >> 32);
	c->memo_tab[s] = (uint32_t)++c->memo_n;
	c->res->branch_states++;
	return 0;
}

static void memo_reset(struct ctx *c)
{
	if (c->memo_tab && c->memo_n)
		memset(c->memo_tab, 0, c->memo_tab_size * sizeof *c->memo_tab);
	c->memo_n = 0;
}

/*
 * Search a linearization of the key's ops (threads 0..T-1; ops of thread t
 * are nops[start[t] .. start[t]+len[t]) in program order). skip_final: ignore
 * final-contents ops. Returns 1 linearizable, 0 not, -1 budget/ENOMEM.
 */
static int search(struct ctx *c, unsigned T, bool skip_final)
{
	uint32_t *len = c->len, *pos = c->pos, *start = c->start;
	if (T == 0) /* only iteration misses */
		return 1;
	uint32_t lenx[T];
	for (unsigned t = 0; t < T; t++) {
		lenx[t] = len[t];
		if (skip_final)
			while (lenx[t] && c->nops[start[t] + lenx[t] - 1].is_final)
				lenx[t]--;
		pos[t] = 0;
	}
	uint64_t cur = 0, steps = 0;
	size_t fw = 2 * T + 4; /* frame words */
	c->stack_len = 0;
	memo_reset(c);
	uint32_t cand[T];

	for (;;) {
		/* closure over consistent enabled reads, then find candidates */
		unsigned ncand;
		bool done;
		for (;;) {
			uint64_t minres = UINT64_MAX;
			done = true;
			for (unsigned t = 0; t < T; t++)
				if (pos[t] < lenx[t]) {
					done = false;
					uint64_t r = c->nops[start[t] + pos[t]].res;
					if (r < minres)
						minres = r;
				}
			if (done)
				break;
			bool progress = false;
			ncand = 0;
			for (unsigned t = 0; t < T; t++) {
				if (pos[t] >= lenx[t])
					continue;
				const struct nop *o = &c->nops[start[t] + pos[t]];
				if (o->inv > minres || o->obs != cur)
					continue;
				if (!o->is_write) {
					pos[t]++;
					progress = true;
					steps++;
				} else {
					cand[ncand++] = t;
				}
			}
			if (!progress)
				break;
		}
		if (done) {
			c->res->search_steps += steps;
			return 1;
		}
		if (++steps > c->max_steps) {
			c->res->search_steps += steps;
			return -1;
		}
		if (ncand == 1) {
			cur = c->nops[start[cand[0]] + pos[cand[0]]].nw;
			pos[cand[0]]++;
			continue;
		}
		if (ncand > 1) {
			int m = memo_insert(c, pos, T, cur);
			if (m < 0)
				return -1;
			if (m == 0) {
				if (grow((void **)&c->stack, &c->stack_cap, (c->stack_len + 1) * fw,
					 sizeof(uint32_t)))
					return -1;
				uint32_t *f = c->stack + c->stack_len * fw;
				c->stack_len++;
				memcpy(f, pos, T * sizeof *pos);
				f[T] = (uint32_t)cur;
				f[T + 1] = (uint32_t)(cur >> 32);
				f[T + 2] = ncand;
				f[T + 3] = 0;
				memcpy(f + T + 4, cand, ncand * sizeof *cand);
				unsigned t = cand[0];
				cur = c->nops[start[t] + pos[t]].nw;
				pos[t]++;
				continue;
			}
		}
		/* dead end: backtrack */
		for (;;) {
			if (c->stack_len == 0) {
				c->res->search_steps += steps;
				return 0;
			}
			uint32_t *f = c->stack + (c->stack_len - 1) * fw;
			if (++f[T + 3] < f[T + 2]) {
				memcpy(pos, f, T * sizeof *pos);
				cur = (uint64_t)f[T] | (uint64_t)f[T + 1] << 32;
				unsigned t = f[T + 4 + f[T + 3]];
				cur = c->nops[start[t] + pos[t]].nw;
				pos[t]++;
				break;
			}
			c->stack_len--;
		}
	}
}

/* find the first vref with value v in a sorted array; NULL if none */
static const struct vref *vfind(const struct vref *a, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a[mid].v < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo].v == v ? &a[lo] : NULL;
}

/*
 * Check one key: nops[0..m) grouped by thread. Returns the number of
 * violations found for it, or -1 on ENOMEM.
 */
static long check_key(struct ctx *c, uint64_t key, size_t m, unsigned T)
{
	struct chk_result *r = c->res;
	long before = (long)chk_violations(r);
	struct nop *nops = c->nops;
	bool flag_nonfinal = false, flag_final = false;

	/* writers (by value written) and successors (by value overwritten) */
	if (grow((void **)&c->writers, &c->vref_cap, m, sizeof(struct vref)))
		return -1;
	{
		/* succs shares the capacity: allocate separately sized */
		void *p = realloc(c->succs, c->vref_cap * sizeof(struct vref));
		if (!p)
			return -1;
		c->succs = p;
	}
	size_t nw = 0, ns = 0;
	uint64_t min_res_valwrite = UINT64_MAX, min_inv_remove = UINT64_MAX;
	bool has_remove = false;
	for (size_t i = 0; i < m; i++) {
		if (!nops[i].is_write)
			continue;
		if (nops[i].nw) {
			c->writers[nw++] = (struct vref){ nops[i].nw, (uint32_t)i };
			if (nops[i].res < min_res_valwrite)
				min_res_valwrite = nops[i].res;
		} else {
			has_remove = true;
			if (nops[i].inv < min_inv_remove)
				min_inv_remove = nops[i].inv;
		}
		if (nops[i].obs)
			c->succs[ns++] = (struct vref){ nops[i].obs, (uint32_t)i };
	}
	qsort(c->writers, nw, sizeof *c->writers, cmp_vref);
	qsort(c->succs, ns, sizeof *c->succs, cmp_vref);
	for (size_t i = 1; i < nw; i++)
		if (c->writers[i].v == c->writers[i - 1].v)
			report(c, CHK_BAD_RESPONSE, key, &nops[c->writers[i].i],
			       "value written twice (write values must be unique)");
	for (size_t i = 1; i < ns; i++)
		if (c->succs[i].v == c->succs[i - 1].v) {
			report(c, CHK_LOST_UPDATE, key, &nops[c->succs[i].i],
			       "a second write overwrote the same value");
			flag_nonfinal = true;
		}

	/* duplicates within one iteration / the final contents */
	for (unsigned t = 0; t < T; t++)
		for (uint32_t j = 1; j < c->len[t]; j++) {
			const struct nop *a = &nops[c->start[t] + j - 1], *b = a + 1;
			bool iter = a->src->op == HOP_ITER && b->src->op == HOP_ITER &&
				    a->inv == b->inv && a->res == b->res;
			if (iter || (a->is_final && b->is_final)) {
				report(c, CHK_DUPLICATE, key, b, "key reported twice");
				if (b->is_final) {
					report(c, CHK_END_STATE, key, b, "duplicate in final contents");
					flag_final = true;
				} else {
					flag_nonfinal = true;
				}
			}
		}

	/* per-op detectors */
	for (size_t i = 0; i < m; i++) {
		const struct nop *o = &nops[i];
		bool hit = false;
		if (o->obs) {
			const struct vref *w = vfind(c->writers, nw, o->obs);
			if (!w) {
				report(c, CHK_PHANTOM, key, o, "value never written to this key");
				hit = true;
			} else if (nops[w->i].inv > o->res) {
				report(c, CHK_PHANTOM, key, o, "value read before its write began");
				hit = true;
			}
			/* the earliest-responding other write that overwrote obs */
			const struct nop *s = NULL;
			for (const struct vref *p = vfind(c->succs, ns, o->obs);
			     p && p < c->succs + ns && p->v == o->obs; p++)
				if (&nops[p->i] != o && (!s || nops[p->i].res < s->res))
					s = &nops[p->i];
			if (s && s->res < o->inv) {
				if (!s->nw)
					report(c, CHK_RESURRECTED, key, o,
					       "value seen after its remove completed");
				else if (o->is_write || o->is_final)
					report(c, CHK_LOST_UPDATE, key, o,
					       "value already overwritten by a completed write");
				else
					report(c, CHK_STALE_READ, key, o,
					       "value overwritten before the read began");
				hit = true;
			}
		} else if (min_res_valwrite < o->inv && !(has_remove && min_inv_remove <= o->res)) {
			report(c, CHK_LOST_INSERT, key, o,
			       "absent after a completed insert, no remove before");
			hit = true;
		}
		if (hit) {
			if (o->is_final) {
				report(c, CHK_END_STATE, key, o, NULL);
				flag_final = true;
			} else {
				flag_nonfinal = true;
			}
		}
	}

	/* iteration misses: a key whose value v was certainly current for the
	 * whole iteration (v's write responded before it began, no overwrite of
	 * v was invoked before it ended) must have been reported */
	if (c->nmiss) {
		if (grow((void **)&c->stab, &c->stab_cap, nw + 1, sizeof *c->stab))
			return -1;
		for (size_t i = 0; i < nw; i++) {
			uint64_t to = UINT64_MAX;
			uint64_t v = c->writers[i].v;
			for (const struct vref *p = vfind(c->succs, ns, v);
			     p && p < c->succs + ns && p->v == v; p++)
				if (nops[p->i].inv < to)
					to = nops[p->i].inv;
			c->stab[i] = (struct stable){ nops[c->writers[i].i].res, to };
		}
		qsort(c->stab, nw, sizeof *c->stab, cmp_stable);
		for (size_t i = 1; i < nw; i++) /* prefix max of 'to' */
			if (c->stab[i].to < c->stab[i - 1].to)
				c->stab[i].to = c->stab[i - 1].to;
		for (size_t j = 0; j < c->nmiss; j++) {
			const struct hist_op *h = c->miss[j];
			/* last stable entry with from < h->inv */
			size_t lo = 0, hi = nw;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (c->stab[mid].from < h->inv)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo && c->stab[lo - 1].to > h->res) {
				struct nop tmp = { .src = h, .inv = h->inv, .res = h->res };
				report(c, CHK_LOST_INSERT, key, &tmp,
				       "present for the whole iteration but not reported");
				flag_nonfinal = true;
			}
		}
	}

	c->max_steps = c->opt->max_steps ? c->opt->max_steps : 50000000ull + 8 * (uint64_t)m;
	int ok = search(c, T, false);
	if (ok < 0) {
		report(c, CHK_UNDECIDED, key, NULL, "search budget exhausted");
		return (long)chk_violations(r) - before;
	}
	if (!ok) {
		if (!flag_nonfinal && !flag_final) {
			int ok2 = search(c, T, true);
			if (ok2 == 1)
				report(c, CHK_END_STATE, key, NULL,
				       "final contents not reachable from the history");
			else
				report(c, CHK_NONLINEARIZABLE, key, NULL,
				       "no linearization (no finer class)");
		}
	} else if (flag_nonfinal || flag_final) {
		/* the detectors are sound: this is a checker bug */
		report(c, CHK_NONLINEARIZABLE, key, NULL,
		       "internal: detector fired on a linearizable key");
	}
	return (long)chk_violations(r) - before;
}

uint64_t chk_violations(const struct chk_result *res)
{
	uint64_t v = 0;
	for (int i = 0; i < CHK_NCLASS; i++)
		if (i != CHK_UNDECIDED)
			v += res->count[i];
	return v;
}

long chk_check(const struct hist_op *ops, size_t n, const struct chk_options *opt,
	       struct chk_result *res)
{
	static const struct chk_options defopt;
	if (!opt)
		opt = &defopt;
	memset(res, 0, sizeof *res);
	res->first_bad_res = CHK_NONE;
	struct ctx c = { .opt = opt, .res = res };
	c.max_report = opt->max_report ? opt->max_report : 20;

	size_t nf = opt->have_final ? opt->nfinal : 0;
	size_t total = n + nf;
	uint32_t final_tid = 0;
	for (size_t i = 0; i < n; i++)
		if (ops[i].tid >= final_tid)
			final_tid = ops[i].tid + 1u;
	struct hist_op *fin = malloc((nf + 1) * sizeof *fin);
	struct sortent *se = malloc((total + 1) * sizeof *se);
	/* + 1: a virtual "final absent" op per key, built on the fly */
	struct hist_op *absent_final = calloc(1, sizeof *absent_final);
	long ret = -1;
	if (!fin || !se || !absent_final)
		goto out;
#define OPAT(i) ((i) < n ? &ops[i] : &fin[(i) - n])
	for (size_t i = 0; i < nf; i++)
		fin[i] = (struct hist_op){ .key = opt->final[i].key,
					       .out = opt->final[i].val,
					       .inv = FINAL_TIME,
					       .res = FINAL_TIME,
					       .op = HOP_FINAL,
					       .tid = (uint16_t)final_tid };
	for (size_t i = 0; i < total; i++)
		se[i] = (struct sortent){ OPAT(i)->key,
					  OPAT(i)->op == HOP_FINAL ? final_tid : OPAT(i)->tid,
					  (uint32_t)i };
	qsort(se, total, sizeof *se, cmp_sortent);
	absent_final->op = HOP_FINAL;
	absent_final->inv = absent_final->res = FINAL_TIME;
	absent_final->tid = (uint16_t)final_tid;

	for (size_t g = 0; g < total;) {
		size_t e = g;
		uint64_t key = se[g].key;
		while (e < total && se[e].key == key)
			e++;
		size_t m = e - g;
		uint64_t vbefore = chk_violations(res);
		c.nmiss = 0;
		if (grow((void **)&c.nops, &c.nops_cap, m + 1, sizeof *c.nops))
			goto out;
		unsigned T = 0;
		size_t k = 0;
		bool has_final = false;
		uint32_t prev_tid = UINT32_MAX;
		if (grow((void **)&c.start, &c.thr_cap, m + 1, sizeof(uint32_t)))
			goto out;
		size_t cap2 = c.thr_cap;
		if (!(c.len = realloc(c.len, cap2 * sizeof(uint32_t))) ||
		    !(c.pos = realloc(c.pos, cap2 * sizeof(uint32_t))))
			goto out;
		for (size_t i = g; i < e; i++) {
			const struct hist_op *h = OPAT(se[i].idx);
			struct nop o;
			res->ops++;
			if (h->op == HOP_ITER_MISS) {
				if (grow((void **)&c.miss, &c.miss_cap, c.nmiss + 1, sizeof *c.miss))
					goto out;
				c.miss[c.nmiss++] = h;
				continue;
			}
			if (normalise(h, &o)) {
				struct nop tmp = o;
				report(&c, CHK_BAD_RESPONSE, key, &tmp,
				       "response impossible for this operation");
				continue;
			}
			if (se[i].tid != prev_tid) {
				prev_tid = se[i].tid;
				c.start[T] = (uint32_t)k;
				c.len[T] = 0;
				T++;
			}
			has_final |= o.is_final;
			o.thr = T - 1;
			c.nops[k++] = o;
			c.len[T - 1]++;
		}
		if (opt->have_final && !has_final) {
			struct nop o;
			absent_final->key = key;
			normalise(absent_final, &o);
			o.is_final = 1;
			o.obs = 0;
			c.start[T] = (uint32_t)k;
			c.len[T] = 1;
			o.thr = T;
			T++;
			c.nops[k++] = o;
			res->ops++;
		}
		res->keys++;
		/* absent_final is shared: copy its address per key is fine since
		 * reports print from it immediately */
		if ((k || c.nmiss) && check_key(&c, key, k, T) < 0)
			goto out;
		if (chk_violations(res) > vbefore)
			res->keys_bad++;
		g = e;
	}
	ret = (long)chk_violations(res);
out:
	free(fin);
	free(se);
	free(absent_final);
	free(c.nops);
	free(c.start);
	free(c.len);
	free(c.pos);
	free(c.writers);
	free(c.succs);
	free(c.stack);
	free(c.miss);
	free(c.stab);
	free(c.memo_keys);
	free(c.memo_tab);
	return ret;
}
