/* bench/probes/hash-spread.c - how evenly the word map's bucket hash spreads
 * structured keys (docs/PERFORMANCE.md, "Lookup cost", session 8).
 *   build/bench/hash-spread [SEEDS]        (default 1000)
 * For each of 15 key families (dense, strides of powers of two, keys only in
 * high bits, repeated halves, bit-reversed counters, ...; 65,536 keys each)
 * and SEEDS seeds, the keys go into 32,768 buckets by the top 15 bits of a
 * bucket hash; the line per hash gives, per family, the worst fraction of
 * buckets with more than 3 keys (a 3-slot bucket that overflows) and the
 * worst bucket's key count over all seeds. Random keys give about 0.147 and
 * 13-14. Hashes: the word map's (lfm_word_ihash, lib/internal.h), the
 * seeded multiply-xorshift it replaced (lfm_word_bhash, still the hash of
 * lfmap_hash_u64), and a plain multiply-shift (key * mult), which was tried
 * first and rejected. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/internal.h"

enum { NKEYS = 65536, BITS = 15, NFAM = 15 };

static uint64_t family_key(int f, uint64_t k, uint64_t *rng)
{
	uint64_t x = k + 1, r = 0;
	switch (f) {
	case 0: return x;                                   /* dense */
	case 1: return 2 * x;                               /* even */
	case 2: return x << 20;                             /* stride 2^20 */
	case 3: return x << 40;                             /* bits 40-56 */
	case 4: return x << 32;                             /* high half only */
	case 5: return UINT64_C(0x7f3a00000000) + 64 * k;   /* pointer-like */
	case 6: return (k & 255) << 56 | (k >> 8) << 8;     /* top byte + stride 256 */
	case 7: return (k & 255) << 32 | k >> 8;            /* two small fields */
	case 8:                                             /* bit-reversed counter */
		for (int i = 0; i < 64; i++, x >>= 1)
			r = r << 1 | (x & 1);
		return r;
	case 9: return x * UINT64_C(0x100000001);           /* equal halves */
	case 10: return x ^ (x >> 1);                       /* Gray code */
	case 11: return x << 48 | x << 16;                  /* one field twice */
	case 12: return x * UINT64_C(0x0101010101010101);   /* repeated byte pattern */
	case 13: return (k & 255) << 56 | (k >> 8) << 48 | 1; /* top two bytes */
	default:                                            /* random (control) */
		*rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
		return *rng;
	}
}

static uint64_t bucket_hash(int h, uint64_t key, uint64_t seed, uint64_t mult)
{
	switch (h) {
	case 0: return lfm_word_ihash(key, seed, mult);
	case 1: return lfm_word_bhash(key, seed);
	default: return key * mult;
	}
}

int main(int argc, char **argv)
{
	static unsigned cnt[1u << BITS];
	static const char *const names[] = {"word map (lfm_word_ihash)",
					    "multiply-xorshift (before)", "multiply-shift (rejected)"};
	int nseeds = argc > 1 ? atoi(argv[1]) : 1000;
	if (nseeds < 1)
		return 2;
	printf("%-28s", "family:");
	for (int f = 0; f < NFAM; f++)
		printf(" %10d", f);
	printf("\n");
	for (int h = 0; h < 3; h++) {
		printf("%-28s", names[h]);
		for (int f = 0; f < NFAM; f++) {
			double worst = 0;
			unsigned worst_max = 0;
			for (int si = 0; si < nseeds; si++) {
				uint64_t seed = lfm_mix64((uint64_t)si * UINT64_C(0x9e3779b97f4a7c15) + 12345);
				uint64_t mult = lfm_word_mult(seed), rng = seed | 1;
				memset(cnt, 0, sizeof cnt);
				for (uint64_t k = 0; k < NKEYS; k++)
					cnt[bucket_hash(h, family_key(f, k, &rng), seed, mult) >> (64 - BITS)]++;
				unsigned over = 0, mx = 0;
				for (unsigned i = 0; i < (1u << BITS); i++) {
					over += cnt[i] > 3;
					mx = cnt[i] > mx ? cnt[i] : mx;
				}
				double frac = (double)over / (1u << BITS);
				worst = frac > worst ? frac : worst;
				worst_max = mx > worst_max ? mx : worst_max;
			}
			printf(" %6.3f/%-3u", worst, worst_max);
		}
		printf("\n");
	}
	return 0;
}
