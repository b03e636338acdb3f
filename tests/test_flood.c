/*
 * test_flood.c - hash-flood detection and reseeding (issue 6, item 3;
 * include/lfmap/common.h LFMAP_FLOOD_CHAIN_BUCKETS, lib/migrate.c
 * lfm_long_chain).
 *
 * The attack: keys chosen so that, under the map's (fixed, known) seed, all
 * fall into bucket 0 of every table up to 16384 buckets. Against a map with
 * LFMAP_F_NO_RESEED they form one chain of thousands of buckets; against
 * the default map the first long chain triggers a same-size migration with a
 * fresh seed, after which chains are short again. The tests assert the
 * deterministic part (chain lengths, counters, contents); the time per
 * operation of both maps is printed (and recorded in docs/RELIABILITY.md).
 */
#include <time.h>

#include "../lib/internal.h"
#include "testutil.h"

TestSuite(flood, .init = tu_rcu_init, .fini = tu_rcu_fini);

#define NATTACK 5000
#define SEED UINT64_C(0x5eed5eed12345678)
#define TOPBITS 14 /* colliding in bucket 0 of every table up to 2^14 buckets */

/* Keys whose bucket hash under SEED has TOPBITS zero top bits (what an
 * attacker who knows the seed, or an unkeyed hash, can do offline): buckets
 * take the top bits of the bucket hash (lfm_bucket_index, lfm_word_ihash). */
static uint64_t *attack_keys(void)
{
	uint64_t *k = malloc(NATTACK * sizeof *k);
	cr_assert(k != NULL);
	size_t n = 0;
	const uint64_t mult = lfm_word_mult(SEED);
	for (uint64_t x = 1; n < NATTACK; x++)
		if ((lfm_word_ihash(x, SEED, mult) >> (64 - TOPBITS)) == 0)
			k[n++] = x;
	return k;
}

static struct lfmap *attacked_map(unsigned extra_flags)
{
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.size_hint = NATTACK; /* room for all of them: growth is not the answer */
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | extra_flags;
	cfg.seed = SEED;
	struct lfmap *m = lfmap_word_create(&cfg);
	cr_assert(m != NULL, "create: %s", strerror(errno));
	return m;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Insert the attack keys (driving migrations as a daemon would), then look
 * each up; returns ns per lookup. */
static double run_attack(struct lfmap *m, const uint64_t *keys, double *ins_ns)
{
	double t0 = now_s();
	for (size_t i = 0; i < NATTACK; i++) {
		cr_assert_eq(lfmap_word_insert(m, keys[i], i + 1, NULL), 0, "insert %zu", i);
		if (i % 256 == 0)
			(void)lfmap_migrate_step(m, 64);
	}
	tu_finish_migration(m);
	double t1 = now_s();
	for (int rep = 0; rep < 4; rep++)
		for (size_t i = 0; i < NATTACK; i++) {
			uint64_t v = 0;
			cr_assert_eq(lfmap_word_get(m, keys[i], &v), 0, "get %zu", i);
			cr_assert_eq(v, i + 1);
		}
	double t2 = now_s();
	*ins_ns = (t1 - t0) * 1e9 / NATTACK;
	return (t2 - t1) * 1e9 / (4.0 * NATTACK);
}

Test(flood, reseed_breaks_up_a_flooded_chain)
{
	uint64_t *keys = attack_keys();

	struct lfmap *fixed = attacked_map(LFMAP_F_NO_RESEED);
	double fins, fget = run_attack(fixed, keys, &fins);
	struct lfmap_stats fs = tu_stats(fixed);
	cr_assert_eq(fs.seed_changes, 0, "LFMAP_F_NO_RESEED map reseeded");
	cr_assert_geq(fs.long_chains, 1, "the flood was not counted");
	cr_assert_geq(fs.longest_chain, NATTACK / LFM_SLOTS,
		      "the attack keys did not collide (longest chain %" PRIu64 ")",
		      fs.longest_chain);

	struct lfmap *def = attacked_map(0);
	double dins, dget = run_attack(def, keys, &dins);
	struct lfmap_stats ds = tu_stats(def);
	cr_assert_geq(ds.seed_changes, 1, "no reseeding migration");
	cr_assert_geq(ds.long_chains, 1);
	cr_assert_leq(ds.longest_chain, 5, "chains still long after reseeding: %" PRIu64,
		      ds.longest_chain);
	cr_assert_eq(ds.entries, NATTACK);
	cr_assert_eq(ds.grows, 0, "the reseed map grew instead (load is below the threshold)");

	fprintf(stderr,
		"flood: %d colliding keys; NO_RESEED map: longest chain %" PRIu64
		" buckets, %.0f ns/insert, %.0f ns/lookup; default map: %" PRIu64
		" reseed(s), longest chain %" PRIu64 ", %.0f ns/insert, %.0f ns/lookup\n",
		NATTACK, fs.longest_chain, fins, fget, ds.seed_changes, ds.longest_chain, dins, dget);
	/* A generous bound, robust on a loaded machine: the flooded chain is
	 * thousands of buckets long, the reseeded map's chains a few. */
	cr_expect_lt(dget * 5, fget, "reseeded lookups (%.0f ns) not much faster than flooded "
		     "ones (%.0f ns)", dget, fget);

	tu_quiesce();
	cr_assert_eq(lfmap_destroy(fixed), 0);
	cr_assert_eq(lfmap_destroy(def), 0);
	free(keys);
}

Test(flood, reseed_keeps_every_entry_under_concurrent_updates)
{
	/* Updates and removes interleaved with the reseeding migration: the
	 * map must end equal to a reference. */
	uint64_t *keys = attack_keys();
	uint64_t *ref = calloc(NATTACK, sizeof *ref);
	struct lfmap *m = attacked_map(0);
	struct tu_rng r = { 42 };
	for (int round = 0; round < 6; round++) {
		for (size_t i = 0; i < NATTACK; i++) {
			size_t j = (size_t)tu_below(&r, NATTACK);
			uint64_t v = tu_below(&r, 1000) + 1;
			switch (tu_below(&r, 3)) {
			case 0:
				cr_assert_eq(lfmap_word_put(m, keys[j], v, NULL), ref[j] ? 1 : 0);
				ref[j] = v;
				break;
			case 1:
				cr_assert_eq(lfmap_word_remove(m, keys[j], NULL), ref[j] ? 0 : -ENOENT);
				ref[j] = 0;
				break;
			default:
				cr_assert_eq(lfmap_word_insert(m, keys[j], v, NULL),
					     ref[j] ? -EEXIST : 0);
				if (!ref[j])
					ref[j] = v;
			}
			if (i % 97 == 0)
				(void)lfmap_migrate_step(m, 1);
		}
	}
	tu_finish_migration(m);
	size_t live = 0;
	for (size_t i = 0; i < NATTACK; i++) {
		uint64_t v = 0;
		int rc = lfmap_word_get(m, keys[i], &v);
		if (ref[i]) {
			live++;
			cr_assert_eq(rc, 0, "key %zu lost", i);
			cr_assert_eq(v, ref[i], "key %zu", i);
		} else {
			cr_assert_eq(rc, -ENOENT, "key %zu resurrected", i);
		}
	}
	size_t exact = 0;
	cr_assert_eq(lfmap_count_exact(m, &exact), 0);
	cr_assert_eq(exact, live);
	cr_assert_geq(tu_stats(m).seed_changes, 1);
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(m), 0);
	free(ref);
	free(keys);
}

Test(flood, node_map_with_constant_hash_counts_but_does_not_reseed)
{
	struct tu_node_cb cb;
	struct lfmap_config cfg = tu_node_config(&cb, TU_HASH_CONST);
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert(m != NULL);
	enum { N = 200 };
	struct tu_node *nodes[N];
	for (int i = 0; i < N; i++) {
		nodes[i] = tu_node_new((uint64_t)i + 1, (uint64_t)i);
		lfmap_read_lock(m);
		int rc = lfmap_insert_rcu(m, &nodes[i]->node, NULL);
		lfmap_read_unlock(m);
		cr_assert_eq(rc, 0);
	}
	struct lfmap_stats st = tu_stats(m);
	cr_assert_geq(st.long_chains, 1);
	cr_assert_eq(st.seed_changes, 0);
	for (int i = 0; i < N; i++) {
		uint64_t k = (uint64_t)i + 1;
		lfmap_read_lock(m);
		struct lfmap_node *n = lfmap_lookup_rcu(m, &k);
		cr_assert(n == &nodes[i]->node, "key %d", i + 1);
		lfmap_read_unlock(m);
	}
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(m), 0); /* frees the nodes through node_free */
	cr_assert_eq(cb.node_free_calls, N);
	for (int i = 0; i < N; i++)
		tu_node_delete(nodes[i]);
}

/*
 * The word map's bucket index is the top bits of a short multiplicative
 * hash (lfm_word_ihash, lib/internal.h). Such hashes fail on structure in
 * the keys, not on an attacker who lacks the seed: keys that differ only in
 * high bits, strides of a power of two, dense ranges, repeated halves (a
 * plain multiply-shift, tried first, failed every family below for some
 * seeds). For each family, under several seeds, 65,536 keys in a fixed
 * table of 32,768 buckets (2 per bucket, 3 slots each) must spread like
 * random keys do: a random hash overflows about 14.7% of the buckets
 * (Poisson(2) above 3) and almost never makes a chain of 4 buckets (> 9
 * keys). Families: dense 1..N, even keys, stride 2^20, keys only in bits
 * 40-55, keys only in bits 48-63, pointer-like (64-byte objects in one
 * arena), equal halves k * (2^32 + 1), a key in two places k << 48 | k << 16,
 * and random keys as the control.
 */
static uint64_t family_key(int fam, uint64_t k, uint64_t *rng)
{
	switch (fam) {
	case 0: return k + 1;
	case 1: return 2 * (k + 1);
	case 2: return (k + 1) << 20;
	case 3: return (k + 1) << 40;
	case 4: return (k + 1) << 48 | (k == 65535 ? 1 : 0); /* (65536 << 48) wraps */
	case 5: return UINT64_C(0x7f3a00000000) + 64 * k;
	case 6: return (k + 1) * UINT64_C(0x100000001);
	case 7: return (k + 1) << 48 | (k + 1) << 16;
	default:
		*rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
		return *rng;
	}
}

Test(flood, structured_word_keys_spread_like_random_ones)
{
	static const char *const names[] = {"dense",	    "even",	   "stride 2^20",
					    "bits 40-55",   "bits 48-63",  "pointer-like",
					    "equal halves", "two places", "random"};
	static const uint64_t seeds[] = {SEED,
					 0,
					 1,
					 UINT64_C(0x8000000000000001),
					 UINT64_C(0xdeadbeefcafef00d),
					 UINT64_C(0x0123456789abcdef),
					 UINT64_C(0x9e3779b97f4a7c15),
					 UINT64_C(0x2545f4914f6cdd1d)};
	enum { N = 65536 };
	for (int fam = 0; fam < 9; fam++) {
		for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
			struct lfmap_config cfg;
			lfmap_config_init(&cfg);
			cfg.size_hint = N;
			cfg.seed = seeds[si];
			cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_RESEED |
				    LFMAP_F_NO_AUTO_GROW | LFMAP_F_NO_AUTO_SHRINK;
			struct lfmap *m = lfmap_word_create(&cfg);
			cr_assert(m != NULL);
			uint64_t rng = (0x9e3779b97f4a7c15u ^ seeds[si]) | 1; /* never 0 */
			for (uint64_t k = 0; k < N; k++)
				cr_assert_eq(lfmap_word_insert(m, family_key(fam, k, &rng), k, NULL), 0,
					     "%s: insert %" PRIu64, names[fam], k);
			struct lfmap_stats st = tu_stats(m);
			cr_assert_eq(st.entries, N, "%s", names[fam]);
			cr_assert_eq(st.buckets, 32768, "%s: the table was meant to stay fixed",
				     names[fam]);
			/* random keys: about 4,700 (14%); 25% is far outside */
			cr_assert_leq(st.overflow_buckets, st.buckets / 4,
				      "%s, seed %zu: %" PRIu64 " of %" PRIu64 " buckets overflow",
				      names[fam], si, st.overflow_buckets, st.buckets);
			cr_assert_leq(st.longest_chain, 4, "%s, seed %zu: a chain of %" PRIu64
				      " buckets", names[fam], si, st.longest_chain);
			cr_assert_eq(st.long_chains, 0, "%s", names[fam]);
			cr_assert_eq(lfmap_destroy(m), 0);
		}
	}
}
