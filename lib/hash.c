/*
 * hash.c - keyed hashing: SipHash-1-3 for byte-string keys (written from the
 * SipHash paper's description: one compression round per 8-byte word, three
 * finalisation rounds) and the per-map random seed.
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static inline void sip_round(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
	*v0 += *v1;
	*v1 = ROTL(*v1, 13);
	*v1 ^= *v0;
	*v0 = ROTL(*v0, 32);
	*v2 += *v3;
	*v3 = ROTL(*v3, 16);
	*v3 ^= *v2;
	*v0 += *v3;
	*v3 = ROTL(*v3, 21);
	*v3 ^= *v0;
	*v2 += *v1;
	*v1 = ROTL(*v1, 17);
	*v1 ^= *v2;
	*v2 = ROTL(*v2, 32);
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint64_t lfm_siphash13(const void *data, size_t len, uint64_t k0, uint64_t k1)
{
	const unsigned char *p = data;
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573);
	size_t nwords = len / 8;

	for (size_t i = 0; i < nwords; i++, p += 8) {
		uint64_t m = load_le64(p);
		v3 ^= m;
		sip_round(&v0, &v1, &v2, &v3);
		v0 ^= m;
	}
	uint64_t last = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)p[i] << (8 * i);
	v3 ^= last;
	sip_round(&v0, &v1, &v2, &v3);
	v0 ^= last;
	v2 ^= 0xff;
	sip_round(&v0, &v1, &v2, &v3);
	sip_round(&v0, &v1, &v2, &v3);
	sip_round(&v0, &v1, &v2, &v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t lfm_random_seed(void)
{
	uint64_t s = 0;
	/* getrandom() does not block once the pool is initialised; if it is
	 * unavailable, fall back to a clock-derived value (still per map). */
	if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = lfm_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
			      (uint64_t)(uintptr_t)&s);
	}
	return s;
}

uint64_t lfmap_hash_u64(uint64_t key, uint64_t seed)
{
	return lfm_word_bhash(key, seed);
}

uint64_t lfmap_hash_bytes(const void *data, size_t len, uint64_t seed)
{
	return lfm_siphash13(data, len, seed, lfm_mix64(seed ^ UINT64_C(0x9e3779b97f4a7c15)));
}
