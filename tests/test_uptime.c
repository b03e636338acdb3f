/*
 * tests/test_uptime.c - long uptime (issue 6, item 7).
 *
 * churn_*: insert and remove distinct keys (a sliding window of W live keys:
 * key i is inserted at step i and removed at step i + W), so the map sees an
 * endless stream of new keys and tombstones. Memory must plateau: the bytes
 * the map holds through its allocator (exact, from a counting allocator) and
 * the process RSS are sampled; the second half of the run must not hold
 * more than the first half's peak (plus slack for one migration), and
 * tombstones must be compacted (stats.compactions grows, tombstones stay
 * bounded). LFMAP_CHURN_OPS=N sets the number of operations (default 1.5M
 * in make check; `make soak-churn` runs 20M; the numbers are printed).
 *
 * wrap_*: every counter of the map forced close to 2^64 (lib/internal.h is
 * included for that, as the issue allows): the per-stripe entry counts, the
 * per-stripe removal counts (the tombstone estimate subtracts a base taken
 * at table creation), the update ticks, the migration statistics, plus the
 * word values of fetch_add (mod 2^62). The map must keep working: same
 * results as a model, correct counts, automatic grow/shrink/compaction still
 * triggered.
 */
#include <unistd.h>

#include "testutil.h"

#include "atomic.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define UP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UP_ASAN 1
#endif
#endif
#ifndef UP_ASAN
#define UP_ASAN 0
#endif

TestSuite(uptime, .init = tu_rcu_init, .fini = tu_rcu_fini, .timeout = 300);

static uint64_t churn_ops(uint64_t dflt)
{
	const char *s = getenv("LFMAP_CHURN_OPS");
	uint64_t v = s ? strtoull(s, NULL, 10) : 0;
	return v ? v : dflt;
}

static uint64_t rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static int64_t live_bytes(struct tu_alloc *a)
{
	pthread_mutex_lock(&a->lock);
	int64_t v = (int64_t)(a->bytes_alloc - a->bytes_freed);
	pthread_mutex_unlock(&a->lock);
	return v;
}

enum { CH_WORD, CH_STR };

static void churn(int kind, unsigned flags)
{
	const uint64_t ops = churn_ops(kind == CH_WORD ? 1000000 : 400000);
	const uint64_t W = 20000; /* live keys */
	struct tu_alloc al;
	tu_alloc_init(&al);
	struct lfmap_config cfg = tu_config();
	cfg.allocator = tu_alloc_hooks(&al);
	cfg.flags = flags;
	struct lfmap *m = kind == CH_WORD ? lfmap_word_create(&cfg) : lfmap_str_create(&cfg);
	cr_assert_not_null(m);
	int64_t peak_first = 0, peak_second = 0;
	uint64_t rss_first = 0, rss_second = 0, max_tombs = 0, max_ovf = 0, max_buckets = 0;
	struct lfmap_stats st;
	char kb[32];
	const uint64_t steps = ops / 2; /* each step: one insert, one remove */
	for (uint64_t i = 0; i < steps; i++) {
		uint64_t k = tu_mix64(i + 1);
		int rc;
		if (kind == CH_WORD) {
			rc = lfmap_word_insert(m, k, i & LFMAP_WORD_VALUE_MAX, NULL);
		} else {
			int kl = snprintf(kb, sizeof(kb), "%" PRIx64, k);
			rc = lfmap_str_add(m, kb, (size_t)kl, kb, 8);
		}
		cr_assert_eq(rc, 0, "insert #%" PRIu64 " = %d", i, rc);
		if (i >= W) {
			uint64_t old = tu_mix64(i - W + 1), v = 0;
			if (kind == CH_WORD) {
				rc = lfmap_word_remove(m, old, &v);
				cr_assert(rc == 0 && v == ((i - W) & LFMAP_WORD_VALUE_MAX),
					  "remove #%" PRIu64 " = %d", i - W, rc);
			} else {
				int kl = snprintf(kb, sizeof(kb), "%" PRIx64, old);
				rc = lfmap_str_del(m, kb, (size_t)kl);
				cr_assert_eq(rc, 0, "del #%" PRIu64 " = %d", i - W, rc);
			}
		}
		if (i % 16384 == 16383) {
			/* String maps free removed nodes through call_rcu; liburcu
			 * applies no back-pressure, so a writer that churns
			 * faster than the call_rcu worker frees lets the backlog
			 * grow (measured, see docs/RELIABILITY.md). Wait for the
			 * worker at each sample, as a daemon's pace would, and
			 * sample what the map retains then (what is still
			 * queued between samples depends on the machine's load,
			 * which made unsettled samples flaky). */
			if (getenv("LFMAP_CHURN_NO_BARRIER") == NULL)
				tu_quiesce();
			int64_t b = live_bytes(&al);
			uint64_t r = rss_kib();
			if (i < steps / 2) {
				peak_first = b > peak_first ? b : peak_first;
				rss_first = r > rss_first ? r : rss_first;
			} else {
				peak_second = b > peak_second ? b : peak_second;
				rss_second = r > rss_second ? r : rss_second;
			}
			st = tu_stats(m);
			max_tombs = st.tombstones > max_tombs ? st.tombstones : max_tombs;
			max_ovf = st.overflow_buckets > max_ovf ? st.overflow_buckets : max_ovf;
			max_buckets = st.buckets > max_buckets ? st.buckets : max_buckets;
		}
	}
	cr_assert_eq(lfmap_migrate_step(m, 0), 0);
	tu_quiesce();
	st = tu_stats(m);
	size_t n = 0;
	cr_assert_eq(lfmap_count_exact(m, &n), 0);
	cr_assert_eq(n, W);
	cr_assert_eq(lfmap_count_approx(m), W);
	cr_log_info("churn kind %d flags %u: %" PRIu64 " ops, %" PRIu64 " live keys; map bytes "
		    "peak %" PRId64 " (1st half) / %" PRId64 " (2nd half); RSS peak %" PRIu64
		    " / %" PRIu64 " KiB; buckets max %" PRIu64 ", tombstones max %" PRIu64
		    ", overflow max %" PRIu64 "; migrations %" PRIu64 " (grows %" PRIu64
		    ", shrinks %" PRIu64 ", compactions %" PRIu64 ")",
		    kind, flags, ops, W, peak_first, peak_second, rss_first, rss_second, max_buckets,
		    max_tombs, max_ovf, st.migrations_finished, st.grows, st.shrinks,
		    st.compactions);
	fprintf(stderr,
		"summary: churn %s%s: %" PRIu64 " ops, map bytes peak %" PRId64 " -> %" PRId64
		", RSS peak %" PRIu64 " -> %" PRIu64 " KiB, %" PRIu64 " compactions, max tombstones %" PRIu64 "\n",
		kind == CH_WORD ? "word" : "str", (flags & LFMAP_F_NO_BACKGROUND) ? " (no bg)" : "",
		ops, peak_first, peak_second, rss_first, rss_second, st.compactions, max_tombs);
	/* plateau: the second half holds no more than the first half's peak
	 * plus one table of the largest size (a migration in flight) */
	int64_t slack = (int64_t)(max_buckets * 64 * 2);
	cr_assert_leq(peak_second, peak_first + slack,
		      "map memory grows under churn: %" PRId64 " -> %" PRId64 " bytes", peak_first,
		      peak_second);
	/* RSS: allow allocator noise (malloc arenas), not unbounded growth.
	 * Not under ASan: its quarantine keeps freed memory resident. */
	if (!UP_ASAN)
		cr_assert_leq(rss_second, rss_first + rss_first / 2 + 4096,
			      "RSS grows under churn: %" PRIu64 " -> %" PRIu64 " KiB", rss_first,
			      rss_second);
	/* tombstones are compacted: they never exceed a few per live key */
	cr_assert_gt(st.compactions + st.grows + st.shrinks + st.seed_changes, 2,
		     "no migration under churn");
	cr_assert_leq(max_tombs, 4 * W, "tombstones pile up: %" PRIu64, max_tombs);
	cr_assert_leq(max_buckets, 4 * W, "table keeps growing: %" PRIu64 " buckets", max_buckets);
	cr_assert_eq(lfmap_destroy(m), 0);
	tu_alloc_assert_balanced(&al, "churn");
	tu_alloc_release(&al);
}

Test(uptime, churn_word) { churn(CH_WORD, 0); }
Test(uptime, churn_word_no_background) { churn(CH_WORD, LFMAP_F_NO_BACKGROUND); }
Test(uptime, churn_str) { churn(CH_STR, 0); }

/* ------------------------------------------------------------- wraparound */

/* Force every counter of the map close to its wrap point. Only while no
 * other thread uses the map. The sums must stay what they were: the stripe
 * counts are shifted by amounts that cancel out. */
static void force_counters(struct lfmap *m, uint64_t near)
{
	uint64_t shift = UINT64_MAX - near; /* = -(near + 1) mod 2^64 */
	for (int i = 0; i < LFM_NSTRIPES; i++) {
		/* adds and removes by the same shift: the live count
		 * (adds - removes) is unchanged, each counter is next to a
		 * wrap, and so is the 32-update load-check tick */
		lfm_store_relaxed(&m->stripes[i].adds,
				  lfm_load_relaxed(&m->stripes[i].adds) + shift);
		lfm_store_relaxed(&m->stripes[i].removes,
				  lfm_load_relaxed(&m->stripes[i].removes) + shift);
	}
	/* the current table's tombstone base moves with the removal total */
	struct lfm_table *t = lfm_root_acquire(m);
	t->removes_base += shift * LFM_NSTRIPES;
	lfm_word *stats[] = { &m->migrations_started, &m->migrations_finished, &m->grows,
			      &m->shrinks, &m->compactions, &m->reseeds, &m->long_chains,
			      &m->evac_writer, &m->evac_bg };
	for (unsigned i = 0; i < TU_ARRAY_SIZE(stats); i++)
		lfm_store_relaxed(stats[i], lfm_load_relaxed(stats[i]) + shift);
}

static void wrap_run(int kind)
{
	struct lfmap_config cfg = tu_config();
	cfg.flags = LFMAP_F_NO_BACKGROUND;
	cfg.max_work = 1;
	struct lfmap *m = kind == CH_WORD ? lfmap_word_create(&cfg) : lfmap_str_create(&cfg);
	cr_assert_not_null(m);
	struct lfmap_stats st0 = tu_stats(m);
	force_counters(m, 3);
	struct lfmap_stats st1 = tu_stats(m);
	cr_assert_eq(st1.entries, 0, "forced counters changed the entry count");
	cr_assert_eq(st1.migrating, 0);
	enum { NK = 4096 };
	static bool present[NK];
	memset(present, 0, sizeof(present));
	size_t live = 0;
	struct tu_rng rng = { .s = 99 };
	char kb[24];
	/* grow to NK keys, churn, shrink down: every counter wraps */
	for (int phase = 0; phase < 3; phase++) {
		for (int i = 0; i < 30000; i++) {
			uint64_t k = phase == 0 ? (uint64_t)i % NK : tu_below(&rng, NK);
			bool ins = phase == 0 || (phase == 1 && tu_chance(&rng, 1, 2));
			int kl = snprintf(kb, sizeof(kb), "k%" PRIu64, k);
			int rc;
			if (ins)
				rc = kind == CH_WORD ? lfmap_word_put(m, k, k, NULL)
						     : lfmap_str_set(m, kb, (size_t)kl, "v", 1);
			else
				rc = kind == CH_WORD ? lfmap_word_remove(m, k, NULL)
						     : lfmap_str_del(m, kb, (size_t)kl);
			if (ins) {
				cr_assert_eq(rc, present[k] ? 1 : 0, "put(%" PRIu64 ") = %d", k, rc);
				live += !present[k];
				present[k] = true;
			} else {
				cr_assert_eq(rc, present[k] ? 0 : -ENOENT, "remove = %d", rc);
				live -= present[k];
				present[k] = false;
			}
			if (i % 1024 == 0)
				cr_assert_eq(lfmap_count_approx(m), live, "count_approx after wrap");
			if (i % 8192 == 0)
				tu_quiesce();
		}
		cr_assert_eq(lfmap_migrate_step(m, 0), 0);
		tu_quiesce();
	}
	/* fetch_add wraps mod 2^62 (word maps) */
	if (kind == CH_WORD) {
		cr_assert_eq(lfmap_word_put(m, 5, LFMAP_WORD_VALUE_MAX - 1, NULL), present[5]);
		present[5] = true;
		live += 0;
		uint64_t old = 0;
		cr_assert_eq(lfmap_word_fetch_add(m, 5, 3, &old), 0);
		cr_assert_eq(old, LFMAP_WORD_VALUE_MAX - 1);
		cr_assert_eq(lfmap_word_get(m, 5, &old), 0);
		cr_assert_eq(old, 1);
	}
	size_t n = 0;
	cr_assert_eq(lfmap_count_exact(m, &n), 0);
	size_t want = 0;
	for (int k = 0; k < NK; k++)
		want += present[k];
	cr_assert_eq(n, want);
	cr_assert_eq(lfmap_count_approx(m), want);
	/* The policy also runs after each reclamation (lfm_check_load), so the
	 * grace periods above may have started a shrink by themselves: finish
	 * migrations until none runs (a debug CI run once saw one running). */
	struct lfmap_stats st = tu_stats(m);
	for (int i = 0; i < 32 && st.migrating; i++) {
		cr_assert_geq(lfmap_migrate_step(m, 0), 0);
		tu_quiesce();
		st = tu_stats(m);
	}
	cr_assert_eq(st.entries, want);
	cr_assert_eq(st.migrating, 0);
	/* every statistic wrapped past 2^64 and kept counting */
	uint64_t mig = st.migrations_finished - st1.migrations_finished;
	cr_log_info("wrap kind %d: %" PRIu64 " migrations after forcing (grows %" PRIu64
		    " shrinks %" PRIu64 " compactions %" PRIu64 "), %zu entries",
		    kind, mig, st.grows - st1.grows, st.shrinks - st1.shrinks,
		    st.compactions - st1.compactions, want);
	cr_assert_geq(mig, 4, "too few migrations to wrap the counters");
	cr_assert_lt(st.migrations_finished, st1.migrations_finished, "did not wrap");
	cr_assert_eq(st.migrations_started - st.migrations_finished,
		     st1.migrations_started - st1.migrations_finished);
	cr_assert_geq(st.grows - st1.grows, 2, "automatic growth stopped after the wrap");
	/* a reseed (flood defence) also drops tombstones, like a compaction */
	cr_assert_geq((st.shrinks - st1.shrinks) + (st.compactions - st1.compactions) +
			      (st.seed_changes - st1.seed_changes),
		      1, "automatic shrink/compaction stopped after the wrap");
	(void)st0;
	cr_assert_eq(lfmap_destroy(m), 0);
}

Test(uptime, wrap_counters_word) { wrap_run(CH_WORD); }
Test(uptime, wrap_counters_str) { wrap_run(CH_STR); }
