/*
 * stress/checker.h - per-key linearizability checker for lfmap-stress
 * histories (register-like keys, unique write values). See stress/README.md
 * for the algorithm and its limits.
 */
#ifndef LFMAP_STRESS_CHECKER_H
#define LFMAP_STRESS_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "history.h"

enum chk_class {
	CHK_LOST_INSERT = 0, /* absent seen after a completed insert, no remove could explain it */
	CHK_LOST_UPDATE,     /* a value overwritten twice / final value already overwritten */
	CHK_RESURRECTED,     /* a value seen after its remove completed */
	CHK_STALE_READ,      /* a read returned a value overwritten before it began */
	CHK_DUPLICATE,       /* a key reported twice by one iteration / final contents */
	CHK_END_STATE,       /* final contents disagree with the history */
	CHK_PHANTOM,         /* a value never written to that key, or read before written */
	CHK_BAD_RESPONSE,    /* a response impossible for the op itself (e.g. cas failed on equal) */
	CHK_NONLINEARIZABLE, /* not linearizable, no finer class applies */
	CHK_UNDECIDED,       /* search budget exhausted (not a proven violation) */
	CHK_NCLASS
};

extern const char *const chk_class_name[CHK_NCLASS];

struct chk_kv {
	uint64_t key, val;
};

struct chk_result {
	uint64_t count[CHK_NCLASS];  /* violating ops (keys for NONLINEARIZABLE/UNDECIDED) */
	uint64_t ops;                /* ops checked (final reads included) */
	uint64_t keys;               /* distinct keys checked */
	uint64_t keys_bad;           /* keys with at least one violation */
	uint64_t search_steps;       /* total search steps */
	uint64_t branch_states;      /* memoised branch states */
	/* earliest response time (ns, the ops' clock) of an op found violating;
	 * CHK_AT_END if only the final contents violate; CHK_NONE if nothing
	 * does. "Operations until the first anomaly" = ops that responded by
	 * then (lfmap-stress prints it). */
	uint64_t first_bad_res;
};
#define CHK_NONE UINT64_MAX
#define CHK_AT_END (UINT64_MAX - 1)

struct chk_options {
	/* final contents after quiescence (e.g. from lfmap_word_foreach), or
	 * NULL/0 with have_final false to skip the end-state check */
	const struct chk_kv *final;
	size_t nfinal;
	bool have_final;
	/* search budget per key (steps); 0 = default (50 million) */
	uint64_t max_steps;
	/* details of the first max_report violations go here (NULL: none) */
	FILE *log;
	unsigned max_report; /* 0 = default 20 */
};

/*
 * Check a history: ops[0..n) from any number of threads, in any order across
 * threads but in program order within a thread (the checker sorts stably by
 * key and thread). Values 0 = absent; write values must be unique and
 * non-zero. Fills *res. Returns the number of violations (sum of every class
 * except CHK_UNDECIDED), or -1 on allocation failure.
 */
long chk_check(const struct hist_op *ops, size_t n, const struct chk_options *opt,
	       struct chk_result *res);

/* Violations in res (sum of every class except CHK_UNDECIDED). */
uint64_t chk_violations(const struct chk_result *res);

#endif /* LFMAP_STRESS_CHECKER_H */
