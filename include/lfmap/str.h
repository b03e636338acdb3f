/*
 * lfmap/str.h - the byte-string map: keys and values are byte strings copied
 * into library-owned nodes. The hash is SipHash-1-3 keyed with the map's
 * random seed. Replaced and removed nodes are freed through the flavor's
 * call_rcu, so a value pointer from lfmap_str_get_rcu() stays valid until the
 * caller's read unlock.
 *
 * Keys: 0 to LFMAP_STR_KEY_MAX bytes (a NULL key pointer is allowed only with
 * length 0). Values: any length that the allocator can hold.
 * All functions take the read lock themselves except the _rcu ones, which
 * expect the caller to hold it. Lookups are wait-free; updates lock-free.
 */
#ifndef LFMAP_STR_H
#define LFMAP_STR_H

#include <lfmap/common.h>
#include <lfmap/node.h> /* enum lfmap_compute */

#ifdef __cplusplus
extern "C" {
#endif

#define LFMAP_STR_KEY_MAX ((size_t)1 << 30)

/* Create a string map; cfg may be NULL. hash/match/key_of/node_free are
 * ignored. Returns the map or NULL with errno EINVAL / ENOMEM. */
LFMAP_API struct lfmap *lfmap_str_create(const struct lfmap_config *cfg);

/*
 * Copy the value of key into buf (at most bufsz bytes). *vlen (if non-NULL)
 * gets the value's full length. Returns 0, -ENOSPC (value longer than bufsz;
 * buf holds its first bufsz bytes), -ENOENT, -EINVAL.
 */
LFMAP_API int lfmap_str_get(struct lfmap *map, const void *key, size_t klen, void *buf,
			    size_t bufsz, size_t *vlen);

/* Zero-copy get: *val points into the map's node, valid until the caller's
 * read unlock. val and vlen may be NULL (an existence check). Read lock held.
 * Returns 0, -ENOENT, -EINVAL. */
LFMAP_API int lfmap_str_get_rcu(struct lfmap *map, const void *key, size_t klen,
				const void **val, size_t *vlen);

/* Insert or replace (the map copies key and value). Returns 0 (inserted), 1
 * (replaced), -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_str_set(struct lfmap *map, const void *key, size_t klen, const void *val,
			    size_t vlen);
/* Insert if absent. Returns 0, -EEXIST, -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_str_add(struct lfmap *map, const void *key, size_t klen, const void *val,
			    size_t vlen);
/* Replace if present. Returns 0, -ENOENT, -EINVAL, -ENOMEM. */
LFMAP_API int lfmap_str_replace(struct lfmap *map, const void *key, size_t klen,
				const void *val, size_t vlen);
/* Remove. Returns 0, -ENOENT, -EINVAL, -ENOMEM (only while a migration
 * cannot allocate; the map is unchanged). */
LFMAP_API int lfmap_str_del(struct lfmap *map, const void *key, size_t klen);

/*
 * Lock-free read-modify-write. fn gets the current value (cur NULL and
 * curlen 0 if absent) and returns an enum lfmap_compute verdict; for SET it
 * points *newval / *newlen at the bytes to store (copied by the map before
 * fn's result is published; they need only stay valid until the next call of
 * fn or the return of lfmap_str_compute). fn may be called several times.
 * Returns the verdict that took effect, -EINVAL (also for a verdict >= 0
 * outside enum lfmap_compute), -ENOMEM; a negative verdict is fn's error and
 * is returned as is (the map is unchanged).
 */
typedef int (*lfmap_str_compute_fn)(const void *cur, size_t curlen, const void **newval,
				    size_t *newlen, void *arg);
LFMAP_API int lfmap_str_compute(struct lfmap *map, const void *key, size_t klen,
				lfmap_str_compute_fn fn, void *arg);

/* Visit every entry (guarantees as lfmap_foreach_rcu). Read lock held;
 * pointers valid until unlock. Returns 0, fn's stop value, -EINVAL or
 * -ENOMEM (as lfmap_foreach_rcu). */
typedef int (*lfmap_str_visit_fn)(const void *key, size_t klen, const void *val,
				  size_t vlen, void *arg);
LFMAP_API int lfmap_str_foreach_rcu(struct lfmap *map, lfmap_str_visit_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* LFMAP_STR_H */
