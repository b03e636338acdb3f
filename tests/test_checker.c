/*
 * tests/test_checker.c - tests of the stress harness's linearizability
 * checker (stress/checker.c): hand-made histories with one kind of violation
 * each that it must flag with the right class, correct concurrent histories
 * that it must accept, and randomized histories generated from a sequential
 * reference (valid by construction) plus mutations.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../stress/checker.h"

#define A 0x1000000001ull
#define B 0x2000000001ull
#define C 0x3000000001ull
#define NEVER 0x7000000001ull
#define K 42

struct hist {
	struct hist_op ops[256];
	size_t n;
	struct chk_kv fin[16];
	size_t nfin;
	bool have_final;
	struct chk_result res;
	long v;
};

static void op(struct hist *h, unsigned tid, enum hop kind, uint64_t key, uint64_t arg,
	       uint64_t expect, int rc, uint64_t out, uint64_t inv, uint64_t res)
{
	cr_assert_lt(h->n, 256);
	h->ops[h->n++] = (struct hist_op){ .key = key, .arg = arg, .expect = expect, .out = out,
					   .inv = inv, .res = res, .rc = rc, .op = (uint16_t)kind,
					   .tid = (uint16_t)tid };
}

/* shorthands (key K) */
#define GET(h, t, rc, out, i, r) op(h, t, HOP_GET, K, 0, 0, rc, out, i, r)
#define INS(h, t, v, rc, out, i, r) op(h, t, HOP_INSERT, K, v, 0, rc, out, i, r)
#define PUT(h, t, v, rc, out, i, r) op(h, t, HOP_PUT, K, v, 0, rc, out, i, r)
#define REPL(h, t, v, rc, out, i, r) op(h, t, HOP_REPLACE, K, v, 0, rc, out, i, r)
#define REM(h, t, rc, out, i, r) op(h, t, HOP_REMOVE, K, 0, 0, rc, out, i, r)
#define CAS(h, t, e, v, rc, out, i, r) op(h, t, HOP_CAS, K, v, e, rc, out, i, r)

static void final_kv(struct hist *h, uint64_t key, uint64_t val)
{
	h->have_final = true;
	h->fin[h->nfin++] = (struct chk_kv){ key, val };
}

static long run(struct hist *h)
{
	struct chk_options opt = { .final = h->fin,
				   .nfinal = h->nfin,
				   .have_final = h->have_final,
				   .log = stderr,
				   .max_report = 5 };
	h->v = chk_check(h->ops, h->n, &opt, &h->res);
	cr_assert_geq(h->v, 0);
	cr_assert_eq(h->res.count[CHK_UNDECIDED], 0);
	return h->v;
}

static void expect_ok(struct hist *h)
{
	run(h);
	for (int i = 0; i < CHK_NCLASS; i++)
		cr_expect_eq(h->res.count[i], 0, "class %s: %llu", chk_class_name[i],
			     (unsigned long long)h->res.count[i]);
	cr_assert_eq(h->v, 0);
	cr_assert_eq(h->res.keys_bad, 0);
}

static void expect_class(struct hist *h, enum chk_class cls)
{
	run(h);
	cr_assert_gt(h->v, 0, "history accepted, expected %s", chk_class_name[cls]);
	cr_assert_gt(h->res.count[cls], 0, "expected class %s not flagged", chk_class_name[cls]);
	cr_assert_gt(h->res.keys_bad, 0);
}

/* ------------------------------------------------------------ violations */

Test(violation, lost_insert)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	GET(&h, 1, -ENOENT, 0, 20, 30);
	expect_class(&h, CHK_LOST_INSERT);
	cr_expect_eq(h.res.count[CHK_NONLINEARIZABLE], 0);
}

Test(violation, lost_insert_put_after_absent)
{
	/* a put that "inserted" although a completed insert had stored A */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	PUT(&h, 1, B, 0, 0, 20, 30);
	expect_class(&h, CHK_LOST_INSERT);
}

Test(violation, lost_insert_end_state)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	final_kv(&h, K + 1, 0x5000000001ull); /* another key only */
	expect_class(&h, CHK_LOST_INSERT);
	cr_expect_gt(h.res.count[CHK_END_STATE], 0);
}

Test(violation, lost_update)
{
	struct hist h = { 0 };
	PUT(&h, 0, A, 0, 0, 0, 10);
	REPL(&h, 1, B, 0, A, 20, 30);
	REPL(&h, 2, C, 0, A, 40, 50); /* overwrote A again: B's update lost */
	expect_class(&h, CHK_LOST_UPDATE);
}

Test(violation, lost_update_end_state)
{
	struct hist h = { 0 };
	PUT(&h, 0, A, 0, 0, 0, 10);
	PUT(&h, 1, B, 1, A, 20, 30);
	final_kv(&h, K, A); /* the older value came back */
	expect_class(&h, CHK_LOST_UPDATE);
	cr_expect_gt(h.res.count[CHK_END_STATE], 0);
}

Test(violation, resurrected_remove)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	REM(&h, 1, 0, A, 20, 30);
	GET(&h, 2, 0, A, 40, 50);
	expect_class(&h, CHK_RESURRECTED);
}

Test(violation, resurrected_remove_end_state)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	REM(&h, 1, 0, A, 20, 30);
	final_kv(&h, K, A);
	expect_class(&h, CHK_RESURRECTED);
	cr_expect_gt(h.res.count[CHK_END_STATE], 0);
}

Test(violation, stale_read)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	REPL(&h, 1, B, 0, A, 20, 30);
	GET(&h, 2, 0, A, 40, 50);
	expect_class(&h, CHK_STALE_READ);
}

Test(violation, stale_read_failed_cas)
{
	/* a failed cas reports a current value that was already overwritten */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	REPL(&h, 1, B, 0, A, 20, 30);
	CAS(&h, 2, NEVER, C, -ECANCELED, A, 40, 50);
	expect_class(&h, CHK_STALE_READ);
}

Test(violation, duplicate_in_iteration)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	op(&h, 1, HOP_ITER, K, 0, 0, 0, A, 20, 30);
	op(&h, 1, HOP_ITER, K, 0, 0, 0, A, 20, 30);
	expect_class(&h, CHK_DUPLICATE);
}

Test(violation, lost_insert_iteration_miss)
{
	/* A was current for the whole iteration [20, 30], which missed it */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	op(&h, 1, HOP_ITER_MISS, K, 0, 0, 0, 0, 20, 30);
	REPL(&h, 0, B, 0, A, 40, 50);
	expect_class(&h, CHK_LOST_INSERT);
}

Test(correct, iteration_miss_explained)
{
	/* misses are fine when the value may have changed during the
	 * iteration: overwrite or remove invoked before it ended, or the write
	 * still running when it began */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	REM(&h, 0, 0, A, 15, 25);
	op(&h, 1, HOP_ITER_MISS, K, 0, 0, 0, 0, 20, 30);
	INS(&h, 2, B, 0, 0, 35, 45);
	op(&h, 1, HOP_ITER_MISS, K, 0, 0, 0, 0, 40, 50);
	REPL(&h, 2, C, 0, B, 55, 65);
	op(&h, 1, HOP_ITER_MISS, K, 0, 0, 0, 0, 60, 70);
	op(&h, 3, HOP_ITER_MISS, K + 1, 0, 0, 0, 0, 60, 70); /* key never written */
	expect_ok(&h);
}

Test(violation, duplicate_in_final)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	final_kv(&h, K, A);
	final_kv(&h, K, A);
	expect_class(&h, CHK_DUPLICATE);
	cr_expect_gt(h.res.count[CHK_END_STATE], 0);
}

Test(violation, end_state_unknown_key)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	final_kv(&h, K, A);
	final_kv(&h, K + 7, B); /* never written */
	expect_class(&h, CHK_END_STATE);
	cr_expect_gt(h.res.count[CHK_PHANTOM], 0);
}

Test(violation, end_state_only)
{
	/* Concurrent inserts of A and B and a remove of A: the only
	 * linearization is A, remove, B, so the final value must be B. No op
	 * of the history is wrong by itself; only the final contents are. */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 100);
	INS(&h, 1, B, 0, 0, 0, 100);
	REM(&h, 2, 0, A, 0, 100);
	final_kv(&h, K, 0x5000000001ull);
	final_kv(&h, K + 1, 0);
	h.nfin = 0;
	h.have_final = true; /* final contents: empty */
	expect_class(&h, CHK_END_STATE);
}

Test(violation, phantom_value)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	GET(&h, 1, 0, NEVER, 20, 30);
	expect_class(&h, CHK_PHANTOM);
}

Test(violation, read_from_the_future)
{
	struct hist h = { 0 };
	GET(&h, 1, 0, A, 0, 10);
	INS(&h, 0, A, 0, 0, 20, 30);
	expect_class(&h, CHK_PHANTOM);
}

Test(violation, bad_response)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	CAS(&h, 1, A, B, -ECANCELED, A, 20, 30); /* "failed" although equal */
	expect_class(&h, CHK_BAD_RESPONSE);
}

Test(violation, two_inserts_no_remove)
{
	/* both inserts succeed on an absent key and nothing removes: no single
	 * op is provably wrong locally, the search finds no order */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 100);
	INS(&h, 1, B, 0, 0, 0, 100);
	expect_class(&h, CHK_NONLINEARIZABLE);
}

Test(violation, keys_are_independent)
{
	/* a violation on one key, a valid history on another */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	GET(&h, 1, -ENOENT, 0, 20, 30);
	op(&h, 0, HOP_INSERT, K + 1, B, 0, 0, 0, 40, 50);
	op(&h, 1, HOP_GET, K + 1, 0, 0, 0, B, 60, 70);
	run(&h);
	cr_assert_eq(h.res.keys, 2);
	cr_assert_eq(h.res.keys_bad, 1);
}

/* --------------------------------------------------------------- correct */

Test(correct, empty)
{
	struct hist h = { 0 };
	expect_ok(&h);
	h.have_final = true;
	expect_ok(&h);
}

Test(correct, overlapping_reads)
{
	struct hist h = { 0 };
	PUT(&h, 0, A, 0, 0, 0, 100);
	GET(&h, 1, -ENOENT, 0, 10, 20);
	GET(&h, 2, 0, A, 30, 40);
	GET(&h, 3, -ENOENT, 0, 5, 50); /* overlaps the put: either is fine */
	GET(&h, 1, 0, A, 25, 200);
	final_kv(&h, K, A);
	expect_ok(&h);
}

Test(correct, concurrent_inserts_and_remove)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 100);
	INS(&h, 1, B, 0, 0, 0, 100);
	REM(&h, 2, 0, A, 0, 100);
	GET(&h, 3, -ENOENT, 0, 0, 100);
	GET(&h, 3, 0, B, 110, 120);
	final_kv(&h, K, B);
	expect_ok(&h);
}

Test(correct, needs_backtracking)
{
	/* inserts A (thread 0) and B (thread 1) are both enabled at the start;
	 * only B first works (B is removed, A read later) */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 10);
	INS(&h, 1, B, 0, 0, 0, 10);
	REM(&h, 2, 0, B, 0, 20);
	GET(&h, 0, 0, A, 30, 40);
	final_kv(&h, K, A);
	expect_ok(&h);
}

Test(correct, failed_insert_sees_concurrent_value)
{
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 0, 100);
	INS(&h, 1, B, -EEXIST, A, 10, 20);
	REPL(&h, 2, C, 0, A, 30, 40);
	REPL(&h, 1, B, 0, C, 50, 60);
	REM(&h, 0, 0, B, 150, 160);
	REM(&h, 1, -ENOENT, 0, 170, 180);
	REPL(&h, 2, NEVER, -ENOENT, 0, 170, 180);
	final_kv(&h, K + 99, 0x5000000001ull);
	h.nfin = 0; /* empty final contents */
	expect_ok(&h);
}

Test(correct, cas_chain)
{
	struct hist h = { 0 };
	PUT(&h, 0, A, 0, 0, 0, 10);
	GET(&h, 1, 0, A, 20, 30);
	CAS(&h, 1, A, B, 0, 0, 40, 50);
	GET(&h, 2, 0, A, 20, 30);
	CAS(&h, 2, A, C, -ECANCELED, B, 35, 60); /* overlaps the cas: sees B */
	CAS(&h, 0, NEVER, C, -ECANCELED, B, 70, 80);
	PUT(&h, 0, C, 1, B, 90, 100);
	op(&h, 3, HOP_ITER, K, 0, 0, 0, B, 55, 95);
	final_kv(&h, K, C);
	expect_ok(&h);
}

Test(correct, same_timestamps)
{
	/* ties (equal timestamps) count as concurrent: the only linearization
	 * puts everything at time 10: absent read, insert, read of A */
	struct hist h = { 0 };
	INS(&h, 0, A, 0, 0, 10, 20);
	GET(&h, 1, -ENOENT, 0, 0, 10);
	GET(&h, 2, 0, A, 5, 10);
	GET(&h, 0, 0, A, 20, 25);
	expect_ok(&h);
}

/* ----------------------------------------------------------- randomized */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

#define RN 4000
#define RKEYS 4
#define RTHREADS 6

struct rhist {
	struct hist_op ops[RN];
	size_t n;
	struct chk_kv fin[RKEYS];
	size_t nfin;
	uint64_t written[RN];
	size_t nwritten;
};

/* A history of a sequential reference map, ops at linearization points
 * 10*i, each with a random interval around its point, on threads whose
 * previous op has responded (so every thread stays sequential). */
static void gen(struct rhist *h, uint64_t seed)
{
	uint64_t s = seed, cur[RKEYS] = { 0 }, seq = 0;
	uint64_t busy_until[RTHREADS] = { 0 };
	memset(h, 0, sizeof *h);
	for (uint64_t i = 1; h->n < RN; i++) {
		uint64_t lp = 100 * i;
		unsigned t = (unsigned)(rng_next(&s) % RTHREADS);
		if (busy_until[t] >= lp)
			continue;
		uint64_t span = 1 + rng_next(&s) % 400; /* up to 4 neighbours each side */
		uint64_t inv = lp > span ? lp - span : 0;
		if (inv <= busy_until[t])
			inv = busy_until[t] + 1;
		uint64_t res = lp + rng_next(&s) % 400;
		busy_until[t] = res;
		uint64_t key = rng_next(&s) % RKEYS;
		uint64_t *c = &cur[key];
		uint64_t v = ((uint64_t)(t + 1) << 40) | ++seq;
		struct hist_op o = { .key = key, .inv = inv, .res = res, .tid = (uint16_t)t };
		switch (rng_next(&s) % 7) {
		case 0:
		case 6:
			o.op = HOP_GET;
			o.rc = *c ? 0 : -ENOENT;
			o.out = *c;
			break;
		case 1:
			o.op = HOP_INSERT;
			o.arg = v;
			if (*c) {
				o.rc = -EEXIST;
				o.out = *c;
			} else {
				*c = v;
			}
			break;
		case 2:
			o.op = HOP_PUT;
			o.arg = v;
			o.rc = *c ? 1 : 0;
			o.out = *c;
			*c = v;
			break;
		case 3:
			o.op = HOP_REPLACE;
			o.arg = v;
			if (*c) {
				o.out = *c;
				*c = v;
			} else {
				o.rc = -ENOENT;
			}
			break;
		case 4:
			o.op = HOP_REMOVE;
			if (*c) {
				o.out = *c;
				*c = 0;
			} else {
				o.rc = -ENOENT;
			}
			break;
		case 5:
			o.op = HOP_CAS;
			o.arg = v;
			o.expect = rng_next(&s) % 3 ? *c : (h->nwritten ? h->written[0] : NEVER);
			if (!o.expect)
				o.expect = NEVER;
			if (!*c) {
				o.rc = -ENOENT;
			} else if (*c == o.expect) {
				*c = v;
			} else {
				o.rc = -ECANCELED;
				o.out = *c;
			}
			break;
		}
		if (o.arg && o.op != HOP_CAS && !(o.op == HOP_INSERT && o.rc) &&
		    !(o.op == HOP_REPLACE && o.rc))
			h->written[h->nwritten++] = v;
		if (o.op == HOP_CAS && o.rc == 0)
			h->written[h->nwritten++] = v;
		h->ops[h->n++] = o;
	}
	for (uint64_t k = 0; k < RKEYS; k++)
		if (cur[k])
			h->fin[h->nfin++] = (struct chk_kv){ k, cur[k] };
}

static long rcheck(struct rhist *h, struct chk_result *res, bool log)
{
	struct chk_options opt = { .final = h->fin, .nfinal = h->nfin, .have_final = true,
				   .log = log ? stderr : NULL, .max_report = 5 };
	long v = chk_check(h->ops, h->n, &opt, res);
	cr_assert_geq(v, 0);
	return v;
}

Test(random, valid_histories_accepted)
{
	static struct rhist h;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		gen(&h, seed);
		struct chk_result res;
		long v = rcheck(&h, &res, true);
		cr_assert_eq(v, 0, "seed %llu: valid history rejected", (unsigned long long)seed);
		cr_assert_eq(res.count[CHK_UNDECIDED], 0);
		cr_assert_eq(res.ops, RN + RKEYS - (RKEYS - h.nfin) + (RKEYS - h.nfin));
	}
}

Test(random, phantom_mutation_rejected)
{
	static struct rhist h;
	for (uint64_t seed = 100; seed < 140; seed++) {
		gen(&h, seed);
		uint64_t s = seed;
		/* a get that returns a value never written */
		size_t i;
		do
			i = rng_next(&s) % h.n;
		while (h.ops[i].op != HOP_GET);
		h.ops[i].rc = 0;
		h.ops[i].out = NEVER + seed;
		struct chk_result res;
		cr_assert_gt(rcheck(&h, &res, false), 0, "seed %llu", (unsigned long long)seed);
		cr_assert_gt(res.count[CHK_PHANTOM], 0);
	}
}

Test(random, final_mutation_rejected)
{
	static struct rhist h;
	for (uint64_t seed = 200; seed < 240; seed++) {
		gen(&h, seed);
		/* final contents gain a key never touched */
		h.fin[h.nfin++] = (struct chk_kv){ 1000 + seed, A };
		struct chk_result res;
		cr_assert_gt(rcheck(&h, &res, false), 0, "seed %llu", (unsigned long long)seed);
		cr_assert_gt(res.count[CHK_END_STATE], 0);
	}
}

Test(random, stale_mutation_rejected)
{
	/* a get placed after a completed overwrite that returns the old value */
	static struct rhist h;
	int tried = 0;
	for (uint64_t seed = 300; seed < 340; seed++) {
		gen(&h, seed);
		/* find a successful replace/put/cas with a previous value */
		for (size_t i = 0; i < h.n; i++) {
			struct hist_op *o = &h.ops[i];
			bool ow = (o->op == HOP_REPLACE && o->rc == 0) || (o->op == HOP_PUT && o->rc == 1);
			if (!ow)
				continue;
			/* a later get of the same thread observes the overwritten value */
			for (size_t j = i + 1; j < h.n; j++)
				if (h.ops[j].tid == o->tid && h.ops[j].op == HOP_GET &&
				    h.ops[j].key != o->key) {
					h.ops[j].key = o->key;
					h.ops[j].rc = 0;
					h.ops[j].out = o->out;
					struct chk_result res;
					cr_assert_gt(rcheck(&h, &res, false), 0, "seed %llu",
						     (unsigned long long)seed);
					cr_assert_gt(res.count[CHK_STALE_READ], 0);
					tried++;
					break;
				}
			break;
		}
	}
	cr_assert_gt(tried, 10);
}

Test(random, arbitrary_mutations_never_crash)
{
	static struct rhist h;
	int rejected = 0;
	for (uint64_t seed = 400; seed < 600; seed++) {
		gen(&h, seed);
		uint64_t s = seed * 7;
		for (int m = 0; m < 3; m++) {
			struct hist_op *o = &h.ops[rng_next(&s) % h.n];
			switch (rng_next(&s) % 5) {
			case 0: o->out = h.ops[rng_next(&s) % h.n].arg; break;
			case 1: o->rc = o->rc ? 0 : -ENOENT; break;
			case 2: o->inv += 500; o->res += 500; break;
			case 3: o->key = rng_next(&s) % RKEYS; break;
			case 4: o->op = (uint16_t)(rng_next(&s) % HOP_ITER); break;
			}
		}
		struct chk_result res;
		rejected += rcheck(&h, &res, false) > 0;
	}
	cr_assert_gt(rejected, 0);
}

/* ------------------------------------------- exhaustive cross-check */

/* Tiny arbitrary histories (one key, 3 threads, up to 7 ops, responses
 * drawn at random from the written values, absent and a never-written
 * value): the checker's verdict must equal a brute-force search over every
 * order of the ops that respects real time. */

struct bop {
	bool w;
	uint64_t obs, nw, inv, res;
};

static bool brute(const struct bop *o, int n, unsigned used, uint64_t cur, bool fin,
		  uint64_t fval)
{
	if (used == (1u << n) - 1)
		return !fin || cur == fval;
	for (int i = 0; i < n; i++) {
		if (used & (1u << i))
			continue;
		/* i may go next iff no remaining op responded before i began */
		bool ok = true;
		for (int j = 0; j < n && ok; j++)
			if (j != i && !(used & (1u << j)) && o[j].res < o[i].inv)
				ok = false;
		if (!ok || o[i].obs != cur)
			continue;
		if (brute(o, n, used | (1u << i), o[i].w ? o[i].nw : cur, fin, fval))
			return true;
	}
	return false;
}

Test(random, exhaustive_cross_check)
{
	uint64_t s = 12345;
	int accepted = 0, rejected = 0;
	for (int iter = 0; iter < 100000; iter++) {
		struct hist h = { 0 };
		struct bop b[8];
		int n = 1 + (int)(rng_next(&s) % 8);
		uint64_t pool[9] = { 0 }, np = 0, busy[3] = { 0 };
		for (int i = 0; i < n; i++) {
			unsigned t = (unsigned)(rng_next(&s) % 3);
			uint64_t inv = busy[t] + 1 + rng_next(&s) % 20;
			uint64_t res = inv + rng_next(&s) % 30;
			busy[t] = res;
			uint64_t v = ((uint64_t)(i + 1) << 40) | 1;
			pool[np++] = v;
			/* a response: absent, a value of this history (maybe a later
			 * one), or a value never written */
			uint64_t r = rng_next(&s) % 10;
			uint64_t any = r < 1 ? NEVER : ((uint64_t)(1 + rng_next(&s) % (unsigned)n) << 40) | 1;
			bool succ = rng_next(&s) % 2;
			struct bop *o = &b[i];
			*o = (struct bop){ .inv = inv, .res = res };
			switch (rng_next(&s) % 6) {
			case 0:
				op(&h, t, HOP_GET, K, 0, 0, succ ? 0 : -ENOENT, succ ? any : 0, inv, res);
				o->obs = succ ? any : 0;
				break;
			case 1:
				op(&h, t, HOP_INSERT, K, v, 0, succ ? 0 : -EEXIST, succ ? 0 : any, inv, res);
				*o = (struct bop){ succ, succ ? 0 : any, v, inv, res };
				break;
			case 2:
				op(&h, t, HOP_PUT, K, v, 0, succ ? 1 : 0, succ ? any : 0, inv, res);
				*o = (struct bop){ true, succ ? any : 0, v, inv, res };
				break;
			case 3:
				op(&h, t, HOP_REPLACE, K, v, 0, succ ? 0 : -ENOENT, succ ? any : 0, inv, res);
				*o = (struct bop){ succ, succ ? any : 0, v, inv, res };
				break;
			case 4:
				op(&h, t, HOP_REMOVE, K, 0, 0, succ ? 0 : -ENOENT, succ ? any : 0, inv, res);
				*o = (struct bop){ succ, succ ? any : 0, 0, inv, res };
				break;
			case 5: {
				uint64_t e = ((uint64_t)(1 + rng_next(&s) % (unsigned)n) << 40) | 1;
				int k = (int)(rng_next(&s) % 3);
				if (k == 0) {
					op(&h, t, HOP_CAS, K, v, e, 0, 0, inv, res);
					*o = (struct bop){ true, e, v, inv, res };
				} else if (k == 1 && any != e) {
					op(&h, t, HOP_CAS, K, v, e, -ECANCELED, any, inv, res);
					*o = (struct bop){ false, any, 0, inv, res };
				} else {
					op(&h, t, HOP_CAS, K, v, e, -ENOENT, 0, inv, res);
					*o = (struct bop){ false, 0, 0, inv, res };
				}
				break;
			}
			}
		}
		/* program order = index order within a thread (ops appended in
		 * increasing inv per thread already) */
		bool fin = rng_next(&s) % 2;
		uint64_t fval = 0;
		if (fin) {
			h.have_final = true;
			if (rng_next(&s) % 2) {
				fval = pool[rng_next(&s) % np];
				final_kv(&h, K, fval);
			}
		}
		bool want = brute(b, n, 0, 0, fin, fval);
		struct chk_options opt = { .final = h.fin, .nfinal = h.nfin,
					   .have_final = h.have_final };
		long v = chk_check(h.ops, h.n, &opt, &h.res);
		cr_assert_geq(v, 0);
		cr_assert_eq(h.res.count[CHK_UNDECIDED], 0);
		if (want != (v == 0)) {
			opt.log = stderr;
			chk_check(h.ops, h.n, &opt, &h.res);
			for (size_t i = 0; i < h.n; i++)
				fprintf(stderr, "  t%u op%u arg %#llx exp %#llx rc %d out %#llx [%llu,%llu]\n",
					h.ops[i].tid, h.ops[i].op, (unsigned long long)h.ops[i].arg,
					(unsigned long long)h.ops[i].expect, h.ops[i].rc,
					(unsigned long long)h.ops[i].out,
					(unsigned long long)h.ops[i].inv,
					(unsigned long long)h.ops[i].res);
			cr_assert_fail("iteration %d: brute force says %s, checker %ld violations",
				       iter, want ? "linearizable" : "not linearizable", v);
		}
		if (want)
			accepted++;
		else
			rejected++;
	}
	cr_log_info("exhaustive: %d linearizable, %d not", accepted, rejected);
	cr_assert_gt(accepted, 1000);
	cr_assert_gt(rejected, 1000);
}
