/*
 * map.c - map lifecycle, configuration, counters, statistics, and the public
 * migration controls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void lfmap_config_init(struct lfmap_config *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->struct_size = sizeof *cfg;
	cfg->grow_pct = 75;
	cfg->shrink_pct = 10;
	cfg->max_work = 2;
}

unsigned lfmap_slots_per_bucket(void)
{
	return LFM_SLOTS;
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = LFM_MIN_BUCKETS;
	while (p < n && p < LFM_MAX_BUCKETS)
		p <<= 1;
	return p;
}

/* A node map describes its key by three callbacks or by key_size and
 * key_offset (the built-in fixed-size key), never both. */
static bool node_keys_ok(const struct lfmap_config *cfg)
{
	bool callbacks = cfg->hash != NULL || cfg->match != NULL || cfg->key_of != NULL;
	if (cfg->key_size != 0)
		return !callbacks && cfg->key_size <= UINT32_MAX;
	return cfg->hash != NULL && cfg->match != NULL && cfg->key_of != NULL;
}

struct lfmap *lfm_map_create(const struct lfmap_config *ucfg, int kind)
{
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	if (ucfg != NULL) {
		if (ucfg->struct_size == 0 || ucfg->struct_size > sizeof cfg) {
			errno = EINVAL;
			return NULL;
		}
		memcpy(&cfg, ucfg, ucfg->struct_size);
	}
	if (cfg.grow_pct == 0 || cfg.grow_pct > 100 || cfg.shrink_pct == 0 ||
	    cfg.shrink_pct * 2 >= cfg.grow_pct ||
	    cfg.max_work == 0 || cfg.size_hint > (SIZE_MAX >> 8) ||
	    (cfg.allocator.alloc == NULL) != (cfg.allocator.free == NULL) ||
	    (kind == LFM_KIND_NODE && !node_keys_ok(&cfg))) {
		errno = EINVAL;
		return NULL;
	}

	/* The map object itself comes from the user's allocator when given. */
	struct lfmap tmp = {.allocator = cfg.allocator, .flags = cfg.flags};
	struct lfmap *m = lfm_alloc(&tmp, sizeof *m, LFM_CACHELINE);
	if (m == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	m->kind = (uint32_t)kind;
	m->flags = cfg.flags;
	m->grow_pct = cfg.grow_pct;
	m->shrink_pct = cfg.shrink_pct;
	m->max_work = cfg.max_work;
	m->flavor = cfg.flavor != NULL ? cfg.flavor : &urcu_memb_flavor;
	m->hash = cfg.hash;
	m->match = cfg.match;
	m->key_of = cfg.key_of;
	m->node_free = cfg.node_free;
	m->cb_arg = cfg.cb_arg;
	m->key_size = kind == LFM_KIND_NODE ? (uint32_t)cfg.key_size : 0;
	m->key_off = cfg.key_offset;
	m->allocator = cfg.allocator;
	m->trace = cfg.trace;
	m->trace_arg = cfg.trace_arg;
	if (m->trace == NULL) {
		const char *env = getenv("LFMAP_TRACE");
		if (env != NULL && env[0] != '\0' && strcmp(env, "0") != 0)
			m->trace_arg = stderr; /* lfm_trace() writes there */
	}

	uint64_t seed = (cfg.flags & LFMAP_F_FIXED_SEED) ? cfg.seed : lfm_random_seed();
	uint64_t want = cfg.size_hint == 0
				? 1
				: ((uint64_t)cfg.size_hint * 100 / cfg.grow_pct + LFM_SLOTS - 1) /
					  LFM_SLOTS;
	struct lfm_table *t = lfm_table_new(m, pow2_at_least(want), seed);
	if (t == NULL) {
		lfm_free(&tmp, m, sizeof *m);
		errno = ENOMEM;
		return NULL;
	}
	t->ready = 1; /* nothing to reclaim before the first migration (I8) */
	m->min_buckets = t->nbuckets;
	/* release: the table is initialised before any thread can load it. */
	lfm_store_release(&m->root, (uint64_t)(uintptr_t)t);
	return m;
}

void lfm_trace(struct lfmap *m, const char *fmt, ...)
{
	if (m->trace == NULL && m->trace_arg == NULL)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (m->trace != NULL)
		m->trace(m->trace_arg, line);
	else
		fprintf((FILE *)m->trace_arg, "%s\n", line);
}

/* ---- counters (I10) ----------------------------------------------------------- */

size_t lfmap_count_approx(const struct lfmap *m)
{
	if (m == NULL)
		return 0;
	int64_t sum = 0;
	for (int i = 0; i < LFM_NSTRIPES; i++)
		sum += (int64_t)(lfm_load_relaxed(&m->stripes[i].claims) +
				 lfm_load_relaxed(&m->stripes[i].adds) -
				 lfm_load_relaxed(&m->stripes[i].removes));
	return sum > 0 ? (size_t)sum : 0;
}

uint64_t lfm_removes_total(const struct lfmap *m)
{
	uint64_t sum = 0;
	for (int i = 0; i < LFM_NSTRIPES; i++)
		sum += lfm_load_relaxed(&m->stripes[i].removes);
	return sum;
}

uint64_t lfm_claims_total(const struct lfmap *m)
{
	uint64_t sum = 0;
	for (int i = 0; i < LFM_NSTRIPES; i++)
		sum += lfm_load_relaxed(&m->stripes[i].claims);
	return sum;
}

static int count_word(uint64_t k, uint64_t v, void *arg)
{
	(void)k;
	(void)v;
	++*(size_t *)arg;
	return 0;
}

static int count_node(struct lfmap_node *n, void *arg)
{
	(void)n;
	++*(size_t *)arg;
	return 0;
}

int lfmap_count_exact(struct lfmap *m, size_t *count)
{
	if (m == NULL || count == NULL)
		return -EINVAL;
	size_t n = 0;
	lfm_read_lock(m);
	int r = m->kind == LFM_KIND_WORD ? lfm_word_foreach(m, count_word, &n)
					 : lfm_node_foreach(m, count_node, &n);
	lfm_read_unlock(m);
	if (r < 0)
		return r;
	*count = n;
	return 0;
}

/* ---- migration controls -------------------------------------------------------- */

int lfmap_resize(struct lfmap *m, enum lfmap_resize kind)
{
	if (m == NULL)
		return -EINVAL;
	if (kind != LFMAP_RESIZE_GROW && kind != LFMAP_RESIZE_SHRINK &&
	    kind != LFMAP_RESIZE_COMPACT && kind != LFMAP_RESIZE_RESEED)
		return -EINVAL;
	lfm_read_lock(m);
	struct lfm_table *t = lfm_root_acquire(m);
	uint64_t n = t->nbuckets;
	uint64_t nn = kind == LFMAP_RESIZE_GROW ? n * 2 : kind == LFMAP_RESIZE_SHRINK ? n / 2 : n;
	int r = lfm_start_migration(m, t, (int)kind, nn);
	lfm_read_unlock(m);
	return r;
}

int lfmap_migrate_step(struct lfmap *m, size_t nbuckets)
{
	if (m == NULL)
		return -EINVAL;
	int r;
	lfm_read_lock(m);
	struct lfm_table *t = lfm_root_acquire(m);
	if (nbuckets == 0) {
		/* Finish: repeat until the root changes (one migration). */
		r = 0;
		while (r == 0 && lfm_load_acquire(&t->next) != 0 && lfm_root_acquire(m) == t)
			r = lfm_migrate_work(m, t, t->nbuckets, false);
	} else {
		r = lfm_migrate_work(m, t, nbuckets, false);
	}
	if (r == 0)
		r = lfm_load_acquire(&lfm_root_acquire(m)->next) != 0;
	lfm_read_unlock(m);
	return r;
}

/* ---- statistics ------------------------------------------------------------------ */

/*
 * The walk leaves its read-side section every LFM_STATS_CHUNK buckets, so
 * that a grace period (and with it every map's reclamation and next
 * migration) waits for one chunk, not for the whole table: a 4M-key word
 * map took 62 ms to walk in one section. Between two sections the root may
 * change, and the table walked so far may be freed: it is never touched
 * again. The walk then starts over on the new root, its counts reset (a
 * snapshot of one table, as before); after LFM_STATS_RESTARTS such
 * restarts it finishes in one section. The table is told by its birth
 * time, not its address (a new table may reuse a freed one's, and a freed
 * table's pointer value is indeterminate in C): the first table's is 0,
 * and every later one is created at least a grace period after the one
 * before it (I8), so no two tables of a map share one.
 */
#define LFM_STATS_CHUNK 4096
#define LFM_STATS_RESTARTS 4

int lfmap_stats(struct lfmap *m, struct lfmap_stats *st)
{
	if (m == NULL || st == NULL)
		return -EINVAL;
	memset(st, 0, sizeof *st);
	lfm_read_lock(m);
	struct lfm_table *t = lfm_root_acquire(m);
	uint64_t born = t->born_ns; /* the walked table's identity (above) */
	unsigned restarts = 0;
	for (uint64_t i = 0; i < t->nbuckets; i++) {
		if (i % LFM_STATS_CHUNK == LFM_STATS_CHUNK - 1 && restarts < LFM_STATS_RESTARTS) {
			lfm_read_unlock(m);
			lfm_read_lock(m);
			struct lfm_table *r = lfm_root_acquire(m);
			if (r->born_ns != born) {
				t = r;
				born = r->born_ns;
				restarts++;
				memset(st, 0, sizeof *st);
				i = UINT64_MAX; /* ++ makes it 0 */
				continue;
			}
		}
		uint64_t len = 0;
		for (struct lfm_bucket *b = &t->buckets[i]; b != NULL;
		     b = lfm_ctrl_next(lfm_load_acquire(&b->ctrl))) {
			len++;
			for (int s = 0; s < LFM_SLOTS; s++) {
				if (lfm_load_relaxed(&b->slot[s].key) == 0)
					continue;
				st->claimed_slots++;
				if (!(lfm_load_relaxed(&b->slot[s].val) & LFM_V_LIVE))
					st->tombstones++;
			}
		}
		st->overflow_buckets += len - 1;
		if (len > st->longest_chain)
			st->longest_chain = len;
	}
	st->buckets = t->nbuckets;
	st->migrating = lfm_load_acquire(&t->next) != 0;
	lfm_read_unlock(m);

	st->entries = lfmap_count_approx(m);
	st->slots = (st->buckets + st->overflow_buckets) * LFM_SLOTS;
	st->load_factor = (double)st->entries / (double)(st->buckets * LFM_SLOTS);
	st->migrations_started = lfm_load_relaxed(&m->migrations_started);
	st->migrations_finished = lfm_load_relaxed(&m->migrations_finished);
	st->grows = lfm_load_relaxed(&m->grows);
	st->shrinks = lfm_load_relaxed(&m->shrinks);
	st->compactions = lfm_load_relaxed(&m->compactions);
	st->seed_changes = lfm_load_relaxed(&m->reseeds);
	st->long_chains = lfm_load_relaxed(&m->long_chains);
	st->evacuated_by_writers = lfm_load_relaxed(&m->evac_writer);
	st->evacuated_by_background = lfm_load_relaxed(&m->evac_bg);
	st->longest_migration_ns = lfm_load_relaxed(&m->longest_ns);
	st->last_migration_ns = lfm_load_relaxed(&m->last_ns);
	return 0;
}

/* ---- destroy ------------------------------------------------------------------------ */

static int free_node_cb(struct lfmap_node *n, void *arg)
{
	struct lfmap *m = arg;
	m->node_free(n, m->cb_arg);
	return 0;
}

static int free_str_cb(struct lfmap_node *n, void *arg)
{
	lfm_str_free_node(arg, n);
	return 0;
}

int lfmap_destroy(struct lfmap *m)
{
	if (m == NULL)
		return -EINVAL;
	if (m->kind == LFM_KIND_NODE && m->node_free == NULL) {
		size_t n = 0;
		int r = lfmap_count_exact(m, &n);
		if (r < 0)
			return r;
		if (n != 0)
			return -EBUSY;
	}
	/* No concurrent users (documented): stop background work, then wait
	 * until every callback that references the map has run. */
	lfm_store_release(&m->destroying, 1);
	lfm_rcu_barrier(m);
	while (lfm_load_acquire(&m->pending_cbs) != 0)
		lfm_rcu_barrier(m);

	/* Visit every entry exactly once (the iteration rules hold
	 * mid-migration too), then free the tables. */
	lfm_read_lock(m);
	if (m->kind == LFM_KIND_NODE)
		(void)lfm_node_foreach_quiescent(m, free_node_cb, m);
	else if (m->kind == LFM_KIND_STR)
		(void)lfm_node_foreach_quiescent(m, free_str_cb, m);
	lfm_read_unlock(m);

	struct lfm_table *t = lfm_root_acquire(m);
	struct lfm_table *u = lfm_next_acquire(t);
	lfm_table_free(m, t);
	if (u != NULL)
		lfm_table_free(m, u);
	struct lfmap_allocator a = m->allocator;
	struct lfmap tmp = {.allocator = a};
	lfm_free(&tmp, m, sizeof *m);
	return 0;
}

/* ---- constructors ------------------------------------------------------------------ */

struct lfmap *lfmap_create(const struct lfmap_config *cfg)
{
	if (cfg == NULL) {
		errno = EINVAL;
		return NULL;
	}
	return lfm_map_create(cfg, LFM_KIND_NODE);
}

struct lfmap *lfmap_word_create(const struct lfmap_config *cfg)
{
	return lfm_map_create(cfg, LFM_KIND_WORD);
}
