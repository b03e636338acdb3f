/*
 * tests/mt/harness.h - a tiny harness for lfmap's multithreaded tests.
 *
 * The multithreaded tests are plain executables (Criterion does not start
 * under ThreadSanitizer). Each test file registers its tests in main() and
 * hands over to mt_main(), which runs them one by one and prints
 *
 *     ok   name (0.84 s)
 *     FAIL name: reason
 *     ...
 *     N passed, N failed
 *
 * and returns 1 if any test failed (under TSan, a data-race report also
 * makes the process exit with TSan's exit code 66).
 *
 * Environment:
 *   LFMAP_MT_SCALE=N    multiply iteration counts and time budgets (default
 *                       1, used by CI; > 1 for long soak runs)
 *   LFMAP_MT_SEED=N     rerun with the same RNG seeds and map seeds (printed
 *                       at start; thread interleavings differ, of course)
 *   LFMAP_MT_TEST_TIMEOUT=S  watchdog per test in seconds (default 120, times
 *                       the scale): a hung or livelocked test prints a FAIL
 *                       line and the summary and exits 1
 *   LFMAP_MT_VERBOSE=1  print migration trace lines and per-test details
 *   argv[1..]           run only tests whose name contains one of them
 *
 * Under ThreadSanitizer the harness scales iteration counts down 20x and
 * uses fewer threads, so that each binary stays well under a minute.
 *
 * Every thread started by mt_spawn()/mt_run_threads() is registered with
 * urcu-memb for its whole life; mt_main() registers the main thread too.
 */
#ifndef LFMAP_MT_HARNESS_H
#define LFMAP_MT_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/urcu-memb.h>

#include <lfmap.h>

#if defined(__SANITIZE_THREAD__)
#define MT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT_TSAN 1
#endif
#endif
#ifndef MT_TSAN
#define MT_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MT_ASAN 1
#endif
#endif
#ifndef MT_ASAN
#define MT_ASAN 0
#endif

/* ------------------------------------------------------------------ tests */

typedef void (*mt_test_fn)(const void *arg);

/* Register a test (name is copied). Call before mt_main(). */
void mt_register(const char *name, mt_test_fn fn, const void *arg);
/* Register name/bg and name/driven, with arg = the mt_mode (see below). */
void mt_register_modes(const char *name, mt_test_fn fn);
/* Run the registered tests; returns the process exit code (0 or 1). */
int mt_main(int argc, char **argv);

/* Record a failure of the running test (thread-safe, any thread). The first
 * reason is the one printed on the FAIL line; the first few also go to
 * stderr as they happen. */
void mt_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define MT_FAIL(...) mt_fail_at(__FILE__, __LINE__, __VA_ARGS__)
/* MT_CHECK(cond, "fmt", args...): fail with the condition text and message. */
#define MT_CHECK(cond, fmt, ...)                                                   \
	do {                                                                       \
		if (!(cond))                                                       \
			mt_fail_at(__FILE__, __LINE__, "%s: " fmt, #cond,          \
				   ##__VA_ARGS__);                                 \
	} while (0)
/* Check an lfmap return code against an expected one. */
#define MT_CHECK_RC(rc, want, what)                                                \
	do {                                                                       \
		long mt_rc_ = (long)(rc), mt_want_ = (long)(want);                 \
		if (mt_rc_ != mt_want_)                                            \
			mt_fail_at(__FILE__, __LINE__, "%s returned %ld, want %ld", \
				   (what), mt_rc_, mt_want_);                      \
	} while (0)

/* True once the running test has failed: long loops should stop early (but
 * threads must still reach every mt_barrier() of their group). */
bool mt_failed(void);
/* Verbose output requested (LFMAP_MT_VERBOSE). */
bool mt_verbose(void);
void mt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------- scale, time */

/* LFMAP_MT_SCALE (>= 1). */
unsigned mt_scale(void);
/* base * scale, divided by 20 under TSan; at least 1. */
size_t mt_iters(size_t base);
/* mt_iters(base), but at least min (a floor that keeps TSan runs meaningful). */
size_t mt_iters_min(size_t base, size_t min);
/* Thread count for oversubscription: n, or n/2 (at least 4) under TSan. */
int mt_threads(int n);
uint64_t mt_now_ns(void);
/* Absolute deadline base_ms * scale from now (a cap: loops also have an
 * iteration count). */
uint64_t mt_deadline_ms(uint64_t base_ms);
static inline bool mt_expired(uint64_t deadline_ns)
{
	return mt_now_ns() >= deadline_ns;
}
void mt_sleep_us(unsigned us);

/* ------------------------------------------------------------------- RNG */

struct mt_rng {
	uint64_t s;
};
/* Seed (splitmix64 of seed, never zero). */
void mt_rng_init(struct mt_rng *r, uint64_t seed);
static inline uint64_t mt_rng_next(struct mt_rng *r)
{
	/* xorshift64* */
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}
/* Uniform-ish in [0, n), n > 0. */
static inline uint64_t mt_rng_below(struct mt_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)mt_rng_next(r) * n) >> 64);
}
/* The run's seed (LFMAP_MT_SEED or time-based), and a per-test derived one. */
uint64_t mt_seed(void);
uint64_t mt_test_seed(void);

/* A bijective 64-bit mix (splitmix finaliser) and its use as a checksum. */
static inline uint64_t mt_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* --------------------------------------------------------------- threads */

struct mt_group;
struct mt_thread {
	int id;       /* 0 .. n-1 */
	int n;        /* threads in the group */
	void *arg;    /* the test's shared state */
	struct mt_rng rng;
	struct mt_group *group;
};
typedef void (*mt_thread_fn)(struct mt_thread *t);

/* Start n threads; each registers with urcu-memb, waits until all n are
 * running, calls fn, unregisters. */
struct mt_group *mt_spawn(int n, mt_thread_fn fn, void *arg);
/* Join and free the group. */
void mt_join(struct mt_group *g);
/* mt_spawn + mt_join. */
void mt_run_threads(int n, mt_thread_fn fn, void *arg);
/* Phase barrier among the threads of t's group. */
void mt_barrier(struct mt_thread *t);

/* ------------------------------------------------------------ map modes */

/*
 * Every test runs with forced migrations: size_hint 0 (smallest first
 * table), max_work 1, a fixed seed derived from the run's seed, and a
 * resizer thread (mt_resizer_start) that keeps starting GROW / SHRINK /
 * COMPACT migrations.
 *   bg:     migrations are finished by writers and the call_rcu background
 *   driven: LFMAP_F_NO_BACKGROUND; the resizer also calls
 *           lfmap_migrate_step(map, 1..8) so that the map is mid-migration
 *           most of the time
 */
struct mt_mode {
	const char *name;
	unsigned flags;
	bool steps;
};
extern const struct mt_mode mt_mode_bg, mt_mode_driven;

/* lfmap_config_init + the mode's settings; trace lines go to a per-config
 * counter in the harness (and to stderr with LFMAP_MT_VERBOSE). */
void mt_config(struct lfmap_config *cfg, const struct mt_mode *mode);
/* Trace lines counted for a config filled by mt_config. */
uint64_t mt_trace_lines(const struct lfmap_config *cfg);

struct mt_resizer_stats {
	uint64_t started, eagain, einval, steps, loops;
};
struct mt_resizer;
struct mt_resizer *mt_resizer_start(struct lfmap *map, const struct mt_mode *mode);
/* Stop and join; *out (if non-NULL) gets the counts. */
void mt_resizer_stop(struct mt_resizer *r, struct mt_resizer_stats *out);

/* mt_resizer_start, mt_run_threads(n, fn, arg), mt_resizer_stop. */
void mt_run_resized(struct lfmap *map, const struct mt_mode *mode, int n, mt_thread_fn fn,
		    void *arg);

/* Finish any running migration (lfmap_migrate_step(map, 0) until none runs)
 * and wait for pending call_rcu work. Quiescent callers only. */
void mt_quiesce(struct lfmap *map);

/* Check lfmap_stats for internal consistency on a quiescent map (after
 * mt_quiesce) holding want entries; side_entries of them (word key 0) live
 * outside the table slots. cfg is the config the map was created with (its
 * trace counter is compared with migrations_finished). */
void mt_check_stats(struct lfmap *map, const struct lfmap_config *cfg, uint64_t want,
		    uint64_t side_entries);

/* --------------------------------------------- disjoint-insert driver */

/*
 * The disjoint_insert tests: mt_threads(16) threads, each inserting its own
 * keys 0, 1, ... per_thread-1 (the kind's thread function fn, t->arg = the
 * struct mt_disjoint), with a resizer running. fn stops early at the
 * deadline or on a failure and stores the number of keys it inserted in
 * done[t->id].
 */
struct mt_disjoint {
	struct lfmap *map;
	size_t per_thread;
	uint64_t deadline;
	size_t *done; /* per thread: its keys 0 .. done-1 are in the map */
	int nthreads;
};
/* Run it: per_thread = mt_iters(per_thread_base), deadline deadline_ms
 * (times the scale) from now. Then, while a migration may still be running
 * (driven mode), count_exact (NULL: lfmap_count_exact) and
 * lfmap_count_approx must give the total, which is returned. The caller
 * quiesces, checks every key and calls mt_disjoint_free. */
size_t mt_disjoint_run(struct mt_disjoint *d, struct lfmap *map, const struct mt_mode *mode,
		       mt_thread_fn fn, size_t per_thread_base, uint64_t deadline_ms,
		       int (*count_exact)(struct lfmap *map, size_t *n));
void mt_disjoint_free(struct mt_disjoint *d);

/* ------------------------------------------------ same-key race driver */

/*
 * The insert_race / remove_race tests of every map kind share this driver;
 * the kind supplies per-key callbacks. A test runs rounds of nkeys fresh keys
 * (the kind maps (r->round, idx) to its key; round numbers start at 1) with
 * mt_threads(16) threads and a resizer (mt_resizer_start) running throughout:
 *   1. insert phase: with race_insert every thread tries every key (exactly
 *      one must win each), else each key is inserted by one thread;
 *   2. thread 0: one winner per key, the key holds the winner's value,
 *      count_exact and count_approx == nkeys;
 *   3. remove phase: racing when !race_insert, else each key by one thread;
 *   4. thread 0: one winner per key, the key is gone, counts == 0;
 * until max_rounds rounds, the deadline or a failure. Every thread starts
 * its phase at a random index, so that the threads collide on all keys.
 */
struct mt_race;
struct mt_race_ops {
	/* Insert (remove) key idx of r->round from thread t. Return true if
	 * this call inserted (removed) the key, false if it lost the race to
	 * another thread; a lost race is legal only when racing, and the
	 * callback reports anything else with MT_FAIL (and returns false).
	 * The driver counts the winners and, after a winning insert, stores
	 * t->id in r->winner_of[idx] (the remove callbacks may read it). */
	bool (*insert)(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing);
	bool (*remove)(struct mt_thread *t, struct mt_race *r, size_t idx, bool racing);
	/* Thread 0, after a phase, for a key that had exactly one winner:
	 * after_insert, the key must hold the value of winner_of[idx]; after
	 * the remove phase it must be absent. Return false if not, and say
	 * why with MT_FAIL only when report is true (the first few keys). */
	bool (*check_key)(struct mt_race *r, size_t idx, bool after_insert, bool report);
	/* Replaces lfmap_count_exact (e.g. to call it inside the test's own
	 * read-side section); NULL: lfmap_count_exact. */
	int (*count_exact)(struct lfmap *map, size_t *n);
	/* Names in failure messages ("insert", "add"; "remove", "del"). */
	const char *insert_name, *remove_name;
};

struct mt_race {
	struct lfmap *map;
	const struct mt_race_ops *ops;
	void *ctx;        /* the kind's own state, untouched by the driver */
	bool race_insert; /* else the remove phase races */
	size_t nkeys, max_rounds;
	uint64_t deadline;
	uint64_t round;   /* the current round, 1 first */
	size_t rounds_done;
	atomic_bool go_on;
	atomic_int *winners;   /* per key: winning calls in this phase */
	atomic_int *winner_of; /* per key: thread id of the winning insert */
};

/* Fill r: nkeys = mt_iters_min(nkeys_base, nkeys_min), max_rounds =
 * mt_iters_min(40, 3), deadline deadline_ms (times the scale) from now. */
void mt_race_init(struct mt_race *r, struct lfmap *map, const struct mt_race_ops *ops,
		  void *ctx, bool race_insert, size_t nkeys_base, size_t nkeys_min,
		  uint64_t deadline_ms);
/* Start the resizer, run the rounds, stop the resizer. The caller then
 * quiesces, checks and destroys the map (it holds no keys at the end). */
void mt_race_run(struct mt_race *r, const struct mt_mode *mode);
/* Free what mt_race_init allocated. */
void mt_race_free(struct mt_race *r);

/* ---------------------------------------------------- iterate driver */

/*
 * The iterate tests of every map kind share this driver. The caller puts
 * nstable "stable" keys in the map, which nobody touches afterwards; then,
 * with mt_threads(16) threads and a resizer running, threads 0..niters-1
 * (a quarter of them) iterate the whole map max_iterations times each (or
 * until the deadline, but at least twice), while the other threads churn
 * nchurn other keys (insert / remove ...) until the iterators are done.
 * Every iteration must visit each stable key exactly once, visit no key
 * twice and no key that was never inserted. The kind's foreach callback
 * checks its key and value and hands the key to mt_visit_key (or, for the
 * tagged word keys below, mt_visit_tagged).
 */
struct mt_iter;
struct mt_visit {
	struct mt_iter *it;
	uint32_t epoch; /* the current iteration of this thread, from 1 */
	uint32_t *seen_stable, *seen_churn; /* epoch of the last visit, per key */
	size_t nstable_seen;
	int tid;
};
struct mt_iter_ops {
	/* One whole iteration (the n-th of this thread, 0 first) that hands v
	 * to the kind's foreach callback; returns the foreach result. */
	int (*iterate)(struct lfmap *map, struct mt_visit *v, size_t n);
	/* One churn operation by thread t on churn key idx (< nchurn). */
	void (*churn)(struct mt_thread *t, struct mt_iter *it, size_t idx);
	/* Also check every 8th iteration that lfmap_count_exact is within
	 * nstable .. nstable + nchurn. */
	bool check_count;
};
struct mt_iter {
	struct lfmap *map;
	const struct mt_iter_ops *ops;
	void *ctx; /* the kind's own state, untouched by the driver */
	size_t nstable, nchurn;
	int nthreads, niters;
	uint64_t deadline;
	size_t max_iterations;
	atomic_int iterators_left;
	atomic_size_t iterations;
};

/* Fill it: nstable = mt_iters_min(nstable_base, nstable_min), max_iterations
 * = mt_iters_min(max_iterations_base, 20), nthreads = mt_threads(16),
 * niters = nthreads / 4. */
void mt_iter_init(struct mt_iter *it, struct lfmap *map, const struct mt_iter_ops *ops,
		  void *ctx, size_t nstable_base, size_t nstable_min, size_t nchurn,
		  size_t max_iterations_base);
/* After the caller inserted the stable keys: start the resizer, set the
 * deadline (deadline_ms times the scale from now), run the threads, stop the
 * resizer. The caller then checks the final contents and destroys the map. */
void mt_iter_run(struct mt_iter *it, const struct mt_mode *mode, uint64_t deadline_ms);
/* From the kind's foreach callback: record a visit of stable or churn key
 * idx. Returns 0, or 1 (stop the iteration) after MT_FAIL when idx is out of
 * range or the key was already visited in this iteration. */
int mt_visit_key(struct mt_visit *v, bool stable, uint64_t idx);

/* Word-sized keys of the iterate tests: a tag in the top 4 bits, the index
 * below. mt_visit_tagged fails (returns 1) on a key with another tag. */
#define MT_STABLE_TAG UINT64_C(0xA000000000000000)
#define MT_CHURN_TAG UINT64_C(0xC000000000000000)
#define MT_TAG_MASK UINT64_C(0xF000000000000000)
int mt_visit_tagged(struct mt_visit *v, uint64_t key);

/* ----------------------------------------------------- RCU, TSan-aware */

/*
 * The test's own RCU use (node-map nodes freed after a grace period) needs
 * happens-before edges that TSan cannot see through liburcu. These wrap
 * lfmap_read_lock/unlock and the urcu-memb calls with the annotations from
 * notes-tooling.md (no-ops outside TSan builds).
 *   - mt_read_unlock releases a harness address before lfmap_read_unlock;
 *   - mt_synchronize_rcu and mt_rcu_cb_enter acquire it;
 *   - mt_call_rcu releases the head; mt_rcu_cb_enter acquires it.
 * Every RCU callback passed to mt_call_rcu must start with mt_rcu_cb_enter.
 */
void mt_read_lock(struct lfmap *map);
void mt_read_unlock(struct lfmap *map);
void mt_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *));
void mt_rcu_cb_enter(struct rcu_head *head);
void mt_synchronize_rcu(void);
/* urcu_memb_barrier(), with TSan write-ignores around liburcu internals. */
void mt_rcu_barrier(void);

#endif /* LFMAP_MT_HARNESS_H */
