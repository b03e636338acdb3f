/*
 * lfmap/node.h - the intrusive map: the user embeds a struct lfmap_node in
 * their own object (like cds_lfht_node) and recovers it with
 * lfmap_container_of().
 *
 * Ownership: the map never allocates, copies or frees nodes (except through
 * config.node_free at destroy). A node handed out as removed or replaced is
 * still visible to concurrent readers: free it only after a grace period of
 * the map's flavor (call_rcu / synchronize_rcu). A node may be in at most one
 * map at a time, and must not be reinserted before it was removed.
 * Keys are whatever config.key_of returns, or the config.key_size bytes at
 * config.key_offset from the node (the built-in key); a node's key must not
 * change while the node is in a map. Nodes must be 8-byte aligned (natural for struct
 * lfmap_node; a node in a packed struct may not be): -EINVAL otherwise.
 *
 * Every function here must be called with the map's read lock held, from a
 * thread registered with the map's flavor. Nodes returned are valid until the
 * caller's read unlock. Linearization points and memory orders: see
 * docs/DESIGN.md. Successful inserts/replaces have release semantics for the
 * new node; lookups have acquire semantics.
 */
#ifndef LFMAP_NODE_H
#define LFMAP_NODE_H

#include <lfmap/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfmap_node {
	/* Hash of the node's key under the seed of the table the node was
	 * inserted into (a hash of 0 is stored as 1), written by lfmap before
	 * the node is published. A reseeding migration (flood defence,
	 * lfmap_resize(LFMAP_RESIZE_RESEED)) moves nodes to a table with
	 * another seed without rewriting it, so it may be the hash under an
	 * earlier seed; lfmap itself never reads it to locate a node (it
	 * hashes the node's key under the current seed). With the built-in
	 * key it is lfmap_hash_u64 (key_size 8) or lfmap_hash_bytes of the
	 * key under that seed. Read-only for users
	 * while the node is in a map. */
	uint64_t hash;
};

#define lfmap_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* For lfmap_config.key_offset: where the key member of type lies relative
 * to its struct lfmap_node member (may be negative). */
#define LFMAP_KEY_OFFSET(type, node_member, key_member) \
	((ptrdiff_t)offsetof(type, key_member) - (ptrdiff_t)offsetof(type, node_member))

/*
 * Create an intrusive map. cfg must be non-NULL and set either hash, match
 * and key_of, or key_size and key_offset (built-in hashing and comparison of
 * a fixed-size key inside the node: no callbacks on the hot path). Any
 * thread; no RCU requirement. Returns the map, or NULL with errno EINVAL
 * (bad configuration) or ENOMEM.
 */
LFMAP_API struct lfmap *lfmap_create(const struct lfmap_config *cfg);

/*
 * Find the node whose key matches key. Read lock held. Wait-free: no atomic
 * read-modify-write, no fence, writes nothing shared. Returns the node or NULL
 * (absent; also NULL with errno EINVAL for a NULL map/key or a map of another
 * kind).
 */
LFMAP_API struct lfmap_node *lfmap_lookup_rcu(struct lfmap *map, const void *key);

/*
 * Insert node if no node with its key is present. Read lock held; lock-free.
 * Returns 0 (inserted; linearized at the CAS that publishes it), -EEXIST
 * (*existing, if non-NULL, gets the present node; the map is unchanged),
 * -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_insert_rcu(struct lfmap *map, struct lfmap_node *node,
			       struct lfmap_node **existing);

/*
 * Insert node, replacing the node with the same key if present. Read lock
 * held; lock-free. Returns 0 (inserted, *old = NULL) or 1 (replaced; *old, if
 * non-NULL, gets the replaced node, which the caller frees after a grace
 * period), -EEXIST (node itself is the node mapped for its key: nothing
 * changes, *old is not written), -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_upsert_rcu(struct lfmap *map, struct lfmap_node *node,
			       struct lfmap_node **old);

/*
 * Replace the node with node's key only if one is present. Read lock held.
 * Returns 0 (*old gets the replaced node), -ENOENT, -EEXIST (node itself is
 * mapped: nothing changes, *old is not written), -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_replace_rcu(struct lfmap *map, struct lfmap_node *node,
				struct lfmap_node **old);

/*
 * Replace expected by node, only if expected is still the node mapped for its
 * key. node's key must equal expected's key (checked like a lookup: -EINVAL).
 * Read lock held. Returns 0, -ECANCELED (another node is mapped for the key),
 * -ENOENT (no node for the key), -EEXIST (node itself is already mapped),
 * -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_cmp_replace_rcu(struct lfmap *map, struct lfmap_node *expected,
				    struct lfmap_node *node);

/*
 * Remove the node with key. Read lock held. Returns 0 (*removed, if non-NULL,
 * gets it; free it after a grace period), -ENOENT, -EINVAL, -ENOMEM (only
 * while a migration cannot allocate).
 */
LFMAP_API int lfmap_remove_rcu(struct lfmap *map, const void *key,
			       struct lfmap_node **removed);

/*
 * Remove node only if it is still the node mapped for its key. Read lock
 * held. Returns 0, -ENOENT (node is not in the map), -EINVAL, -ENOMEM.
 */
LFMAP_API int lfmap_remove_node_rcu(struct lfmap *map, struct lfmap_node *node);

/* compute() callback verdicts, shared by every map kind. */
enum lfmap_compute {
	LFMAP_COMPUTE_KEEP = 0,   /* leave the map as it is */
	LFMAP_COMPUTE_SET = 1,    /* install the new value/node */
	LFMAP_COMPUTE_REMOVE = 2, /* remove the key */
};

/*
 * Lock-free read-modify-write. fn gets the current node for key (NULL if
 * absent) and returns a verdict; for LFMAP_COMPUTE_SET it stores the node to
 * install in *newnode (its key must match key: checked like a lookup, else
 * -EINVAL; SET of the node already mapped counts as KEEP). If the map changed in
 * between, fn is called again with the new current node, so fn must be
 * repeatable and must not assume its earlier *newnode was installed.
 * LFMAP_COMPUTE_REMOVE on an absent key changes nothing and is returned as is.
 * Read lock held. Returns the verdict that took effect (>= 0): *old (if
 * non-NULL) gets the node that was current when it took effect (NULL if
 * absent; after SET or REMOVE the caller frees it after a grace period).
 * Errors: -EINVAL (also for SET with NULL *newnode or another key's node,
 * and for a verdict outside enum lfmap_compute that is >= 0), -ENOMEM; a
 * negative verdict is an error of fn and is returned as is (the map is
 * unchanged).
 */
typedef int (*lfmap_compute_fn)(struct lfmap_node *cur, struct lfmap_node **newnode,
				void *arg);
LFMAP_API int lfmap_compute_rcu(struct lfmap *map, const void *key, lfmap_compute_fn fn,
				void *arg, struct lfmap_node **old);

/*
 * Visit every node. Read lock held (for the whole iteration). Correct during
 * migrations: every key present for the whole iteration is visited exactly
 * once; keys inserted or removed meanwhile may or may not be visited, and no
 * key is visited twice. fn returns 0 to continue, non-zero to stop
 * (that value is returned). fn may update the map (it runs under the read
 * lock). Returns 0, fn's stop value, -EINVAL, or -ENOMEM (the per-bucket
 * de-duplication list, which holds more than 32 nodes only under heavy hash
 * collisions, could not grow; the iteration stopped there).
 */
typedef int (*lfmap_node_visit_fn)(struct lfmap_node *node, void *arg);
LFMAP_API int lfmap_foreach_rcu(struct lfmap *map, lfmap_node_visit_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* LFMAP_NODE_H */
