/*
 * str.c - the byte-string map: the node engine with library-owned nodes that
 * hold a copy of key and value, SipHash-1-3 keyed with the table seed, and
 * call_rcu reclamation of replaced and removed nodes.
 */
#include <string.h>

#include "internal.h"

struct lfm_strkey {
	const void *p;
	size_t len;
};

struct lfm_strnode {
	struct lfmap_node node;
	struct lfm_strkey key; /* key.p points into data */
	size_t vlen;
	size_t bytes; /* allocation size */
	struct rcu_head rcu;
	struct lfmap *map;
	unsigned char data[]; /* key bytes, then value bytes */
};

static inline struct lfm_strnode *to_str(const struct lfmap_node *n)
{
	return lfmap_container_of(n, struct lfm_strnode, node);
}

static inline const void *str_val(const struct lfm_strnode *sn)
{
	return sn->data + sn->key.len;
}

static uint64_t str_hash(const void *key, uint64_t seed, void *arg)
{
	const struct lfm_strkey *k = key;
	(void)arg;
	return lfmap_hash_bytes(k->p, k->len, seed);
}

static int str_match(const struct lfmap_node *n, const void *key, void *arg)
{
	const struct lfm_strnode *sn = to_str(n);
	const struct lfm_strkey *k = key;
	(void)arg;
	return sn->key.len == k->len && (k->len == 0 || memcmp(sn->data, k->p, k->len) == 0);
}

static const void *str_key_of(const struct lfmap_node *n, void *arg)
{
	(void)arg;
	return &to_str(n)->key;
}

static struct lfm_strnode *str_node_new(struct lfmap *m, const void *key, size_t klen,
					const void *val, size_t vlen)
{
	size_t bytes = sizeof(struct lfm_strnode) + klen + vlen;
	if (bytes < klen || bytes - klen < vlen)
		return NULL; /* overflow */
	struct lfm_strnode *sn = lfm_alloc(m, bytes, 16);
	if (sn == NULL)
		return NULL;
	if (klen != 0)
		memcpy(sn->data, key, klen);
	if (vlen != 0)
		memcpy(sn->data + klen, val, vlen);
	sn->key.p = sn->data;
	sn->key.len = klen;
	sn->vlen = vlen;
	sn->bytes = bytes;
	sn->map = m;
	return sn;
}

void lfm_str_free_node(struct lfmap *m, struct lfmap_node *n)
{
	struct lfm_strnode *sn = to_str(n);
	lfm_free(m, sn, sn->bytes);
}

static void str_free_cb(struct rcu_head *head)
{
	struct lfm_strnode *sn = caa_container_of(head, struct lfm_strnode, rcu);
	struct lfmap *m = lfm_rcu_callback_enter(head, &sn->map);
	lfm_free(m, sn, sn->bytes);
	lfm_rcu_callback_exit(m);
}

/* A node that was mapped: readers may still hold it until a grace period. */
static void str_retire(struct lfmap *m, struct lfmap_node *n)
{
	if (n != NULL)
		lfm_call_rcu(m, &to_str(n)->rcu, str_free_cb);
}

struct lfmap *lfmap_str_create(const struct lfmap_config *ucfg)
{
	struct lfmap_config cfg;
	if (ucfg != NULL) {
		if (ucfg->struct_size == 0 || ucfg->struct_size > sizeof cfg) {
			errno = EINVAL;
			return NULL;
		}
		lfmap_config_init(&cfg);
		memcpy(&cfg, ucfg, ucfg->struct_size);
	} else {
		lfmap_config_init(&cfg);
	}
	cfg.hash = str_hash;
	cfg.match = str_match;
	cfg.key_of = str_key_of;
	cfg.node_free = NULL;
	cfg.cb_arg = NULL;
	cfg.key_size = 0; /* the string map's own callbacks, always */
	cfg.key_offset = 0;
	return lfm_map_create(&cfg, LFM_KIND_STR);
}

static bool bad_key(const void *key, size_t klen)
{
	return (key == NULL && klen != 0) || klen > LFMAP_STR_KEY_MAX;
}

int lfmap_str_get_rcu(struct lfmap *m, const void *key, size_t klen, const void **val,
		      size_t *vlen)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_STR) || bad_key(key, klen))
		return -EINVAL;
	struct lfm_strkey k = {key, klen};
	struct lfmap_node *n = lfm_node_lookup(m, &k);
	if (n == NULL)
		return -ENOENT;
	if (val != NULL)
		*val = str_val(to_str(n));
	if (vlen != NULL)
		*vlen = to_str(n)->vlen;
	return 0;
}

int lfmap_str_get(struct lfmap *m, const void *key, size_t klen, void *buf, size_t bufsz,
		  size_t *vlen)
{
	if (lfm_bad_map(m, LFM_KIND_STR) || bad_key(key, klen) || (buf == NULL && bufsz != 0))
		return -EINVAL;
	const void *v;
	size_t len;
	lfm_read_lock(m);
	int r = lfmap_str_get_rcu(m, key, klen, &v, &len);
	if (r == 0) {
		size_t n = len < bufsz ? len : bufsz;
		if (n != 0)
			memcpy(buf, v, n);
		if (vlen != NULL)
			*vlen = len;
		if (len > bufsz)
			r = -ENOSPC;
	}
	lfm_read_unlock(m);
	return r;
}

static int str_put(struct lfmap *m, const void *key, size_t klen, const void *val, size_t vlen,
		   enum lfm_node_op op)
{
	if (lfm_bad_map(m, LFM_KIND_STR) || bad_key(key, klen) || (val == NULL && vlen != 0))
		return -EINVAL;
	struct lfm_strnode *sn = str_node_new(m, key, klen, val, vlen);
	if (sn == NULL)
		return -ENOMEM;
	struct lfmap_node *cur = NULL;
	lfm_read_lock(m);
	int r = lfm_node_put(m, &sn->node, op, &cur);
	lfm_read_unlock(m);
	if (r == 1 || (r == 0 && op == N_REPLACE))
		str_retire(m, cur); /* replaced */
	else if (r < 0)
		lfm_free(m, sn, sn->bytes); /* never published */
	return r;
}

int lfmap_str_set(struct lfmap *m, const void *key, size_t klen, const void *val, size_t vlen)
{
	return str_put(m, key, klen, val, vlen, N_UPSERT);
}

int lfmap_str_add(struct lfmap *m, const void *key, size_t klen, const void *val, size_t vlen)
{
	return str_put(m, key, klen, val, vlen, N_INSERT);
}

int lfmap_str_replace(struct lfmap *m, const void *key, size_t klen, const void *val,
		      size_t vlen)
{
	return str_put(m, key, klen, val, vlen, N_REPLACE);
}

int lfmap_str_del(struct lfmap *m, const void *key, size_t klen)
{
	if (lfm_bad_map(m, LFM_KIND_STR) || bad_key(key, klen))
		return -EINVAL;
	struct lfm_strkey k = {key, klen};
	struct lfmap_node *old = NULL;
	lfm_read_lock(m);
	int r = lfm_node_remove(m, &k, &old);
	lfm_read_unlock(m);
	if (r == 0)
		str_retire(m, old);
	return r;
}

/* ---- compute ------------------------------------------------------------------- */

struct str_compute {
	struct lfmap *m;
	const void *key;
	size_t klen;
	lfmap_str_compute_fn fn;
	void *arg;
	struct lfm_strnode *spare; /* node built by the latest SET attempt */
};

/* Node-level compute callback: runs the user's byte-level fn and builds the
 * node to install. A node built by an earlier attempt was never published
 * (its CAS failed or was never tried), so it is freed directly. */
static int str_compute_node(struct lfmap_node *cur, struct lfmap_node **newnode, void *arg)
{
	struct str_compute *c = arg;
	const void *nv = NULL;
	size_t nl = 0;
	const struct lfm_strnode *sc = cur != NULL ? to_str(cur) : NULL;
	int verdict = c->fn(sc != NULL ? str_val(sc) : NULL, sc != NULL ? sc->vlen : 0, &nv, &nl,
			    c->arg);

	if (c->spare != NULL) {
		lfm_free(c->m, c->spare, c->spare->bytes);
		c->spare = NULL;
	}
	if (verdict != LFMAP_COMPUTE_SET)
		return verdict;
	if (nv == NULL && nl != 0)
		return -EINVAL;
	c->spare = str_node_new(c->m, c->key, c->klen, nv, nl);
	if (c->spare == NULL)
		return -ENOMEM;
	*newnode = &c->spare->node;
	return verdict;
}

int lfmap_str_compute(struct lfmap *m, const void *key, size_t klen, lfmap_str_compute_fn fn,
		      void *arg)
{
	if (lfm_bad_map(m, LFM_KIND_STR) || bad_key(key, klen) || fn == NULL)
		return -EINVAL;
	struct lfm_strkey k = {key, klen};
	struct str_compute c = {.m = m, .key = key, .klen = klen, .fn = fn, .arg = arg};
	struct lfmap_node *old = NULL;
	lfm_read_lock(m);
	int r = lfm_node_compute(m, &k, str_compute_node, &c, &old);
	lfm_read_unlock(m);
	if (r == LFMAP_COMPUTE_SET) {
		c.spare = NULL; /* installed */
		str_retire(m, old);
	} else if (r == LFMAP_COMPUTE_REMOVE) {
		str_retire(m, old);
	}
	if (c.spare != NULL)
		lfm_free(m, c.spare, c.spare->bytes);
	return r;
}

/* ---- iteration ------------------------------------------------------------------ */

struct str_visit {
	lfmap_str_visit_fn fn;
	void *arg;
};

static int str_visit_node(struct lfmap_node *n, void *arg)
{
	struct str_visit *v = arg;
	const struct lfm_strnode *sn = to_str(n);
	return v->fn(sn->data, sn->key.len, str_val(sn), sn->vlen, v->arg);
}

int lfmap_str_foreach_rcu(struct lfmap *m, lfmap_str_visit_fn fn, void *arg)
{
	if (lfm_bad_map_rcu(m, LFM_KIND_STR) || fn == NULL)
		return -EINVAL;
	struct str_visit v = {fn, arg};
	return lfm_node_foreach(m, str_visit_node, &v);
}
