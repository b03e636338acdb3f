// bench/adapters/cxx.cc - the C++ peers behind extern "C" adapters:
// libcuckoo's cuckoohash_map and oneTBB's concurrent_hash_map, both with
// uint64_t keys and values stored inline and lfmap's seeded hash.
#include <cstdint>
#include <cstdlib>
#include <libcuckoo/cuckoohash_map.hh>
#include <tbb/concurrent_hash_map.h>
#include "../adapter.h"

namespace {
struct Hash {
	size_t operator()(uint64_t k) const { return (size_t)bench_hash(k); }
};
using Cuckoo = libcuckoo::cuckoohash_map<uint64_t, uint64_t, Hash>;

void nop(void *) {}

void *ck_create(size_t n) { return new Cuckoo(n < 16 ? 16 : n); }
int ck_get(void *m, uint64_t k, uint64_t *v) { return static_cast<Cuckoo *>(m)->find(k, *v); }
int ck_ins(void *m, uint64_t k, uint64_t v) { return static_cast<Cuckoo *>(m)->insert(k, v); }
int ck_rem(void *m, uint64_t k) { return static_cast<Cuckoo *>(m)->erase(k); }
void ck_destroy(void *m) { delete static_cast<Cuckoo *>(m); }

struct HashCmp {
	static size_t hash(uint64_t k) { return (size_t)bench_hash(k); }
	static bool equal(uint64_t a, uint64_t b) { return a == b; }
};
using Tbb = tbb::concurrent_hash_map<uint64_t, uint64_t, HashCmp>;

void *tb_create(size_t n) { return new Tbb(n); }
int tb_get(void *m, uint64_t k, uint64_t *v)
{
	Tbb::const_accessor a;
	if (!static_cast<Tbb *>(m)->find(a, k))
		return 0;
	*v = a->second;
	return 1;
}
int tb_ins(void *m, uint64_t k, uint64_t v)
{
	return static_cast<Tbb *>(m)->insert(Tbb::value_type(k, v));
}
int tb_rem(void *m, uint64_t k) { return static_cast<Tbb *>(m)->erase(k); }
void tb_destroy(void *m) { delete static_cast<Tbb *>(m); }
} // namespace

extern "C" {
const struct bench_adapter bench_cuckoo = {
	"libcuckoo", ck_create, nop, nop, nullptr, ck_get, ck_ins, ck_rem, ck_destroy,
};
const struct bench_adapter bench_tbb = {
	"tbb", tb_create, nop, nop, nullptr, tb_get, tb_ins, tb_rem, tb_destroy,
};
}
