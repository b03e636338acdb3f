/*
 * tests/stall/stall.c - progress under a stalled thread (issue 3, section 4)
 * and the one-hop rule (I8), driven deterministically through the
 * experiment hook (lib/internal.h: lfm_exp_hook, LFM_EXP_* points).
 *
 * Built with -DLFM_EXPERIMENT against the lib/ sources directly (the real barrier:
 * no part removed; the hook exists only in such builds), by
 * scripts/run-tests.sh suite `stall`, in a gcc -O2 and a TSan variant:
 *   cc -DLFM_EXPERIMENT -Iinclude -Ilib lib/[a-z]*.c tests/mt/harness.c \
 *      tests/stall/stall.c -lurcu-memb -lurcu-common -lpthread
 *
 * stalled_evacuator/<point>: one thread is parked inside an evacuation (at
 *   the given point: after freezing the head of a chain with overflow
 *   buckets, after freezing all of it, in the middle of the copy, after the
 *   copy but before FORWARDED), holding its read lock, for as long as the
 *   test wants. Meanwhile W workers run inserts, updates, removes and
 *   lookups on their own keys, including keys of the stalled bucket. The
 *   test requires that every worker completes 2000 operations while the
 *   thread is parked (a blocked worker would fail after 60 s), that the
 *   migration finishes without the parked thread (the root
 *   moves to the new table), and that after the parked thread is released
 *   and everything quiesces, the map holds exactly what the workers' own
 *   models say. This is the lock-free claim (DESIGN "Progress") tested.
 * reader_hop_blocks_next_migration: a reader is parked after it followed
 *   FORWARDED to the next table (it holds its read lock). The migration
 *   finishes; a further resize must keep returning -EAGAIN while the reader
 *   is parked (I8: the table it reads cannot migrate again); a writer
 *   updates the reader's key in the new table; the released reader returns
 *   the old or the new value (both linearizable: the update overlapped it);
 *   after the reader leaves and a grace period passes, the resize succeeds.
 * lagging_copier/<case>: a node-map copier parked just before its copy CAS
 *   while the migration finishes and users rewrite the slot (I6,
 *   slot_is_ours in lib/migrate.c); it must not copy the entry again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/internal.h"
#include "../mt/harness.h"

#ifndef LFM_EXPERIMENT
#error "tests/stall/stall.c needs -DLFM_EXPERIMENT (the hook)"
#endif

/* ---- the parking hook ---------------------------------------------------- */

static _Thread_local bool is_victim;
static atomic_int park_at = -1; /* point to park at, -1: none */
static atomic_int parked;       /* 1 while the victim is parked */
static atomic_int release_it;
static atomic_int park_count;

static void park_hook(int point)
{
	if (!is_victim || point != atomic_load(&park_at))
		return;
	if (atomic_fetch_add(&park_count, 1) != 0)
		return; /* park once per test */
	atomic_store(&parked, 1);
	while (!atomic_load(&release_it))
		mt_sleep_us(200);
	atomic_store(&parked, 0);
}

static void reset_hook(int point)
{
	atomic_store(&park_at, point);
	atomic_store(&parked, 0);
	atomic_store(&release_it, 0);
	atomic_store(&park_count, 0);
}

static bool wait_parked(uint64_t ms)
{
	uint64_t end = mt_now_ns() + ms * 1000000u;
	while (!atomic_load(&parked)) {
		if (mt_now_ns() > end)
			return false;
		mt_sleep_us(100);
	}
	return true;
}

static struct lfmap *new_map(unsigned flags)
{
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.size_hint = 0;
	cfg.max_work = 1;
	cfg.flags = flags | LFMAP_F_FIXED_SEED;
	cfg.seed = mt_test_seed();
	struct lfmap *m = lfmap_word_create(&cfg);
	MT_CHECK(m != NULL, "lfmap_word_create: %s", strerror(errno));
	return m;
}

static struct lfmap_stats stats(struct lfmap *m)
{
	struct lfmap_stats st;
	int rc = lfmap_stats(m, &st);
	MT_CHECK_RC(rc, 0, "lfmap_stats");
	return st;
}

static void quiesce(struct lfmap *m)
{
	/* finish anything running, let retire callbacks run */
	for (int i = 0; i < 100; i++) {
		(void)lfmap_migrate_step(m, 0);
		lfmap_synchronize_rcu(m);
		mt_rcu_barrier();
		if (stats(m).migrating == 0)
			break;
	}
}

/* ---- stalled evacuator ---------------------------------------------------- */

#define NKEYS 900 /* half prefilled into a 1-bucket map: a chain of ~150 buckets */

struct stall_state {
	struct lfmap *m;
	int nworkers;
	atomic_bool stop;
	atomic_uint_fast64_t done[64]; /* ops completed per worker */
	uint64_t *model;               /* [NKEYS + 1], 0 = absent; key k owned by k % nworkers */
	atomic_int victim_rc;
};

static void victim_main(struct stall_state *s)
{
	is_victim = true;
	/* Evacuates bucket 0 first (the work cursor starts there); parks in
	 * the hook with the read lock lfmap_migrate_step took. */
	int rc = lfmap_migrate_step(s->m, 1);
	atomic_store(&s->victim_rc, rc);
	is_victim = false;
}

static void worker_main(struct stall_state *s, int id, struct mt_rng *rng)
{
	uint64_t seq = 0;
	/* Start once the victim is parked: otherwise a worker's own help
	 * (max_work 1) may evacuate bucket 0 before the victim gets there. */
	while (!atomic_load(&parked) && !atomic_load(&s->stop))
		mt_sleep_us(100);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		/* keys owned by this worker: id + 1 + j * nworkers */
		uint64_t j = mt_rng_below(rng, NKEYS / (uint64_t)s->nworkers);
		uint64_t key = (uint64_t)id + 1 + j * (uint64_t)s->nworkers;
		uint64_t *mv = &s->model[key];
		uint64_t v = ((uint64_t)id << 40 | ++seq) & LFMAP_WORD_VALUE_MAX, out = 0;
		int rc;
		switch (mt_rng_below(rng, 4)) {
		case 0:
			rc = lfmap_word_get(s->m, key, &out);
			if (*mv) {
				MT_CHECK_RC(rc, 0, "get of a present key");
				MT_CHECK(out == *mv, "key %" PRIu64 ": got %#" PRIx64 " want %#" PRIx64,
					 key, out, *mv);
			} else {
				MT_CHECK_RC(rc, -ENOENT, "get of an absent key");
			}
			break;
		case 1:
			rc = lfmap_word_put(s->m, key, v, NULL);
			MT_CHECK_RC(rc, *mv ? 1 : 0, "put");
			*mv = v;
			break;
		case 2:
			rc = lfmap_word_remove(s->m, key, &out);
			if (*mv) {
				MT_CHECK_RC(rc, 0, "remove of a present key");
				MT_CHECK(out == *mv, "remove returned %#" PRIx64, out);
			} else {
				MT_CHECK_RC(rc, -ENOENT, "remove of an absent key");
			}
			*mv = 0;
			break;
		default:
			rc = lfmap_word_insert(s->m, key, v, &out);
			MT_CHECK_RC(rc, *mv ? -EEXIST : 0, "insert");
			if (!*mv)
				*mv = v;
			break;
		}
		atomic_fetch_add_explicit(&s->done[id], 1, memory_order_relaxed);
		if (mt_failed())
			break;
	}
}

/*
 * Lock-free: while the victim stays parked, every worker completes `ops`
 * more operations. Judged by operation counts, not by time windows, so a
 * starved process (a loaded machine, nice 19) is not mistaken for a blocked
 * one; a blocked worker never gets there and fails after PROGRESS_TIMEOUT_S.
 */
#define PROGRESS_TIMEOUT_S 60
static void check_progress(struct stall_state *s, uint64_t ops, int point, const char *when)
{
	uint64_t start[64];
	for (int w = 0; w < s->nworkers; w++)
		start[w] = atomic_load(&s->done[w]);
	uint64_t end = mt_now_ns() + (uint64_t)PROGRESS_TIMEOUT_S * 1000000000u;
	for (;;) {
		int behind = -1;
		for (int w = 0; w < s->nworkers && behind < 0; w++)
			if (atomic_load(&s->done[w]) - start[w] < ops)
				behind = w;
		if (behind < 0 || mt_failed())
			break;
		if (mt_now_ns() > end) {
			MT_FAIL("worker %d completed %" PRIu64 " of %" PRIu64 " operations in %d s %s "
				"(point %d)", behind, atomic_load(&s->done[behind]) - start[behind],
				ops, PROGRESS_TIMEOUT_S, when, point);
			break;
		}
		mt_sleep_us(1000);
	}
	MT_CHECK(atomic_load(&parked), "victim left the hook early");
}

static void stall_thread(struct mt_thread *t)
{
	struct stall_state *s = t->arg;
	if (t->id == s->nworkers)
		victim_main(s);
	else
		worker_main(s, t->id, &t->rng);
}

static int verify_visit(uint64_t key, uint64_t val, void *arg)
{
	struct stall_state *s = arg;
	if (key == 0 || key > NKEYS) {
		MT_FAIL("foreach: key %" PRIu64 " out of range", key);
		return 0;
	}
	if (s->model[key] != val)
		MT_FAIL("foreach: key %" PRIu64 " = %#" PRIx64 ", model %#" PRIx64, key, val,
			s->model[key]);
	s->model[key] |= UINT64_C(1) << 63; /* seen (values are < 2^62) */
	return 0;
}

static void stalled_evacuator(const void *arg)
{
	int point = (int)(intptr_t)arg;
	struct stall_state *s = calloc(1, sizeof *s);
	s->model = calloc(NKEYS + 1, sizeof *s->model);
	s->nworkers = mt_threads(6);
	/* One bucket, no automatic resize, no background work: chains of
	 * thousands of overflow buckets, and only this test starts and drives
	 * migrations. */
	s->m = new_map(LFMAP_F_NO_AUTO_GROW | LFMAP_F_NO_AUTO_SHRINK | LFMAP_F_NO_BACKGROUND);
	if (!s->m)
		goto out;
	for (uint64_t k = 1; k <= NKEYS; k += 2) {
		MT_CHECK_RC(lfmap_word_insert(s->m, k, k, NULL), 0, "prefill");
		s->model[k] = k;
	}
	struct lfmap_stats st0 = stats(s->m);
	MT_CHECK(st0.longest_chain > 2, "prefill made no chain (longest %" PRIu64 ")",
		 st0.longest_chain);
	MT_CHECK_RC(lfmap_resize(s->m, LFMAP_RESIZE_GROW), 0, "resize grow");

	reset_hook(point);
	struct mt_group *g = mt_spawn(s->nworkers + 1, stall_thread, s);
	if (!wait_parked(5000)) {
		MT_FAIL("the victim never reached hook point %d", point);
		atomic_store(&s->stop, true);
		atomic_store(&release_it, 1);
		mt_join(g);
		goto out_map;
	}
	/* The victim is parked inside the evacuation of bucket 0. */
	check_progress(s, 2000, point, "while a thread is parked");
	/* The migration finishes without the parked thread: evacuate
	 * everything (bucket 0 included, whose evacuation the victim
	 * started) and swing the root. */
	int rc = lfmap_migrate_step(s->m, 0);
	MT_CHECK_RC(rc, 0, "lfmap_migrate_step(0) while a thread is parked");
	struct lfmap_stats st1 = stats(s->m);
	MT_CHECK(st1.migrations_finished == st0.migrations_finished + 1,
		 "migration did not finish (finished %" PRIu64 " -> %" PRIu64 ")",
		 st0.migrations_finished, st1.migrations_finished);
	MT_CHECK(st1.buckets == 2 * st0.buckets, "root has %" PRIu64 " buckets, want %" PRIu64,
		 st1.buckets, 2 * st0.buckets);
	MT_CHECK(atomic_load(&parked), "victim left the hook early");
	/* ... and the workers still progress after the switch. */
	check_progress(s, 1000, point, "after the migration finished");
	atomic_store(&s->stop, true);
	atomic_store(&release_it, 1);
	mt_join(g);
	MT_CHECK(atomic_load(&s->victim_rc) >= 0, "victim's lfmap_migrate_step returned %d",
		 atomic_load(&s->victim_rc));
	quiesce(s->m);

	/* Exactly the models' contents. */
	MT_CHECK_RC(lfmap_word_foreach(s->m, verify_visit, s), 0, "lfmap_word_foreach");
	size_t live = 0, exact = 0;
	for (uint64_t k = 1; k <= NKEYS; k++) {
		if (s->model[k] && !(s->model[k] >> 63))
			MT_FAIL("key %" PRIu64 " (value %#" PRIx64 ") missing after the stall", k,
				s->model[k]);
		if (s->model[k])
			live++;
	}
	MT_CHECK_RC(lfmap_count_exact(s->m, &exact), 0, "lfmap_count_exact");
	MT_CHECK(exact == live, "count_exact %zu, model %zu", exact, live);
	uint64_t total = 0;
	for (int w = 0; w < s->nworkers; w++)
		total += atomic_load(&s->done[w]);
	mt_note("point %d: %d workers, %" PRIu64 " ops while stalled/after, %zu live keys",
		point, s->nworkers, total, live);
out_map:
	reset_hook(-1);
	quiesce(s->m);
	lfmap_destroy(s->m);
out:
	free(s->model);
	free(s);
}

/* ---- I8: a reader parked after its one hop --------------------------------- */

struct hop_state {
	struct lfmap *m;
	atomic_uint_fast64_t key; /* the key the reader hopped for, 0: none yet */
	atomic_int rc;
	atomic_uint_fast64_t out;
};

static void hop_reader(struct mt_thread *t)
{
	struct hop_state *s = t->arg;
	is_victim = true;
	lfmap_read_lock(s->m);
	for (uint64_t k = 1; k <= 4096; k++) {
		uint64_t out = 0;
		int before = atomic_load(&park_count);
		int rc = lfmap_word_get_rcu(s->m, k, &out);
		if (atomic_load(&park_count) != before) { /* this get hopped and parked */
			atomic_store(&s->key, k);
			atomic_store(&s->rc, rc);
			atomic_store(&s->out, out);
			break;
		}
	}
	lfmap_read_unlock(s->m);
	is_victim = false;
	atomic_store(&parked, 0);
}

static void reader_hop_blocks_next_migration(const void *arg)
{
	(void)arg;
	struct hop_state *s = calloc(1, sizeof *s);
	s->m = new_map(LFMAP_F_NO_AUTO_GROW | LFMAP_F_NO_AUTO_SHRINK | LFMAP_F_NO_BACKGROUND);
	if (!s->m) {
		free(s);
		return;
	}
	for (uint64_t k = 1; k <= 4096; k++)
		MT_CHECK_RC(lfmap_word_insert(s->m, k, k, NULL), 0, "prefill");
	quiesce(s->m);
	MT_CHECK_RC(lfmap_resize(s->m, LFMAP_RESIZE_GROW), 0, "grow");
	quiesce(s->m); /* 1 -> 2 buckets, done */
	MT_CHECK_RC(lfmap_resize(s->m, LFMAP_RESIZE_GROW), 0, "second grow");
	MT_CHECK_RC(lfmap_migrate_step(s->m, 1), 1, "evacuate one of two buckets");

	reset_hook(LFM_EXP_READER_HOP);
	struct mt_group *g = mt_spawn(1, hop_reader, s);
	if (!wait_parked(5000)) {
		MT_FAIL("no get followed FORWARDED (half the buckets are forwarded)");
		atomic_store(&release_it, 1);
		mt_join(g);
		goto out;
	}
	uint64_t key = 0; /* the reader records it once released */
	MT_CHECK_RC(lfmap_migrate_step(s->m, 0), 0, "finish the migration");
	int eagain = 0;
	uint64_t end = mt_now_ns() + 200000000u;
	while (mt_now_ns() < end) {
		int rc = lfmap_resize(s->m, LFMAP_RESIZE_GROW);
		if (rc == 0) {
			MT_FAIL("I8: a migration of the table a parked reader reached by its "
				"hop started after %d -EAGAIN", eagain);
			break;
		}
		MT_CHECK_RC(rc, -EAGAIN, "resize while a reader is parked after its hop");
		eagain++;
		mt_sleep_us(5000);
	}
	/* update every key (the reader's among them) in the new table */
	for (uint64_t k = 1; k <= 4096; k++)
		MT_CHECK_RC(lfmap_word_put(s->m, k, k + 100000, NULL), 1, "update in U");
	atomic_store(&release_it, 1);
	mt_join(g);
	key = atomic_load(&s->key);
	MT_CHECK(key != 0, "the reader did not record its key");
	MT_CHECK_RC(atomic_load(&s->rc), 0, "the parked reader's get");
	uint64_t out = atomic_load(&s->out);
	MT_CHECK(out == key || out == key + 100000,
		 "the parked reader got %#" PRIx64 " for key %" PRIu64, out, key);
	/* reader gone: after a grace period and the callbacks, U may migrate */
	int rc = -EAGAIN;
	for (int i = 0; i < 50 && rc == -EAGAIN; i++) {
		lfmap_synchronize_rcu(s->m);
		mt_rcu_barrier();
		rc = lfmap_resize(s->m, LFMAP_RESIZE_GROW);
	}
	MT_CHECK_RC(rc, 0, "resize after the reader left");
	mt_note("reader parked after its hop for key %" PRIu64 ": %d x -EAGAIN in 200 ms", key,
		eagain);
out:
	reset_hook(-1);
	quiesce(s->m);
	lfmap_destroy(s->m);
	free(s);
}

/* ---- node maps: a copier parked before its copy (I6, slot_is_ours) ---------- */

/*
 * lagging_copier/<case>: node map, every key with one hash (all entries
 * compete for the same slots). X (key 1) is in T; a grow starts. The victim
 * evacuates and parks at LFM_EXP_COPY_SLOT: it found U's first slot with X's
 * hash EMPTY and is about to CAS X in. The main thread finishes the
 * migration (X copied into that slot, the bucket forwarded, the root moved
 * to U), then, in U:
 *   removed  removes X (the slot becomes X's tombstone);
 *   revived  removes X, then inserts Y (key 2, same hash), which revives
 *            X's tombstone (the first candidate, I2);
 *   replaced replaces X by X2 (key 1) in place;
 *   replaced_removed replaces X by X2, then removes key 1 (X2's tombstone).
 * Released, the victim's CAS fails and it classifies the slot with
 * slot_is_ours. It must treat each case as "copied before": the source head
 * is FORWARDED, so whatever the slot holds is the result of users' writes
 * after the copy. Going on to the next slot would copy X again (X mapped
 * after its remove, or key 1 mapped twice). `removed` and `replaced` are
 * recognised by the node or its key; `revived` (a LIVE node of another key)
 * and `replaced_removed` (another node's tombstone) only by the FORWARDED
 * rule, and fail if it is weakened (checked by mutation, docs/NOTES.md).
 */
enum lag_case { LAG_REMOVED, LAG_REVIVED, LAG_REPLACED, LAG_REPLACED_REMOVED };

struct lag_item {
	struct lfmap_node ln;
	uint64_t key;
};

static uint64_t lag_hash(const void *key, uint64_t seed, void *arg)
{
	(void)key, (void)seed, (void)arg;
	return UINT64_C(0x1234567887654321);
}

static int lag_match(const struct lfmap_node *n, const void *key, void *arg)
{
	(void)arg;
	return lfmap_container_of(n, struct lag_item, ln)->key == *(const uint64_t *)key;
}

static const void *lag_key_of(const struct lfmap_node *n, void *arg)
{
	(void)arg;
	return &lfmap_container_of(n, struct lag_item, ln)->key;
}

struct lag_state {
	struct lfmap *m;
	atomic_int rc;
};

static void lag_victim(struct mt_thread *t)
{
	struct lag_state *s = t->arg;
	is_victim = true;
	atomic_store(&s->rc, lfmap_migrate_step(s->m, 0));
	is_victim = false;
}

static int lag_visit(struct lfmap_node *n, void *arg)
{
	uint64_t *seen = arg;
	uint64_t k = lfmap_container_of(n, struct lag_item, ln)->key;
	if (k == 1 || k == 2)
		seen[k]++;
	else
		MT_FAIL("foreach: unexpected key %" PRIu64, k);
	return 0;
}

/* The first slot with the one hash in the current table: its node, or NULL
 * (EMPTY), with *tomb set for a tombstone. Test-only peek at the layout. */
static const struct lfmap_node *lag_first_slot(struct lfmap *m, bool *tomb)
{
	struct lfm_table *u = (struct lfm_table *)(uintptr_t)lfm_load_acquire(&m->root);
	uint64_t h = lag_hash(NULL, 0, NULL);
	struct lfm_bucket *b = &u->buckets[lfm_bucket_index(u, lfm_node_bhash(m, h))];
	uint64_t v = lfm_load_acquire(&b->slot[0].val);
	*tomb = v != 0 && !(v & LFM_V_LIVE);
	return (v & LFM_V_LIVE) ? lfm_val_node(v) : NULL;
}

static void lagging_copier(const void *arg)
{
	enum lag_case c = (enum lag_case)(intptr_t)arg;
	static const char *const names[] = { "removed", "revived", "replaced",
					     "replaced_removed" };
	struct lag_item *x = calloc(1, sizeof *x), *y = calloc(1, sizeof *y),
			*x2 = calloc(1, sizeof *x2);
	x->key = 1, y->key = 2, x2->key = 1;
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.max_work = 1;
	cfg.flags = LFMAP_F_NO_AUTO_GROW | LFMAP_F_NO_AUTO_SHRINK | LFMAP_F_NO_BACKGROUND |
		    LFMAP_F_FIXED_SEED;
	cfg.seed = mt_test_seed();
	cfg.hash = lag_hash;
	cfg.match = lag_match;
	cfg.key_of = lag_key_of;
	struct lag_state s = { .m = lfmap_create(&cfg) };
	MT_CHECK(s.m != NULL, "lfmap_create: %s", strerror(errno));
	if (!s.m)
		goto out;
	uint64_t one = 1, two = 2;
	mt_read_lock(s.m);
	MT_CHECK_RC(lfmap_insert_rcu(s.m, &x->ln, NULL), 0, "insert X");
	mt_read_unlock(s.m);
	MT_CHECK_RC(lfmap_resize(s.m, LFMAP_RESIZE_GROW), 0, "resize grow");

	reset_hook(LFM_EXP_COPY_SLOT);
	struct mt_group *g = mt_spawn(1, lag_victim, &s);
	if (!wait_parked(5000)) {
		MT_FAIL("the victim never reached LFM_EXP_COPY_SLOT");
		atomic_store(&release_it, 1);
		mt_join(g);
		goto out_map;
	}
	uint64_t fin = stats(s.m).migrations_finished;
	MT_CHECK_RC(lfmap_migrate_step(s.m, 0), 0, "finish the migration past the victim");
	MT_CHECK(stats(s.m).migrations_finished == fin + 1, "the migration did not finish");
	bool tomb = false;
	MT_CHECK(lag_first_slot(s.m, &tomb) == &x->ln, "X was not copied into U's first slot");

	struct lfmap_node *old = NULL;
	mt_read_lock(s.m);
	if (c == LAG_REPLACED || c == LAG_REPLACED_REMOVED) {
		MT_CHECK_RC(lfmap_replace_rcu(s.m, &x2->ln, &old), 0, "replace X by X2");
		MT_CHECK(old == &x->ln, "replace handed back %p, not X", (void *)old);
		if (c == LAG_REPLACED_REMOVED)
			MT_CHECK_RC(lfmap_remove_rcu(s.m, &one, NULL), 0, "remove X2");
	} else {
		MT_CHECK_RC(lfmap_remove_rcu(s.m, &one, &old), 0, "remove X");
		MT_CHECK(old == &x->ln, "remove handed back %p, not X", (void *)old);
		if (c == LAG_REVIVED)
			MT_CHECK_RC(lfmap_insert_rcu(s.m, &y->ln, NULL), 0, "insert Y");
	}
	mt_read_unlock(s.m);
	/* The precondition the case stands for, as the layout shows it. */
	const struct lfmap_node *first = lag_first_slot(s.m, &tomb);
	if (c == LAG_REMOVED || c == LAG_REPLACED_REMOVED)
		MT_CHECK(first == NULL && tomb, "case %s: the slot is not a tombstone", names[c]);
	else
		MT_CHECK(first == (c == LAG_REVIVED ? &y->ln : &x2->ln),
			 "case %s: U's first slot does not hold the new node", names[c]);

	atomic_store(&release_it, 1);
	mt_join(g);
	MT_CHECK(atomic_load(&s.rc) >= 0, "victim's lfmap_migrate_step returned %d",
		 atomic_load(&s.rc));

	mt_read_lock(s.m);
	struct lfmap_node *n1 = lfmap_lookup_rcu(s.m, &one), *n2 = lfmap_lookup_rcu(s.m, &two);
	uint64_t seen[3] = { 0, 0, 0 };
	MT_CHECK_RC(lfmap_foreach_rcu(s.m, lag_visit, seen), 0, "foreach");
	mt_read_unlock(s.m);
	size_t exact = 0;
	MT_CHECK_RC(lfmap_count_exact(s.m, &exact), 0, "lfmap_count_exact");
	struct lfmap_node *want1 = c == LAG_REPLACED ? &x2->ln : NULL;
	MT_CHECK(n1 == want1, "case %s: key 1 maps to %p, want %p (X %p): the lagging copier "
		 "copied X again", names[c], (void *)n1, (void *)want1, (void *)&x->ln);
	MT_CHECK(n2 == (c == LAG_REVIVED ? &y->ln : NULL), "case %s: key 2 maps to %p", names[c],
		 (void *)n2);
	size_t want = c == LAG_REVIVED || c == LAG_REPLACED;
	MT_CHECK(exact == want, "case %s: count_exact %zu, want %zu", names[c], exact, want);
	MT_CHECK(seen[1] + seen[2] == want, "case %s: foreach saw %" PRIu64 " + %" PRIu64
		 " nodes, want %zu", names[c], seen[1], seen[2], want);
	mt_note("lagging copier, case %s: X not copied again", names[c]);
	/* Empty the map (the nodes are ours; no node_free). */
	mt_read_lock(s.m);
	(void)lfmap_remove_rcu(s.m, &one, NULL);
	(void)lfmap_remove_rcu(s.m, &two, NULL);
	(void)lfmap_remove_rcu(s.m, &one, NULL); /* a duplicate, if the copier made one */
	mt_read_unlock(s.m);
out_map:
	reset_hook(-1);
	quiesce(s.m);
	MT_CHECK_RC(lfmap_destroy(s.m), 0, "destroy");
	mt_synchronize_rcu();
out:
	free(x);
	free(y);
	free(x2);
}

int main(int argc, char **argv)
{
	lfm_exp_hook = park_hook;
	mt_register("stalled_evacuator/froze_head", stalled_evacuator,
		    (const void *)(intptr_t)LFM_EXP_FROZE_HEAD);
	mt_register("stalled_evacuator/before_copy", stalled_evacuator,
		    (const void *)(intptr_t)LFM_EXP_BEFORE_COPY);
	mt_register("stalled_evacuator/mid_copy", stalled_evacuator,
		    (const void *)(intptr_t)LFM_EXP_COPY_SLOT);
	mt_register("stalled_evacuator/before_forward", stalled_evacuator,
		    (const void *)(intptr_t)LFM_EXP_BEFORE_FORWARD);
	mt_register("reader_hop_blocks_next_migration", reader_hop_blocks_next_migration, NULL);
	mt_register("lagging_copier/removed", lagging_copier, (const void *)(intptr_t)LAG_REMOVED);
	mt_register("lagging_copier/revived", lagging_copier, (const void *)(intptr_t)LAG_REVIVED);
	mt_register("lagging_copier/replaced", lagging_copier,
		    (const void *)(intptr_t)LAG_REPLACED);
	mt_register("lagging_copier/replaced_removed", lagging_copier,
		    (const void *)(intptr_t)LAG_REPLACED_REMOVED);
	return mt_main(argc, argv);
}
