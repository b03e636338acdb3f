/*
 * fuzz/fuzz_map.c - libFuzzer target for every lfmap map kind.
 *
 * Input layout (all bytes optional; missing ones read as 0):
 *   [0] map kind (% 3: word, node, string)
 *   [1] bits 0-1: node hash (good / constant / key % 4); bit 2: no auto
 *       grow; bit 3: no auto shrink; bit 4: background migration work on
 *       (default off: deterministic runs); bits 5-7: seed
 *   [2] size hint selector      [3] grow/shrink selector
 *   [4] max_work selector
 *   then triples (op, key, arg): op % 16 is the operation (see fz_step in
 *   fz_driver.h: reads, inserts, puts, replaces, removes, CAS, fetch-add,
 *   compute, full checks, lfmap_resize, lfmap_migrate_step, grace periods,
 *   and arming the failure-injecting allocator), op / 16 extends arg.
 * After every operation the whole map is compared with the reference model
 * (fz_check_all); at the end the driver finishes migrations, compacts,
 * destroys the map with entries inside and checks the allocator balance.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined together with the lib/ sources
 * (mk/hardening.mk: make fuzz). A failed check aborts with a message.
 */
#include <stdio.h>
#include <stdlib.h>

static void fz_abort(const char *msg)
{
	fprintf(stderr, "fuzz_map: CHECK FAILED: %s\n", msg);
	abort();
}
#define FZ_FAIL(msg) fz_abort(msg)

#include "fz_driver.h"

#define FZ_MAX_OPS 3000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	urcu_memb_register_thread();
	return 0;
}

static uint8_t byte_at(const uint8_t *d, size_t n, size_t i)
{
	return i < n ? d[i] : 0;
}

void fz_decode_config(const uint8_t *d, size_t n, struct fz_config *c);
void fz_decode_config(const uint8_t *d, size_t n, struct fz_config *c)
{
	static const size_t hints[8] = { 0, 1, 7, 100, 300, 1000, SIZE_MAX,
					 SIZE_MAX >> 8 };
	static const unsigned gs[8][2] = { { 75, 10 }, { 100, 1 }, { 3, 1 }, { 50, 25 },
					   { 0, 0 }, { 101, 10 }, { 2, 1 }, { 100, 49 } };
	memset(c, 0, sizeof(*c));
	uint8_t b1 = byte_at(d, n, 1), b3 = byte_at(d, n, 3), b4 = byte_at(d, n, 4);
	c->kind = byte_at(d, n, 0) % 3;
	c->hash_mode = (b1 & 3) % 3;
	c->flags = ((b1 & 4) ? LFMAP_F_NO_AUTO_GROW : 0) | ((b1 & 8) ? LFMAP_F_NO_AUTO_SHRINK : 0) |
		   ((b1 & 16) ? 0 : LFMAP_F_NO_BACKGROUND);
	c->seed = (uint64_t)(b1 >> 5) * UINT64_C(0x9e3779b97f4a7c15);
	c->size_hint = hints[byte_at(d, n, 2) % 8];
	/* mostly valid thresholds: invalid ones end the input early */
	c->grow_pct = (b3 & 0x80) ? gs[b3 % 8][0] : 75;
	c->shrink_pct = (b3 & 0x80) ? gs[b3 % 8][1] : 10;
	c->max_work = (b4 % 16 == 15) ? 0 : 1 + b4 % 4;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_config c;
	fz_decode_config(data, size, &c);
	static struct fz f;
	if (fz_open(&f, &c) != 0)
		return 0;
	size_t nops = 0;
	for (size_t i = 5; i + 2 < size + 2 && nops < FZ_MAX_OPS; i += 3, nops++) {
		uint8_t op = byte_at(data, size, i);
		unsigned k = byte_at(data, size, i + 1);
		unsigned a = byte_at(data, size, i + 2) | ((unsigned)(op >> 4) << 8);
		fz_step(&f, op & 15, k, a, true);
	}
	fz_close(&f);
	return 0;
}
