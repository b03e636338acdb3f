/* examples/readme_node.c - the intrusive map example of README.md, compiled
 * and run by `make check` so the README stays true. */
#include <lfmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu/urcu-memb.h>

struct item {
	uint64_t id;
	struct lfmap_node node;
	struct rcu_head rcu;
	struct lfmap *map;
};

static void free_item(struct rcu_head *r)
{
	struct item *it = lfmap_container_of(r, struct item, rcu);
	lfmap_rcu_callback_enter(it->map, r);
	free(it);
}
static void node_free(struct lfmap_node *n, void *a)
{
	(void)a;
	free(lfmap_container_of(n, struct item, node));
}

int main(void)
{
	urcu_memb_register_thread();
	struct lfmap_config cfg;
	lfmap_config_init(&cfg);
	cfg.key_size = sizeof(uint64_t); /* built-in hash and compare of item.id */
	cfg.key_offset = LFMAP_KEY_OFFSET(struct item, node, id);
	cfg.node_free = node_free; /* destroy frees what is left */
	struct lfmap *m = lfmap_create(&cfg);

	struct item *it = calloc(1, sizeof *it);
	it->id = 42;
	it->map = m;
	lfmap_read_lock(m);
	int ok = lfmap_insert_rcu(m, &it->node, NULL) == 0;     /* -EEXIST if present */
	struct lfmap_node *n = lfmap_lookup_rcu(m, &(uint64_t){42});
	ok = ok && n == &it->node;
	struct lfmap_node *old;
	if (lfmap_remove_rcu(m, &(uint64_t){42}, &old) == 0) /* free after a grace period */
		lfmap_call_rcu(m, &lfmap_container_of(old, struct item, node)->rcu, free_item);
	else
		ok = 0;
	lfmap_read_unlock(m);
	printf("inserted, found and removed item 42: %s\n", ok ? "ok" : "FAILED");
	lfmap_destroy(m); /* waits for the map's pending callbacks */
	urcu_memb_unregister_thread();
	return ok ? 0 : 1;
}
