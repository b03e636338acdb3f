/* examples/readme_word.c - the word-key map example of README.md, compiled
 * and run by `make check` so the README stays true. */
#include <lfmap.h>
#include <stdio.h>
#include <urcu/urcu-memb.h>

int main(void)
{
	urcu_memb_register_thread();               /* every thread that uses a map */
	struct lfmap *m = lfmap_word_create(NULL); /* defaults: memb flavor, random seed */
	lfmap_word_put(m, 42, 1000, NULL);         /* insert or replace */
	lfmap_word_fetch_add(m, 7, 1, NULL);       /* counters: absent counts as 0 */
	uint64_t v;
	if (lfmap_word_get(m, 42, &v) == 0)        /* takes the read lock itself */
		printf("42 -> %llu\n", (unsigned long long)v);
	int ok = v == 1000 && lfmap_word_get(m, 7, &v) == 0 && v == 1;
	lfmap_destroy(m);
	urcu_memb_unregister_thread();
	return ok ? 0 : 1;
}
