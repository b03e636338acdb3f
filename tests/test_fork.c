/*
 * tests/test_fork.c - fork() of a process that uses lfmap (issue 6, item 6).
 *
 * The rule (docs/RELIABILITY.md): around fork(), call the flavor's
 *     urcu_memb_call_rcu_before_fork();      in the parent, before fork()
 *     urcu_memb_call_rcu_after_fork_parent(); in the parent, after fork()
 *     urcu_memb_call_rcu_after_fork_child();  in the child, after fork()
 * (urcu_qsbr_/urcu_mb_/urcu_bp_ for the other flavors), and fork only while
 * no other thread is inside a read-side critical section of that flavor.
 * Then the child, whose only thread is the one that called fork(), can
 * look up, update, resize and destroy every map it inherited, including a
 * map in the middle of a migration with call_rcu callbacks pending; the
 * parent's maps are unaffected by what the child does.
 *
 * Children report through their exit status (they must not use Criterion's
 * assertions): 0 = every check passed, 10+ = the number of the failed check.
 * The parent waits at most FORK_TIMEOUT_S seconds for each child.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

TestSuite(fork, .init = tu_rcu_init, .fini = tu_rcu_fini, .timeout = 60);

#define FORK_TIMEOUT_S 20
#define NKEYS 3000

#define CHILD_CHECK(n, cond)      \
	do {                      \
		if (!(cond))      \
			_exit(n); \
	} while (0)

/* Wait for pid; returns its wait status, or -1 after killing it on timeout. */
static int wait_child(pid_t pid, int timeout_s)
{
	int st = 0;
	for (int i = 0; i < timeout_s * 100; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		cr_assert_neq(r, -1, "waitpid: errno %d", errno);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void expect_child_ok(pid_t pid, const char *what)
{
	int st = wait_child(pid, FORK_TIMEOUT_S);
	cr_assert_neq(st, -1, "%s: child hung (killed after %d s)", what, FORK_TIMEOUT_S);
	cr_assert(WIFEXITED(st), "%s: child died with signal %d", what,
		  WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	cr_assert_eq(WEXITSTATUS(st), 0, "%s: child check %d failed", what, WEXITSTATUS(st));
}

static uint64_t key_of(uint64_t i)
{
	return tu_mix64(i + 1);
}

/* A word map with NKEYS entries, in the middle of a grow migration, with
 * background work queued on the call_rcu worker. */
static struct lfmap *busy_word_map(void)
{
	struct lfmap_config cfg = tu_config();
	cfg.max_work = 1;
	struct lfmap *m = lfmap_word_create(&cfg);
	cr_assert_not_null(m);
	for (uint64_t i = 0; i < NKEYS; i++)
		cr_assert_eq(lfmap_word_put(m, key_of(i), i, NULL), 0);
	cr_assert_eq(lfmap_migrate_step(m, 0), 0);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	lfmap_migrate_step(m, 1);
	return m;
}

static void child_word(struct lfmap *m)
{
	urcu_memb_call_rcu_after_fork_child();
	uint64_t v = 0;
	/* what the parent had */
	for (uint64_t i = 0; i < NKEYS; i++) {
		CHILD_CHECK(10, lfmap_word_get(m, key_of(i), &v) == 0);
		CHILD_CHECK(11, v == i);
	}
	/* updates, during the inherited migration */
	for (uint64_t i = 0; i < NKEYS; i += 2)
		CHILD_CHECK(12, lfmap_word_remove(m, key_of(i), NULL) == 0);
	for (uint64_t i = NKEYS; i < 2 * NKEYS; i++)
		CHILD_CHECK(13, lfmap_word_insert(m, key_of(i), i, NULL) == 0);
	CHILD_CHECK(14, lfmap_migrate_step(m, 0) == 0);
	/* a new migration, completed by the (new) call_rcu worker or by us */
	int rc = -EAGAIN;
	for (int t = 0; rc == -EAGAIN && t < 200; t++) {
		lfmap_synchronize_rcu(m);
		urcu_memb_barrier();
		rc = lfmap_resize(m, LFMAP_RESIZE_COMPACT);
	}
	CHILD_CHECK(15, rc == 0);
	CHILD_CHECK(16, lfmap_migrate_step(m, 0) == 0);
	size_t n = 0;
	CHILD_CHECK(17, lfmap_count_exact(m, &n) == 0 && n == NKEYS + NKEYS / 2);
	for (uint64_t i = 0; i < 2 * NKEYS; i++) {
		rc = lfmap_word_get(m, key_of(i), &v);
		CHILD_CHECK(18, (i < NKEYS && i % 2 == 0) ? rc == -ENOENT : (rc == 0 && v == i));
	}
	/* a brand-new map works too, and destroy (rcu_barrier) returns */
	struct lfmap *m2 = lfmap_word_create(NULL);
	CHILD_CHECK(19, m2 != NULL && lfmap_word_put(m2, 1, 2, NULL) == 0);
	CHILD_CHECK(20, lfmap_destroy(m2) == 0);
	CHILD_CHECK(21, lfmap_destroy(m) == 0);
	_exit(0);
}

static void parent_word_unchanged(struct lfmap *m)
{
	uint64_t v = 0;
	for (uint64_t i = 0; i < 2 * NKEYS; i++) {
		int rc = lfmap_word_get(m, key_of(i), &v);
		if (i < NKEYS) {
			cr_assert_eq(rc, 0, "parent lost key #%" PRIu64, i);
			cr_assert_eq(v, i);
		} else {
			cr_assert_eq(rc, -ENOENT, "parent sees the child's key #%" PRIu64, i);
		}
	}
}

Test(fork, child_uses_inherited_word_map)
{
	struct lfmap *m = busy_word_map();
	urcu_memb_call_rcu_before_fork();
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		child_word(m);
	urcu_memb_call_rcu_after_fork_parent();
	/* the parent keeps working while the child runs */
	for (uint64_t i = 0; i < NKEYS; i++)
		cr_assert_eq(lfmap_word_fetch_add(m, key_of(i), 0, NULL), 0);
	expect_child_ok(pid, "word map");
	cr_assert_eq(lfmap_migrate_step(m, 0), 0);
	parent_word_unchanged(m);
	cr_assert_eq(lfmap_destroy(m), 0);
}

/* String map: replaced and removed nodes are freed through call_rcu, so the
 * child has callbacks of its own and inherited ones (queued before fork). */
Test(fork, child_uses_inherited_str_map)
{
	struct lfmap *m = lfmap_str_create(NULL);
	char k[32], v[32];
	for (int i = 0; i < NKEYS; i++) {
		int kl = snprintf(k, sizeof(k), "key-%d", i);
		int vl = snprintf(v, sizeof(v), "val-%d", i);
		cr_assert_eq(lfmap_str_set(m, k, (size_t)kl, v, (size_t)vl), 0);
	}
	/* queue callbacks: replace a few hundred values */
	for (int i = 0; i < 300; i++) {
		int kl = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(lfmap_str_set(m, k, (size_t)kl, "x", 1), 1);
	}
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_GROW), 0);
	urcu_memb_call_rcu_before_fork();
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		urcu_memb_call_rcu_after_fork_child();
		char buf[32];
		size_t len = 0;
		for (int i = 0; i < NKEYS; i++) {
			int kl = snprintf(k, sizeof(k), "key-%d", i);
			CHILD_CHECK(10, lfmap_str_get(m, k, (size_t)kl, buf, sizeof(buf), &len) == 0);
			CHILD_CHECK(11, i < 300 ? (len == 1 && buf[0] == 'x') : len > 4);
			CHILD_CHECK(12, lfmap_str_set(m, k, (size_t)kl, "child", 5) == 1);
		}
		for (int i = 0; i < NKEYS; i += 3) {
			int kl = snprintf(k, sizeof(k), "key-%d", i);
			CHILD_CHECK(13, lfmap_str_del(m, k, (size_t)kl) == 0);
		}
		CHILD_CHECK(14, lfmap_migrate_step(m, 0) == 0);
		size_t n = 0;
		CHILD_CHECK(15, lfmap_count_exact(m, &n) == 0 && n == NKEYS - (NKEYS + 2) / 3);
		lfmap_synchronize_rcu(m);
		CHILD_CHECK(16, lfmap_destroy(m) == 0); /* runs every pending free */
		_exit(0);
	}
	urcu_memb_call_rcu_after_fork_parent();
	expect_child_ok(pid, "str map");
	char buf[32];
	size_t len = 0;
	for (int i = 0; i < NKEYS; i++) {
		int kl = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(lfmap_str_get(m, k, (size_t)kl, buf, sizeof(buf), &len), 0);
		cr_assert(i < 300 ? (len == 1 && buf[0] == 'x') : len > 4, "parent key %d", i);
	}
	cr_assert_eq(lfmap_migrate_step(m, 0), 0);
	cr_assert_eq(lfmap_destroy(m), 0);
}

/* Node map: the child inherits the user's nodes (copy-on-write memory). */
static struct tu_node_cb g_cb;

Test(fork, child_uses_inherited_node_map)
{
	struct lfmap_config cfg = tu_node_config(&g_cb, TU_HASH_GOOD);
	cfg.node_free = tu_node_free_cb;
	struct lfmap *m = lfmap_create(&cfg);
	cr_assert_not_null(m);
	static struct tu_node *nodes[NKEYS];
	lfmap_read_lock(m);
	for (uint64_t i = 0; i < NKEYS; i++) {
		nodes[i] = tu_node_new(i, i);
		cr_assert_eq(lfmap_insert_rcu(m, &nodes[i]->node, NULL), 0);
	}
	lfmap_read_unlock(m);
	cr_assert_eq(tu_resize_retry(m, LFMAP_RESIZE_SHRINK), 0);
	urcu_memb_call_rcu_before_fork();
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		urcu_memb_call_rcu_after_fork_child();
		lfmap_read_lock(m);
		for (uint64_t i = 0; i < NKEYS; i++)
			CHILD_CHECK(10, lfmap_lookup_rcu(m, &i) == &nodes[i]->node);
		for (uint64_t i = 0; i < NKEYS; i += 2) {
			struct lfmap_node *old = NULL;
			CHILD_CHECK(11, lfmap_remove_rcu(m, &i, &old) == 0 && old == &nodes[i]->node);
		}
		struct tu_node *extra = tu_node_new(NKEYS + 1, 0);
		CHILD_CHECK(12, lfmap_insert_rcu(m, &extra->node, NULL) == 0);
		lfmap_read_unlock(m);
		CHILD_CHECK(13, lfmap_migrate_step(m, 0) == 0);
		size_t n = 0;
		CHILD_CHECK(14, lfmap_count_exact(m, &n) == 0 && n == NKEYS / 2 + 1);
		lfmap_synchronize_rcu(m);
		CHILD_CHECK(15, lfmap_destroy(m) == 0);
		CHILD_CHECK(16, g_cb.node_free_calls == NKEYS / 2 + 1);
		free(extra); /* node_free only counts; the test owns the nodes */
		_exit(0);
	}
	urcu_memb_call_rcu_after_fork_parent();
	expect_child_ok(pid, "node map");
	cr_assert_eq(lfmap_migrate_step(m, 0), 0);
	size_t n = 0;
	cr_assert_eq(lfmap_count_exact(m, &n), 0);
	cr_assert_eq(n, NKEYS, "the child's removals leaked into the parent");
	cr_assert_eq(lfmap_destroy(m), 0);
	cr_assert_eq(g_cb.node_free_calls, NKEYS);
	for (uint64_t i = 0; i < NKEYS; i++)
		tu_node_delete(nodes[i]);
}

/* Forking again from the child (a daemon that double-forks) works the same. */
Test(fork, grandchild)
{
	struct lfmap *m = busy_word_map();
	urcu_memb_call_rcu_before_fork();
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		urcu_memb_call_rcu_after_fork_child();
		CHILD_CHECK(10, lfmap_word_fetch_add(m, key_of(0), 0, NULL) == 0);
		urcu_memb_call_rcu_before_fork();
		pid_t g = fork();
		CHILD_CHECK(11, g != -1);
		if (g == 0)
			child_word(m); /* exits */
		urcu_memb_call_rcu_after_fork_parent();
		int st = 0;
		CHILD_CHECK(12, waitpid(g, &st, 0) == g);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			_exit(13);
		CHILD_CHECK(14, lfmap_destroy(m) == 0);
		_exit(0);
	}
	urcu_memb_call_rcu_after_fork_parent();
	expect_child_ok(pid, "grandchild");
	cr_assert_eq(lfmap_destroy(m), 0);
}

/*
 * Why the rule has its first half: without call_rcu_after_fork_child the
 * child has no call_rcu worker (threads do not survive fork), so callbacks
 * the map queues never run and lfmap_destroy (rcu_barrier) never returns.
 */
Test(fork, without_after_fork_child_destroy_hangs)
{
	struct lfmap *m = lfmap_str_create(NULL);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(lfmap_str_set(m, &i, sizeof(i), "a", 1), 0);
	tu_quiesce();
	pid_t pid = fork(); /* no before/after calls on purpose */
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		for (int i = 0; i < 100; i++) /* replaced nodes: call_rcu frees */
			CHILD_CHECK(10, lfmap_str_set(m, &i, sizeof(i), "b", 1) == 1);
		alarm(2);
		lfmap_destroy(m);
		_exit(0); /* destroy returned */
	}
	int st = wait_child(pid, FORK_TIMEOUT_S);
	cr_assert_neq(st, -1);
	if (WIFEXITED(st))
		cr_assert_neq(WEXITSTATUS(st), 10, "child's updates failed");
	cr_log_info("fork without after_fork_child: child status 0x%x (%s)", st,
		    WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? "destroy hung" : "destroy returned");
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM,
		  "destroy returned in a child without call_rcu_after_fork_child (status 0x%x)",
		  st);
	cr_assert_eq(lfmap_destroy(m), 0);
}

/*
 * Why the rule has its second half: a thread that was inside a read-side
 * critical section when another thread forked does not exist in the child,
 * but its registration does, so the child's grace periods wait for it
 * forever. Lookups and updates still work in such a child (they wait for no
 * grace period); lfmap_synchronize_rcu and lfmap_destroy never return. This
 * test pins that liburcu behaviour: it fails if the child's grace period
 * completes (then the documentation can relax the rule).
 */
static volatile int g_reader_in, g_reader_stop;

static void *reader_thread(void *arg)
{
	struct lfmap *m = arg;
	urcu_memb_register_thread();
	lfmap_read_lock(m);
	__atomic_store_n(&g_reader_in, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&g_reader_stop, __ATOMIC_ACQUIRE))
		usleep(1000);
	lfmap_read_unlock(m);
	urcu_memb_unregister_thread();
	return NULL;
}

Test(fork, reader_inside_section_at_fork_blocks_child_grace_periods)
{
	struct lfmap *m = lfmap_word_create(NULL);
	cr_assert_eq(lfmap_word_put(m, 7, 70, NULL), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, reader_thread, m), 0);
	while (!__atomic_load_n(&g_reader_in, __ATOMIC_ACQUIRE))
		usleep(1000);
	urcu_memb_call_rcu_before_fork();
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		urcu_memb_call_rcu_after_fork_child();
		uint64_t v = 0;
		CHILD_CHECK(10, lfmap_word_get(m, 7, &v) == 0 && v == 70);
		CHILD_CHECK(11, lfmap_word_put(m, 8, 80, NULL) == 0);
		CHILD_CHECK(12, lfmap_word_get(m, 8, &v) == 0 && v == 80);
		alarm(2); /* SIGALRM ends the wait below */
		lfmap_synchronize_rcu(m);
		_exit(0); /* the grace period completed */
	}
	urcu_memb_call_rcu_after_fork_parent();
	int st = wait_child(pid, FORK_TIMEOUT_S);
	__atomic_store_n(&g_reader_stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	cr_assert_neq(st, -1);
	if (WIFEXITED(st))
		cr_assert_neq(WEXITSTATUS(st), 0, "child check %d failed", WEXITSTATUS(st));
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM,
		  "the child's grace period completed although a reader was inside a "
		  "read-side section at fork (status 0x%x): relax the rule in RELIABILITY.md",
		  st);
	cr_assert_eq(lfmap_destroy(m), 0);
}
