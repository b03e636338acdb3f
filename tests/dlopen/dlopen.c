/*
 * tests/dlopen/dlopen.c - liblfmap.so loads with dlopen() into a process that
 * was not linked with liburcu (a plugin of a daemon), and works.
 *
 * Why a test: the cheapest way for liblfmap.so to reach liburcu's per-thread
 * reader is the initial-exec TLS model, and a build with it passes every
 * other test, yet dlopen then fails with "liburcu-memb.so.8: cannot allocate
 * memory in static TLS block" (measured, session 5: the reader's TLS block
 * is 384 bytes). The release build uses TLS descriptors instead
 * (scripts/gen-ninja.sh tls_cflags), which work in both cases.
 *
 * Usage: dlopen path/to/liblfmap.so.N   (scripts/checks.d/dlopen.sh)
 * Uses only dlsym'd entry points, with the ABI of include/lfmap.h.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lfmap.h>

#define SYM(h, name) load((h), #name)

static void *load(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (p == NULL) {
		fprintf(stderr, "dlopen test: no symbol %s: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s path/to/liblfmap.so\n", argv[0]);
		return 2;
	}
	/* RTLD_GLOBAL: liburcu-memb, loaded as liblfmap's dependency, then
	 * resolves for RTLD_DEFAULT below. */
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		fprintf(stderr, "dlopen test: %s\n", dlerror());
		return 1;
	}
	void (*reg)(void) = load(RTLD_DEFAULT, "urcu_memb_register_thread");
	void (*unreg)(void) = load(RTLD_DEFAULT, "urcu_memb_unregister_thread");
	void (*config_init)(struct lfmap_config *) = SYM(h, lfmap_config_init);
	struct lfmap *(*create)(const struct lfmap_config *) = SYM(h, lfmap_word_create);
	int (*insert)(struct lfmap *, uint64_t, uint64_t, uint64_t *) = SYM(h, lfmap_word_insert);
	int (*get)(struct lfmap *, uint64_t, uint64_t *) = SYM(h, lfmap_word_get);
	int (*destroy)(struct lfmap *) = SYM(h, lfmap_destroy);

	reg();
	struct lfmap_config cfg;
	config_init(&cfg);
	struct lfmap *m = create(&cfg);
	if (m == NULL) {
		fprintf(stderr, "dlopen test: lfmap_word_create failed\n");
		return 1;
	}
	int bad = 0;
	for (uint64_t k = 1; k <= 10000; k++)
		bad |= insert(m, k, k * 3, NULL) != 0;
	for (uint64_t k = 1; k <= 10000; k++) {
		uint64_t v = 0;
		bad |= get(m, k, &v) != 0 || v != k * 3;
	}
	uint64_t v;
	bad |= get(m, 10001, &v) != -2; /* -ENOENT */
	bad |= destroy(m) != 0;
	unreg();
	if (bad) {
		fprintf(stderr, "dlopen test: wrong results through the dlopen'd library\n");
		return 1;
	}
	printf("dlopen test: %s loaded with dlopen, 10000 inserts and lookups ok\n", argv[1]);
	return 0;
}
