/*
 * stress/history.h - one recorded operation of an lfmap-stress history.
 *
 * Every worker thread appends to its own array (no shared counter, no shared
 * clock: timestamps come from clock_gettime(CLOCK_MONOTONIC)). The checker
 * (checker.h) takes the concatenation of all threads' arrays.
 *
 * Values: the value 0 means "absent" everywhere in a history; every write
 * stores a value that is non-zero and unique over the whole run (the stress
 * harness uses (thread id + 1) << 40 | sequence).
 */
#ifndef LFMAP_STRESS_HISTORY_H
#define LFMAP_STRESS_HISTORY_H

#include <stdint.h>

enum hop {
	HOP_GET = 0,  /* rc 0: out = value; -ENOENT: absent */
	HOP_INSERT,   /* insert-if-absent of arg. rc 0; -EEXIST: out = current */
	HOP_PUT,      /* insert-or-replace with arg. rc 0 (inserted) / 1 (out = previous) */
	HOP_REPLACE,  /* replace with arg if present. rc 0 (out = previous); -ENOENT */
	HOP_REMOVE,   /* rc 0 (out = removed value); -ENOENT */
	HOP_CAS,      /* expect -> arg. rc 0; -ECANCELED (out = current); -ENOENT */
	HOP_ITER,     /* one (key, out) visited by an iteration ([inv, res] = the
	                 whole iteration); rc ignored */
	HOP_FINAL,    /* final contents (virtual, added by the checker) */
	HOP_ITER_MISS, /* a key NOT visited by a complete iteration ([inv, res] =
	                  the iteration); not a linearizable read: it only
	                  claims the key was not present for the whole interval */
	HOP_NKINDS
};

struct hist_op {
	uint64_t key;
	uint64_t arg;    /* value written: insert/put/replace, cas desired */
	uint64_t expect; /* cas: expected value */
	uint64_t out;    /* value observed (see enum hop); 0 = absent / none */
	uint64_t inv;    /* invocation time, ns (CLOCK_MONOTONIC) */
	uint64_t res;    /* response time, ns; inv <= res */
	int32_t rc;      /* lfmap return code */
	uint16_t op;     /* enum hop */
	uint16_t tid;    /* recording thread; a thread's ops are sequential */
};

#endif /* LFMAP_STRESS_HISTORY_H */
