/*
 * test_reseed.c - reseeding migrations of node and string maps (issue 6,
 * item 3; lib/migrate.c copy_chain/copy_entry, lib/node.c node_long_chain,
 * lib/iter.c reseed pass) and iteration of every kind in the middle of a
 * reseed.
 *
 *  - floods: string and node maps fed keys that all fall into bucket 0 under
 *    the known fixed seed; with the defence, chains are short after the
 *    reseed and lookups fast; with LFMAP_F_NO_RESEED, one long chain.
 *  - explicit lfmap_resize(LFMAP_RESIZE_RESEED) on all three kinds keeps
 *    every entry (compared with a reference).
 *  - a node map held in the middle of a reseed (LFMAP_F_NO_BACKGROUND,
 *    max_work 1, lfmap_migrate_step): lookup, remove_node, replace, upsert,
 *    iteration (each node exactly once) and destroy.
 *  - a node hash that collapses every key onto one full hash under the new
 *    seed (distinct under the old one): keys of different source buckets
 *    share hash slots in the new table.
 */
#include <time.h>

#include "../lib/internal.h"
#include "testutil.h"

TestSuite(reseed, .init = tu_rcu_init, .fini = tu_rcu_fini);

#define SEED UINT64_C(0x5eed5eed12345678)
#define NFLOOD 3000
#define TOPBITS 11 /* bucket 0 of every table up to 2048 buckets */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The seed a LFMAP_F_FIXED_SEED map moves to at its next reseed
 * (lib/migrate.c lfm_start_migration). */
static uint64_t next_seed(uint64_t s)
{
	return lfm_mix64(s + UINT64_C(0x9E3779B97F4A7C15));
}

static bool in_bucket0(uint64_t h)
{
	/* buckets take the top bits of the bucket hash (lfm_bucket_index) */
	return (lfm_node_bhash_as(LFM_KEYS_CALLBACKS, h != 0 ? h : 1) >> (64 - TOPBITS)) == 0;
}

/* ------------------------------------------------------------ string flood */

struct skey {
	char s[24];
	size_t len;
};

static struct skey *str_attack_keys(void)
{
	struct skey *k = calloc(NFLOOD, sizeof *k);
	cr_assert(k != NULL);
	size_t n = 0;
	char buf[24];
	for (uint64_t x = 0; n < NFLOOD; x++) {
		int len = snprintf(buf, sizeof buf, "user:%" PRIu64, x);
		if (in_bucket0(lfmap_hash_bytes(buf, (size_t)len, SEED))) {
			memcpy(k[n].s, buf, (size_t)len);
			k[n].len = (size_t)len;
			n++;
		}
	}
	return k;
}

static struct lfmap *str_map(unsigned extra_flags, size_t hint)
{
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.size_hint = hint;
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | extra_flags;
	cfg.seed = SEED;
	struct lfmap *m = lfmap_str_create(&cfg);
	cr_assert(m != NULL, "create: %s", strerror(errno));
	return m;
}

static double str_attack(struct lfmap *m, const struct skey *k, double *ins_ns)
{
	double t0 = now_s();
	for (size_t i = 0; i < NFLOOD; i++) {
		cr_assert_eq(lfmap_str_add(m, k[i].s, k[i].len, &i, sizeof i), 0, "add %zu", i);
		if (i % 256 == 0)
			(void)lfmap_migrate_step(m, 64);
	}
	tu_finish_migration(m);
	double t1 = now_s(), best = 1e30;
	for (int rep = 0; rep < 5; rep++) { /* the fastest pass: less noise */
		double a = now_s();
		for (size_t i = 0; i < NFLOOD; i++) {
			size_t v = 0, vl = 0;
			cr_assert_eq(lfmap_str_get(m, k[i].s, k[i].len, &v, sizeof v, &vl), 0,
				     "get %zu", i);
			cr_assert_eq(v, i);
		}
		double b = now_s() - a;
		best = b < best ? b : best;
	}
	*ins_ns = (t1 - t0) * 1e9 / NFLOOD;
	return best * 1e9 / NFLOOD;
}

Test(reseed, string_map_flood_is_broken_up)
{
	struct skey *keys = str_attack_keys();

	struct lfmap *fixed = str_map(LFMAP_F_NO_RESEED, NFLOOD);
	double fins, fget = str_attack(fixed, keys, &fins);
	struct lfmap_stats fs = tu_stats(fixed);
	cr_assert_eq(fs.seed_changes, 0, "LFMAP_F_NO_RESEED map reseeded");
	cr_assert_geq(fs.long_chains, 1);
	cr_assert_geq(fs.longest_chain, NFLOOD / LFM_SLOTS,
		      "the attack keys did not collide (longest chain %" PRIu64 ")",
		      fs.longest_chain);

	struct lfmap *def = str_map(0, NFLOOD);
	double dins, dget = str_attack(def, keys, &dins);
	struct lfmap_stats ds = tu_stats(def);
	cr_assert_geq(ds.seed_changes, 1, "no reseeding migration in a string map");
	cr_assert_leq(ds.longest_chain, 5, "chains still long after reseeding: %" PRIu64,
		      ds.longest_chain);
	cr_assert_eq(ds.entries, NFLOOD);
	cr_assert_eq(ds.grows, 0);
	size_t exact = 0;
	cr_assert_eq(lfmap_count_exact(def, &exact), 0);
	cr_assert_eq(exact, NFLOOD);

	fprintf(stderr,
		"reseed/str: %d colliding keys; NO_RESEED map: longest chain %" PRIu64
		" buckets, %.0f ns/insert, %.0f ns/lookup; default map: %" PRIu64
		" reseed(s), longest chain %" PRIu64 ", %.0f ns/insert, %.0f ns/lookup\n",
		NFLOOD, fs.longest_chain, fins, fget, ds.seed_changes, ds.longest_chain, dins,
		dget);
	cr_expect_lt(dget * 5, fget, "reseeded lookups (%.0f ns) not much faster than flooded "
		     "ones (%.0f ns)", dget, fget);
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(fixed), 0);
	cr_assert_eq(lfmap_destroy(def), 0);
	free(keys);
}

/* -------------------------------------------------------------- node flood */

static uint64_t *node_attack_keys(void)
{
	uint64_t *k = malloc(NFLOOD * sizeof *k);
	cr_assert(k != NULL);
	size_t n = 0;
	for (uint64_t x = 1; n < NFLOOD; x++)
		if (in_bucket0(tu_hash_of(TU_HASH_GOOD, x, SEED)))
			k[n++] = x;
	return k;
}

static struct lfmap *node_map(struct tu_node_cb *cb, int mode, unsigned extra_flags,
			      size_t hint)
{
	struct lfmap_config cfg = tu_node_config(cb, mode);
	cfg.size_hint = hint;
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | extra_flags;
	cfg.seed = SEED;
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert(m != NULL, "create: %s", strerror(errno));
	return m;
}

static struct lfmap_node *nlookup(struct lfmap *m, uint64_t k)
{
	lfmap_read_lock(m);
	struct lfmap_node *n = lfmap_lookup_rcu(m, &k);
	lfmap_read_unlock(m);
	return n;
}

static double node_attack(struct lfmap *m, struct tu_node **nodes, const uint64_t *k,
			  double *ins_ns)
{
	double t0 = now_s();
	for (size_t i = 0; i < NFLOOD; i++) {
		nodes[i] = tu_node_new(k[i], i);
		lfmap_read_lock(m);
		int rc = lfmap_insert_rcu(m, &nodes[i]->node, NULL);
		lfmap_read_unlock(m);
		cr_assert_eq(rc, 0, "insert %zu", i);
		if (i % 256 == 0)
			(void)lfmap_migrate_step(m, 64);
	}
	tu_finish_migration(m);
	double t1 = now_s(), best = 1e30;
	for (int rep = 0; rep < 5; rep++) { /* the fastest pass: less noise */
		double a = now_s();
		for (size_t i = 0; i < NFLOOD; i++)
			cr_assert(nlookup(m, k[i]) == &nodes[i]->node, "lookup %zu", i);
		double b = now_s() - a;
		best = b < best ? b : best;
	}
	*ins_ns = (t1 - t0) * 1e9 / NFLOOD;
	return best * 1e9 / NFLOOD;
}

Test(reseed, node_map_flood_is_broken_up)
{
	uint64_t *keys = node_attack_keys();
	struct tu_node **fn = calloc(NFLOOD, sizeof *fn), **dn = calloc(NFLOOD, sizeof *dn);
	struct tu_node_cb fcb, dcb;

	struct lfmap *fixed = node_map(&fcb, TU_HASH_GOOD, LFMAP_F_NO_RESEED, NFLOOD);
	double fins, fget = node_attack(fixed, fn, keys, &fins);
	struct lfmap_stats fs = tu_stats(fixed);
	cr_assert_eq(fs.seed_changes, 0);
	cr_assert_geq(fs.longest_chain, NFLOOD / LFM_SLOTS);

	struct lfmap *def = node_map(&dcb, TU_HASH_GOOD, 0, NFLOOD);
	double dins, dget = node_attack(def, dn, keys, &dins);
	struct lfmap_stats ds = tu_stats(def);
	cr_assert_geq(ds.seed_changes, 1, "no reseeding migration in a node map");
	cr_assert_leq(ds.longest_chain, 5, "chains still long after reseeding: %" PRIu64,
		      ds.longest_chain);
	cr_assert_eq(ds.entries, NFLOOD);
	cr_assert_eq(ds.grows, 0);
	/* lookups hash under the new seed (the hash callback saw it) */
	(void)nlookup(def, keys[0]);
	cr_assert_neq(dcb.last_seed, SEED, "lookups still hash with the old seed");
	if (ds.seed_changes == 1)
		cr_assert_eq(dcb.last_seed, next_seed(SEED));

	fprintf(stderr,
		"reseed/node: %d colliding keys; NO_RESEED map: longest chain %" PRIu64
		" buckets, %.0f ns/insert, %.0f ns/lookup; default map: %" PRIu64
		" reseed(s), longest chain %" PRIu64 ", %.0f ns/insert, %.0f ns/lookup\n",
		NFLOOD, fs.longest_chain, fins, fget, ds.seed_changes, ds.longest_chain, dins,
		dget);
	cr_expect_lt(dget * 5, fget, "reseeded lookups (%.0f ns) not much faster than flooded "
		     "ones (%.0f ns)", dget, fget);
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(fixed), 0);
	cr_assert_eq(lfmap_destroy(def), 0);
	cr_assert_eq(fcb.node_free_calls, NFLOOD);
	cr_assert_eq(dcb.node_free_calls, NFLOOD);
	for (size_t i = 0; i < NFLOOD; i++) {
		cr_assert_eq(fn[i]->freed_by_map, 1);
		cr_assert_eq(dn[i]->freed_by_map, 1);
		tu_node_delete(fn[i]);
		tu_node_delete(dn[i]);
	}
	free(fn);
	free(dn);
	free(keys);
}

/* A seed-ignoring hash (key % 4) under a flood: at most one futile reseed is
 * tolerated, and none happens (lib/node.c reseed_futile). */
Test(reseed, seed_ignoring_hash_does_not_reseed_forever)
{
	struct tu_node_cb cb;
	struct lfmap *m = node_map(&cb, TU_HASH_MOD4, 0, 400);
	enum { N = 400 };
	struct tu_node *nodes[N];
	for (int i = 0; i < N; i++) {
		nodes[i] = tu_node_new((uint64_t)i, (uint64_t)i);
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_insert_rcu(m, &nodes[i]->node, NULL), 0);
		lfmap_read_unlock(m);
		if (i % 16 == 0) {
			(void)lfmap_migrate_step(m, 0);
			tu_quiesce(); /* lets a new migration start each time */
		}
	}
	struct lfmap_stats st = tu_stats(m);
	cr_assert_geq(st.long_chains, 1);
	cr_assert_eq(st.seed_changes, 0, "%" PRIu64 " futile reseeds", st.seed_changes);
	/* an explicit reseed still works (and keeps everything) */
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_RESEED), 0);
	tu_finish_migration(m);
	cr_assert_eq(tu_stats(m).seed_changes, 1);
	for (int i = 0; i < N; i++)
		cr_assert(nlookup(m, (uint64_t)i) == &nodes[i]->node);
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(m), 0);
	for (int i = 0; i < N; i++)
		tu_node_delete(nodes[i]);
}

/* ------------------------------------------- explicit reseed, every kind */

Test(reseed, explicit_reseed_keeps_every_entry_all_kinds)
{
	enum { N = 3000, KEYS = 4000 };
	struct tu_rng r = {7};

	/* word */
	struct lfmap_config wc;
	lfmap_config_init(&wc);
	wc.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND;
	wc.seed = SEED;
	wc.max_work = 1;
	struct lfmap *w = lfmap_word_create(&wc);
	/* string */
	struct lfmap *s = str_map(0, 0);
	/* node */
	struct tu_node_cb cb;
	struct lfmap *nm = node_map(&cb, TU_HASH_GOOD, 0, 0);
	cr_assert(w != NULL);

	uint64_t *ref = calloc(KEYS, sizeof *ref);
	struct tu_node **nodes = calloc(KEYS, sizeof *nodes);
	struct tu_node **all = calloc(N, sizeof *all);
	size_t nall = 0;
	for (int i = 0; i < N; i++) {
		uint64_t k = tu_below(&r, KEYS), v = tu_below(&r, 1000) + 1;
		char ks[24];
		int kl = snprintf(ks, sizeof ks, "k%" PRIu64, k);
		if (tu_below(&r, 4) == 0 && ref[k]) { /* removes: tombstones too */
			cr_assert_eq(lfmap_word_remove(w, k, NULL), 0);
			cr_assert_eq(lfmap_str_del(s, ks, (size_t)kl), 0);
			struct lfmap_node *old = NULL;
			lfmap_read_lock(nm);
			cr_assert_eq(lfmap_remove_rcu(nm, &k, &old), 0);
			lfmap_read_unlock(nm);
			cr_assert(old == &nodes[k]->node);
			ref[k] = 0;
			continue;
		}
		(void)lfmap_word_put(w, k, v, NULL);
		cr_assert_geq(lfmap_str_set(s, ks, (size_t)kl, &v, sizeof v), 0);
		struct tu_node *nn = tu_node_new(k, v), *prev = ref[k] ? nodes[k] : NULL;
		struct lfmap_node *old = NULL;
		lfmap_read_lock(nm);
		int rc = lfmap_upsert_rcu(nm, &nn->node, &old);
		lfmap_read_unlock(nm);
		cr_assert_eq(rc, prev ? 1 : 0);
		cr_assert(old == (prev ? &prev->node : NULL));
		nodes[k] = nn;
		all[nall++] = nn; /* freed after destroy */
		ref[k] = v;
	}
	size_t live = 0;
	for (int k = 0; k < KEYS; k++)
		live += ref[k] != 0;
	tu_finish_migration(w);
	tu_finish_migration(s);
	tu_finish_migration(nm);
	uint64_t wseed0 = tu_stats(w).seed_changes;

	struct lfmap *maps[3] = {w, s, nm};
	for (int j = 0; j < 3; j++) {
		cr_assert_eq(tu_resize_retry(maps[j], LFMAP_RESIZE_RESEED), 0, "map %d", j);
		tu_finish_migration(maps[j]);
	}
	cr_assert_eq(tu_stats(w).seed_changes, wseed0 + 1);
	cr_assert_geq(tu_stats(s).seed_changes, 1);
	cr_assert_geq(tu_stats(nm).seed_changes, 1);
	(void)nlookup(nm, 1);
	cr_assert_neq(cb.last_seed, SEED, "node map still hashes with its first seed");
	/* node->hash is not rewritten by the reseed (include/lfmap/node.h): it
	 * stays the hash under the seed the node was inserted with */
	for (uint64_t k = 0; k < KEYS; k++)
		if (ref[k])
			cr_assert_eq(nodes[k]->node.hash, tu_hash_of(TU_HASH_GOOD, k, SEED),
				     "node %" PRIu64 ": hash field changed", k);

	for (uint64_t k = 0; k < KEYS; k++) {
		char ks[24];
		int kl = snprintf(ks, sizeof ks, "k%" PRIu64, k);
		uint64_t v = 0;
		size_t vl = 0;
		if (ref[k]) {
			cr_assert_eq(lfmap_word_get(w, k, &v), 0, "word key %" PRIu64, k);
			cr_assert_eq(v, ref[k]);
			v = 0;
			cr_assert_eq(lfmap_str_get(s, ks, (size_t)kl, &v, sizeof v, &vl), 0);
			cr_assert_eq(v, ref[k]);
			cr_assert(nlookup(nm, k) == &nodes[k]->node, "node key %" PRIu64, k);
		} else {
			cr_assert_eq(lfmap_word_get(w, k, &v), -ENOENT);
			cr_assert_eq(lfmap_str_get(s, ks, (size_t)kl, NULL, 0, NULL), -ENOENT);
			cr_assert_null(nlookup(nm, k));
		}
	}
	for (int j = 0; j < 3; j++) {
		size_t c = 0;
		cr_assert_eq(lfmap_count_exact(maps[j], &c), 0);
		cr_assert_eq(c, live, "map %d: %zu entries, reference %zu", j, c, live);
	}
	tu_quiesce();
	for (int j = 0; j < 3; j++)
		cr_assert_eq(lfmap_destroy(maps[j]), 0);
	for (size_t i = 0; i < nall; i++)
		tu_node_delete(all[i]);
	free(all);
	free(ref);
	free(nodes);
}

/* ------------------------------------------ node map held mid-reseed */

enum { MIDN = 600, MIDKEYS = 800 };

struct visit {
	int *seen;
	size_t n;
};

static int visit_node(struct lfmap_node *n, void *arg)
{
	struct visit *v = arg;
	uint64_t k = tu_node_of(n)->key;
	cr_assert_lt(k, MIDKEYS);
	v->seen[k]++;
	v->n++;
	return 0;
}

/* Every key of the reference visited exactly once, no other key. */
static void check_iteration(struct lfmap *m, struct tu_node **ref, const char *when)
{
	int seen[MIDKEYS] = {0};
	struct visit v = {seen, 0};
	lfmap_read_lock(m);
	int rc = lfmap_foreach_rcu(m, visit_node, &v);
	lfmap_read_unlock(m);
	cr_assert_eq(rc, 0);
	for (int k = 0; k < MIDKEYS; k++)
		cr_assert_eq(seen[k], ref[k] ? 1 : 0, "%s: key %d visited %d times", when, k,
			     seen[k]);
}

static void check_lookups(struct lfmap *m, struct tu_node **ref, const char *when)
{
	for (int k = 0; k < MIDKEYS; k++)
		cr_assert(nlookup(m, (uint64_t)k) == (ref[k] ? &ref[k]->node : NULL),
			  "%s: key %d", when, k);
}

/* A hash that is fine under the map's first seed and collapses every key
 * onto one full hash under any other seed: after the reseed, keys of all
 * source buckets share their hash slots in U. */
static uint64_t collapse_hash(const void *key, uint64_t seed, void *arg)
{
	(void)arg;
	uint64_t k = *(const uint64_t *)key;
	return seed == SEED ? tu_hash_of(TU_HASH_GOOD, k, seed) : UINT64_C(0xabcdef);
}

static void mid_reseed(int mode)
{
	struct tu_node_cb cb;
	struct lfmap_config cfg = tu_node_config(&cb, TU_HASH_GOOD);
	if (mode == 1)
		cfg.hash = collapse_hash;
	cfg.size_hint = MIDN;
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_AUTO_GROW |
		    LFMAP_F_NO_AUTO_SHRINK | LFMAP_F_NO_RESEED;
	cfg.seed = SEED;
	cfg.max_work = 1;
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert(m != NULL);
	struct tu_node *ref[MIDKEYS] = {0};
	struct tu_node *all[4 * MIDKEYS];
	size_t nall = 0;
	struct tu_rng r = {(uint64_t)mode + 3};

	for (int i = 0; i < MIDN; i++) {
		uint64_t k = tu_below(&r, MIDKEYS);
		if (ref[k])
			continue;
		struct tu_node *n = tu_node_new(k, 0);
		all[nall++] = n;
		lfmap_read_lock(m);
		cr_assert_eq(lfmap_insert_rcu(m, &n->node, NULL), 0);
		lfmap_read_unlock(m);
		ref[k] = n;
	}
	uint64_t nb = tu_stats(m).buckets;
	cr_assert_eq(lfmap_resize(m, LFMAP_RESIZE_RESEED), 0);
	cr_assert_eq(tu_stats(m).migrating, 1);
	check_iteration(m, ref, "reseed started");

	/* Hold the map mid-reseed; between steps, update with max_work 1 (each
	 * update forwards at most one more bucket besides its own). */
	for (int round = 0; tu_stats(m).migrating; round++) {
		cr_assert_lt(round, 1000);
		for (int op = 0; op < 8; op++) {
			uint64_t k = tu_below(&r, MIDKEYS);
			struct lfmap_node *old = NULL;
			int rc;
			switch (tu_below(&r, 4)) {
			case 0: /* remove_node: the node itself, then a stale node */
				lfmap_read_lock(m);
				rc = ref[k] ? lfmap_remove_node_rcu(m, &ref[k]->node) : -ENOENT;
				lfmap_read_unlock(m);
				cr_assert_eq(rc, ref[k] ? 0 : -ENOENT, "remove_node %" PRIu64, k);
				if (ref[k]) {
					lfmap_read_lock(m);
					rc = lfmap_remove_node_rcu(m, &ref[k]->node);
					lfmap_read_unlock(m);
					cr_assert_eq(rc, -ENOENT, "second remove_node");
					ref[k] = NULL;
				}
				break;
			case 1: { /* replace */
				struct tu_node *n = tu_node_new(k, 1);
				all[nall++] = n;
				lfmap_read_lock(m);
				rc = lfmap_replace_rcu(m, &n->node, &old);
				lfmap_read_unlock(m);
				cr_assert_eq(rc, ref[k] ? 0 : -ENOENT, "replace %" PRIu64, k);
				if (rc == 0) {
					cr_assert(old == &ref[k]->node);
					ref[k] = n;
				}
				break;
			}
			case 2: { /* upsert */
				struct tu_node *n = tu_node_new(k, 2);
				all[nall++] = n;
				lfmap_read_lock(m);
				rc = lfmap_upsert_rcu(m, &n->node, &old);
				lfmap_read_unlock(m);
				cr_assert_eq(rc, ref[k] ? 1 : 0, "upsert %" PRIu64, k);
				cr_assert(old == (ref[k] ? &ref[k]->node : NULL));
				ref[k] = n;
				break;
			}
			default: /* remove by key, then re-insert the same node */
				if (!ref[k])
					break;
				lfmap_read_lock(m);
				rc = lfmap_remove_rcu(m, &k, &old);
				lfmap_read_unlock(m);
				cr_assert_eq(rc, 0);
				cr_assert(old == &ref[k]->node);
				lfmap_read_lock(m);
				rc = lfmap_insert_rcu(m, &ref[k]->node, NULL);
				lfmap_read_unlock(m);
				cr_assert_eq(rc, 0, "re-insert %" PRIu64, k);
			}
			cr_assert_lt(nall, TU_ARRAY_SIZE(all) - 2);
		}
		check_lookups(m, ref, "mid-reseed");
		check_iteration(m, ref, "mid-reseed");
		(void)lfmap_migrate_step(m, 1 + tu_below(&r, 3));
	}
	struct lfmap_stats st = tu_stats(m);
	cr_assert_eq(st.seed_changes, 1);
	cr_assert_eq(st.buckets, nb);
	check_lookups(m, ref, "after the reseed");
	check_iteration(m, ref, "after the reseed");

	/* destroy in the middle of a second reseed: node_free once per node */
	tu_quiesce();
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_RESEED), 0);
	cr_assert_eq(lfmap_migrate_step(m, nb / 2), 1);
	check_iteration(m, ref, "second reseed, half done");
	size_t live = 0;
	for (int k = 0; k < MIDKEYS; k++)
		live += ref[k] != NULL;
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(m), 0);
	cr_assert_eq(cb.node_free_calls, live);
	for (size_t i = 0; i < nall; i++) {
		cr_assert_eq(all[i]->freed_by_map, ref[all[i]->key] == all[i] ? 1 : 0,
			     "node of key %" PRIu64, all[i]->key);
		tu_node_delete(all[i]);
	}
}

Test(reseed, node_map_updates_and_iteration_mid_reseed)
{
	mid_reseed(0);
}

Test(reseed, node_map_mid_reseed_hash_collapsing_under_new_seed)
{
	mid_reseed(1);
}

/* ------------------------------- word and string iteration mid-reseed */

static int count_word(uint64_t k, uint64_t v, void *arg)
{
	int *seen = arg;
	cr_assert_lt(k, MIDKEYS);
	cr_assert_eq(v, k + 1);
	seen[k]++;
	return 0;
}

static int count_str(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	int *seen = arg;
	uint64_t key;
	(void)v;
	cr_assert_eq(kl, sizeof key);
	cr_assert_eq(vl, 0);
	memcpy(&key, k, sizeof key);
	cr_assert_lt(key, MIDKEYS);
	seen[key]++;
	return 0;
}

Test(reseed, word_and_string_iteration_mid_reseed)
{
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_RESEED;
	cfg.seed = SEED;
	cfg.max_work = 1;
	cfg.size_hint = MIDN;
	struct lfmap *w = lfmap_word_create(&cfg), *s = lfmap_str_create(&cfg);
	cr_assert(w != NULL && s != NULL);
	bool present[MIDKEYS] = {0};
	for (uint64_t k = 0; k < MIDKEYS; k += 1 + k % 3) {
		cr_assert_eq(lfmap_word_insert(w, k, k + 1, NULL), 0);
		cr_assert_eq(lfmap_str_add(s, &k, sizeof k, NULL, 0), 0);
		present[k] = true;
	}
	struct lfmap *maps[2] = {w, s};
	for (int j = 0; j < 2; j++) {
		struct lfmap *m = maps[j];
		cr_assert_eq(lfmap_resize(m, LFMAP_RESIZE_RESEED), 0);
		for (int round = 0; round < 10000; round++) {
			int seen[MIDKEYS] = {0};
			lfmap_read_lock(m);
			int rc = j == 0 ? lfmap_word_foreach_rcu(m, count_word, seen)
					: lfmap_str_foreach_rcu(m, count_str, seen);
			lfmap_read_unlock(m);
			cr_assert_eq(rc, 0);
			for (int k = 0; k < MIDKEYS; k++)
				cr_assert_eq(seen[k], present[k] ? 1 : 0,
					     "map %d round %d: key %d seen %d times", j, round, k,
					     seen[k]);
			if (lfmap_migrate_step(m, 7) == 0)
				break;
		}
		cr_assert_eq(tu_stats(m).seed_changes, 1);
		cr_assert_eq(tu_stats(m).migrating, 0);
	}
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(w), 0);
	cr_assert_eq(lfmap_destroy(s), 0);
}

/* --------------- big tables: bitmap on the heap, or windows without memory */

enum { BIGN = 20000 };

static int mark_word(uint64_t k, uint64_t v, void *arg)
{
	uint8_t *seen = arg;
	cr_assert_lt(k, BIGN);
	cr_assert_eq(v, k * 2 + 1);
	seen[k]++;
	return 0;
}

Test(reseed, big_word_iteration_mid_reseed_with_and_without_memory)
{
	struct tu_alloc al;
	tu_alloc_init(&al);
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.flags = LFMAP_F_FIXED_SEED | LFMAP_F_NO_BACKGROUND | LFMAP_F_NO_RESEED;
	cfg.seed = SEED;
	cfg.max_work = 1;
	cfg.size_hint = BIGN + BIGN / 2;
	cfg.allocator = tu_alloc_hooks(&al);
	struct lfmap *w = lfmap_word_create(&cfg);
	cr_assert(w != NULL);
	for (uint64_t k = 0; k < BIGN; k++)
		cr_assert_eq(lfmap_word_insert(w, k, k * 2 + 1, NULL), 0);
	uint64_t nb = tu_stats(w).buckets;
	cr_assert_geq(nb, 4096 * 2, "table too small to need more than one window");
	cr_assert_eq(lfmap_resize(w, LFMAP_RESIZE_RESEED), 0);
	cr_assert_eq(lfmap_migrate_step(w, nb / 3), 1);
	uint8_t *seen = calloc(BIGN, 1);
	for (int fail = 0; fail < 2; fail++) {
		memset(seen, 0, BIGN);
		if (fail)
			al.fail_all = true; /* no bitmap: windows of 4096 buckets */
		uint64_t failed0 = al.nfailed;
		lfmap_read_lock(w);
		int rc = lfmap_word_foreach_rcu(w, mark_word, seen);
		lfmap_read_unlock(w);
		al.fail_all = false;
		cr_assert_eq(rc, 0, "foreach = %d (fail %d)", rc, fail);
		if (fail)
			cr_assert_gt(al.nfailed, failed0, "the bitmap allocation was not tried");
		for (uint64_t k = 0; k < BIGN; k++)
			cr_assert_eq(seen[k], 1, "fail %d: key %" PRIu64 " seen %d times", fail, k,
				     seen[k]);
	}
	free(seen);
	tu_finish_migration(w);
	tu_quiesce();
	cr_assert_eq(lfmap_destroy(w), 0);
	tu_quiesce();
	cr_assert_eq(al.live, 0);
	cr_assert_eq(al.errors, 0, "%s", al.errmsg);
}
