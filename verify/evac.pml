/*
 * evac.pml - Promela model of lfmap's evacuation barrier (word-key map).
 *
 * What is modelled (see docs/MODEL.md for the full account):
 *   - one source bucket chain of table T (head bucket 0 plus overflow
 *     buckets 1..NB-1 of a fixed pool, appended by a CAS on the last control
 *     word), migrating into a table U of twice the size (two target buckets,
 *     NB and NB+1); every bucket has NS slots of {key word, value word};
 *   - lib/word.c word_rmw (insert-if-absent, replace, remove, put) and
 *     lfmap_word_get_rcu (lookup), step by step, one shared-memory access
 *     per atomic step;
 *   - lib/migrate.c lfm_migrate_work / lfm_evacuate / freeze_chain /
 *     copy_chain / copy_entry / finish, and lib/table.c lfm_chain_append;
 *   - helper H1 (starts the migration and drives it once, like the
 *     background callback), helper H2 (may lag arbitrarily, and in the
 *     liveness run may stop forever at any step), users that meet a frozen
 *     word and evacuate, and (WRITER_HELP) users that help first.
 * Abstractions: sequential consistency (every access is atomic and totally
 * ordered: the C11 orders are not modelled), one source bucket (the verified
 * walk over the others is trivial), bounded keys and values, no overflow in
 * U (asserted never needed), word maps only.
 *
 * Barrier-less variants (issue 3), each a -D switch:
 *   NOFREEZE EARLY_FORWARD NO_RECHECK LAGGING_HELPER HEAD_ONLY
 * and LOCKED_EVAC (evacuation under a lock, not lock-free: the liveness
 * property must fail, which shows the property is not vacuous).
 * Configurations: -DCFG=1 (default) .. see the CFG blocks below.
 */

#ifndef CFG
#define CFG 1
#endif

/* ---- encodings (lib/internal.h) --------------------------------------- */
#define VFROZEN 1    /* LFM_V_FROZEN */
#define VLIVE   2    /* LFM_V_LIVE */
#define VTOMB   4    /* LFM_WORD_TOMB */
#define CFROZEN 1    /* LFM_C_FROZEN */
#define CFWD    2    /* LFM_C_FORWARDED */
#define CNEXT   4    /* overflow pointer != NULL: the successor is pool bucket b+1 */
#define ENC(v)  (((v) << 2) | VLIVE)
#define DEC(w)  (((w) & VLIVE) -> ((w) >> 2) : 0)   /* abstract: 0 = absent */
#define BIT(a)  (1 << (a))
#define NIL     255

/* ops */
#define OP_NONE 0
#define OP_INS  1    /* lfmap_word_insert: insert-if-absent */
#define OP_REP  2    /* lfmap_word_replace */
#define OP_REM  3    /* lfmap_word_remove */
#define OP_PUT  4    /* lfmap_word_put: insert or replace */
#define OP_GET  5    /* lfmap_word_get */

#define K1 1
#define K2 2
#define KF 3         /* filler key: a tombstone left in the chain */

#define TT 0         /* table T (root at start) */
#define TU 1         /* table U = T->next */
#define NT 1         /* modelled buckets of T (the verified walk's n) */

/* ---- configurations --------------------------------------------------- */
#if CFG == 1
/* chain: head[K1=v1] -> ovf1[KF tomb] -> (ovf2 free). K2 absent: its insert
 * appends to ovf1's control word. Three users: (replace K1, get K1),
 * (insert K2), (remove K1). */
#define NS 1
#define NB 3
#define NUSERS 3
#define NOPS 2
#define UB(k) ((k) == K1 -> 0 : 1)
#define INIT_T \
	key[0] = K1; val[0] = ENC(1); ctrl[0] = CNEXT; \
	key[1] = KF; val[1] = VTOMB
#define SCRIPT \
	op[0] = OP_REP; ok[0] = K1; ov[0] = 2;  op[1] = OP_GET; ok[1] = K1; \
	op[2] = OP_INS; ok[2] = K2; ov[2] = 3; \
	op[4] = OP_REM; ok[4] = K1
#elif CFG == 2
/* claim races: head[K1=v1, unclaimed] -> (ovf1 free). K2 and KF race for
 * the head's free slot; the loser appends. Three users: (put K1),
 * (insert K2, get K2), (insert KF). */
#define NS 2
#define NB 2
#define NUSERS 3
#define NOPS 2
#define UB(k) ((k) == K2 -> 1 : 0)
#define INIT_T \
	key[0] = K1; val[0] = ENC(1)
#define SCRIPT \
	op[0] = OP_PUT; ok[0] = K1; ov[0] = 2; \
	op[2] = OP_INS; ok[2] = K2; ov[2] = 3;  op[3] = OP_GET; ok[3] = K2; \
	op[4] = OP_INS; ok[4] = KF; ov[4] = 4
#elif CFG == 3
/* reduced (make check): CFG 1 with two users. */
#define NS 1
#define NB 3
#define NUSERS 2
#define NOPS 2
#define UB(k) ((k) == K1 -> 0 : 1)
#define INIT_T \
	key[0] = K1; val[0] = ENC(1); ctrl[0] = CNEXT; \
	key[1] = KF; val[1] = VTOMB
#define SCRIPT \
	op[0] = OP_REP; ok[0] = K1; ov[0] = 2;  op[1] = OP_GET; ok[1] = K1; \
	op[2] = OP_INS; ok[2] = K2; ov[2] = 3;  op[3] = OP_GET; ok[3] = K2
#elif CFG == 5
/* as CFG 3, with removes and "absent" outcomes: (remove K1, get K2),
 * (insert K2, replace K1). */
#define NS 1
#define NB 3
#define NUSERS 2
#define NOPS 2
#define UB(k) ((k) == K1 -> 0 : 1)
#define INIT_T \
	key[0] = K1; val[0] = ENC(1); ctrl[0] = CNEXT; \
	key[1] = KF; val[1] = VTOMB
#define SCRIPT \
	op[0] = OP_REM; ok[0] = K1;             op[1] = OP_GET; ok[1] = K2; \
	op[2] = OP_INS; ok[2] = K2; ov[2] = 3;  op[3] = OP_REP; ok[3] = K1; ov[3] = 2
#elif CFG == 4
/* liveness, reduced: CFG 1's chain, one user with two updates. */
#define NS 1
#define NB 3
#define NUSERS 1
#define NOPS 2
#define UB(k) ((k) == K1 -> 0 : 1)
#define INIT_T \
	key[0] = K1; val[0] = ENC(1); ctrl[0] = CNEXT; \
	key[1] = KF; val[1] = VTOMB
#define SCRIPT \
	op[0] = OP_REP; ok[0] = K1; ov[0] = 2;  op[1] = OP_INS; ok[1] = K2; ov[1] = 3
#endif

#ifndef MAXWORK
#define MAXWORK 1    /* users' lfm_writer_help budget (the library default is 2) */
#endif
#define NKEYS 4      /* abstract registers for keys 0..3 */
#define NSLOTS ((NB + 2) * NS)
#define HEAD(t, k) ((t) == TT -> 0 : NB + UB(k))

/* ---- shared memory ------------------------------------------------------ */
byte key[NSLOTS];     /* T pool buckets 0..NB-1, U buckets NB, NB+1 */
byte val[NSLOTS];
byte ctrl[NB + 2];
bit  root = TT;       /* map->root */
bit  tnext = 0;       /* T->next != NULL: migration started */
byte cursor = 0;      /* T->work_cursor (saturated at NT+1) */
byte verified = 0;    /* T->verified */

/* ---- ghost state: the abstract atomic registers ---------------------------- */
byte absval[NKEYS];   /* 0 absent, else the value id */
byte opkey[NUSERS];   /* key of the user's running op, 0 if none */
byte seen[NUSERS];    /* values the register held during that op (bitmask) */
byte udone = 0;       /* users finished */
bit  h1done = 0, h2done = 0;
bit  h2stop = 0;
#ifdef LOCKED_EVAC
bit  evlock = 0;      /* test of the liveness check: evacuation under a lock */
#endif      /* LIVENESS: H2 stopped forever */
byte op[NUSERS * NOPS], ok[NUSERS * NOPS], ov[NUSERS * NOPS];

/* G: first statement of every step of the migration code: H2 takes no step
 * once stopped (liveness run only; elsewhere h2stop stays 0). */
byte h2pid = 255;
#define G (_pid != h2pid || !h2stop)

/* Linearization of a write (value CAS or append): the value decided on must
 * be the register's current value; the register takes the new value, and
 * every running op on the key records it. */
#define LIN_WRITE(k, old, new) \
	assert(absval[k] == (old)); \
	absval[k] = (new); \
	lq = 0; \
	do :: lq < NUSERS -> if :: opkey[lq] == (k) -> seen[lq] = seen[lq] | BIT(new) :: else fi; lq++ \
	   :: else -> break od; \
	opkey[me] = 0
/* Response of an op that returns the register's value without writing:
 * it must be a value the register held at some point of the op's interval. */
#define RESP(dv) assert(seen[me] & BIT(dv)); opkey[me] = 0
/* A user write into U: only after the source head is FORWARDED (I7). */
#define UWRITE_OK(t) assert((t) == TT || (ctrl[0] & CFWD))

#define SUCC(b, c) (((c) & CNEXT) -> (b) + 1 : NIL)

/* ---- migration (lib/migrate.c) ------------------------------------------ */
/*
 * Granularity: one atomic step = one access to a word that other threads
 * may still change, plus the process's local computation, plus reads of
 * words that can no longer change (a claimed key word, I1; the successor
 * pointer of a control word once set; every word of a chain this process
 * froze, I4/I5, for copy_chain). Such reads commute with every other step,
 * so merging them into a neighbouring step removes no behaviour (Lipton's
 * reduction). A load whose value is only compared by the CAS that follows
 * (CAS loops, claim, copy's "EMPTY? then CAS") is one step at the CAS: the
 * failed attempts in between only re-read. docs/MODEL.md lists each merge.
 */

/* freeze_chain: fetch-or FROZEN on each control word, then freeze each
 * value word (the CAS loop of the code is one atomic fetch-or here: its
 * failed iterations only re-read). */
inline freeze_chain()
{
	eb = 0;
	do
	:: eb == NIL -> break
	:: else ->
#if defined(NOFREEZE)
		atomic { G; ec = ctrl[eb] };
#elif defined(HEAD_ONLY)
		if
		:: eb == 0 -> atomic { G; ec = ctrl[eb]; ctrl[eb] = ec | CFROZEN }
		:: else -> atomic { G; ec = ctrl[eb] }
		fi;
#else
		atomic { G; ec = ctrl[eb]; ctrl[eb] = ec | CFROZEN };
#endif
#if !defined(NOFREEZE)
		es = 0;
		do
		:: es == NS -> break
		:: else -> atomic { G; val[eb * NS + es] = val[eb * NS + es] | VFROZEN; es++ }
		od;
#endif
		eb = SUCC(eb, ec)
	od
}

/* copy_entry: the key's slot in U (claim if unclaimed), value CAS from EMPTY;
 * never retried. */
inline copy_entry()
{
	ub = NB + UB(ek);
	atomic {
		G;
		us = 0;
		do
		:: us < NS && key[ub * NS + us] != 0 && key[ub * NS + us] != ek -> us++
		:: else -> break
		od;
		assert(us < NS);   /* U overflow: outside the model's bounds */
		if :: key[ub * NS + us] == 0 -> key[ub * NS + us] = ek :: else fi
	};
#ifdef LAGGING_HELPER
	atomic { G; val[ub * NS + us] = ev }      /* plain store */
#else
	atomic { G; if :: val[ub * NS + us] == 0 -> val[ub * NS + us] = ev :: else fi }
#endif
}

/* copy_chain: one step per value word read (with its key, claimed, and the
 * control word read that leads to the next bucket). */
inline copy_chain()
{
	eb = 0; es = 0;
	do
	:: eb == NIL -> break
	:: else ->
		atomic {
			G;
			ev = val[eb * NS + es]; ek = key[eb * NS + es];
			es++;
			if :: es == NS -> ec = ctrl[eb]; eb = SUCC(eb, ec); es = 0 :: else fi
		};
		if
		:: (ev & VLIVE) -> ev = ev & ~VFROZEN; copy_entry()
		:: else
		fi
	od
}

inline evacuate()
{
	atomic { G; ec = ctrl[0] };
	if
	:: (ec & CFWD) -> skip
	:: else ->
#ifdef LOCKED_EVAC
		atomic { G; evlock == 0 -> evlock = 1 };   /* not lock-free: liveness must fail */
#endif
		freeze_chain();
#ifdef EARLY_FORWARD
		atomic { G; ctrl[0] = ctrl[0] | CFWD };
		copy_chain();
#else
		copy_chain();
		atomic { G; ctrl[0] = ctrl[0] | CFWD };
#endif
#ifdef LOCKED_EVAC
		atomic { G; evlock = 0 };
#endif
	fi
}

inline finish()
{
	atomic { G; if :: root == TT -> root = TU :: else fi }
}

/* lfm_migrate_work(t = T, budget) */
inline migrate_work()
{
	done = 0;
	do
	:: done >= budget -> break
	:: else ->
		atomic { G; wi = cursor; if :: cursor <= NT -> cursor++ :: else fi };
		if
		:: wi >= NT -> break
		:: else -> evacuate(); done++
		fi
	od;
	/* the verified walk: from a snapshot vv, step wi past every head seen
	 * FORWARDED (evacuating a stuck one with budget left), then publish
	 * verified = max(verified, wi) (the CAS loop), finish if at the end */
	checks = 0;
	atomic { G; vv = verified };
	wi = vv;
	do
	:: checks >= 8 * budget + 8 || wi >= NT -> break
	:: else ->
		atomic { G; ec = ctrl[0] };
		if
		:: !(ec & CFWD) && done >= budget -> break
		:: !(ec & CFWD) && done < budget -> evacuate(); done++; wi++
		:: else -> wi++
		fi;
		checks++
	od;
	atomic { G; if :: verified < wi -> verified = wi :: else fi; vv = verified };
	if
	:: vv >= NT -> finish()
	:: else
	fi
}

#define MIGLOCALS byte eb, ec, es, ev, ek, ub, us, budget, done, wi, checks, vv

/* ---- users (lib/word.c) ------------------------------------------------------ */

#define WRITES(o, dv) ((o) == OP_PUT || ((o) == OP_INS && (dv) == 0) || \
		       (((o) == OP_REP || (o) == OP_REM) && (dv) != 0))
#define NEWVAL(o, v) ((o) == OP_REM -> VTOMB : ENC(v))
#define NEWABS(o, v) ((o) == OP_REM -> 0 : (v))

#define ST_SCAN 1
#define ST_FROZEN 2
#define ST_DONE 3

/* Walk from (b, s) over slots claimed by other keys and over linked buckets
 * (immutable words): stop at the key's slot, an unclaimed slot, or a control
 * word with no successor (s == NS). Inside an atomic step. */
#define WALK \
	do \
	:: s < NS && key[b * NS + s] != 0 && key[b * NS + s] != k -> s++ \
	:: s == NS && (ctrl[b] & CNEXT) -> assert(b + 1 < NB); b++; s = 0 \
	:: else -> break \
	od

/* Invocation: the ghost interval opens; load the root; word_rmw and the
 * lookup then load the head's control word (I7) and go to next if it is
 * FORWARDED (one step: the root moves to U only after the head is
 * FORWARDED, so reading the root later changes no outcome). */
#ifdef NO_RECHECK
#define HEADCHECK(o) ((o) != OP_GET)
#else
#define HEADCHECK(o) 1
#endif

proctype user(byte me)
{
	MIGLOCALS;
	byte i, o, k, v, t, b, s, cur, dv, st, lq;

	i = 0;
	do
	:: i == NOPS -> break
	:: i < NOPS && op[me * NOPS + i] == OP_NONE -> i++
	:: i < NOPS && op[me * NOPS + i] != OP_NONE ->
		atomic {
			o = op[me * NOPS + i]; k = ok[me * NOPS + i]; v = ov[me * NOPS + i];
			opkey[me] = k; seen[me] = BIT(absval[k]);
			t = root;
			if :: t == TT && HEADCHECK(o) && (ctrl[0] & CFWD) -> t = TU :: else fi;
			b = HEAD(t, k); s = 0; st = ST_SCAN
		};
		if
		:: o == OP_GET ->
			/* lfmap_word_get_rcu: scan; the value load of the key's slot */
			atomic {
				WALK;
				if
				:: s < NS && key[b * NS + s] == k -> cur = val[b * NS + s]; dv = DEC(cur); RESP(dv)
				:: else -> RESP(0)
				fi
			}
		:: else ->
			/* word_rmw */
#ifdef WRITER_HELP
			if
			:: t == TT && tnext -> budget = MAXWORK; migrate_work()
			:: else
			fi;
#endif
			do
			:: st == ST_DONE -> break
			:: st == ST_FROZEN ->
				/* the bucket is being evacuated: finish it, go to next */
				evacuate(); t = TU; b = HEAD(t, k); s = 0; st = ST_SCAN
			:: st == ST_SCAN ->
				atomic {
					WALK;
					if
					:: s < NS && key[b * NS + s] == k ->
						/* value_cas_loop: decide on the current word */
						cur = val[b * NS + s]; dv = DEC(cur & ~VFROZEN);
						if
						:: !WRITES(o, dv) -> RESP(dv); st = ST_DONE
						:: WRITES(o, dv) && (cur & VFROZEN) -> st = ST_FROZEN
						:: WRITES(o, dv) && !(cur & VFROZEN) ->
							UWRITE_OK(t);
							val[b * NS + s] = NEWVAL(o, v);
							LIN_WRITE(k, dv, NEWABS(o, v));
							st = ST_DONE
						fi
					:: s < NS && key[b * NS + s] == 0 ->
						/* I1: the key is in no later slot */
						if
						:: !WRITES(o, 0) -> RESP(0); st = ST_DONE
						:: else -> UWRITE_OK(t); key[b * NS + s] = k   /* claim */
						fi
					:: s == NS ->
						/* end of chain: the key is absent */
						if
						:: !WRITES(o, 0) -> RESP(0); st = ST_DONE
						:: WRITES(o, 0) && (ctrl[b] & CFROZEN) -> st = ST_FROZEN
						:: WRITES(o, 0) && !(ctrl[b] & CFROZEN) ->
							/* lfm_chain_append: CAS 0 -> prefilled bucket */
							assert(t == TT && b + 1 < NB && ctrl[b] == 0);
							UWRITE_OK(t);
							key[(b + 1) * NS] = k;
							val[(b + 1) * NS] = NEWVAL(o, v);
							ctrl[b] = CNEXT;
							LIN_WRITE(k, 0, NEWABS(o, v));
							st = ST_DONE
						fi
					fi
				}
			od
		fi;
		i++
	od;
	udone++
}

/* H1: starts the migration (lfm_start_migration publishes next), then one
 * bounded lfm_migrate_work call (budget 1), like the background callback. A
 * non-stopped helper completes the migration whatever state the others
 * (stalled or lagging) left: checked right after. */
proctype helper1()
{
	MIGLOCALS;
	tnext = 1;
	budget = 1;
	migrate_work();
	assert(root == TU);
	h1done = 1
}

/* H2: a second helper, budget 1, that may lag arbitrarily (any interleaving)
 * and, in the liveness run, stop forever at any step (h2stop). */
proctype helper2()
{
	MIGLOCALS;
	(tnext);
	budget = 1;
	migrate_work();
	h2done = 1
}

/* Quiescent check: the migration is complete and U holds exactly the
 * abstract contents, each key at most once. */
inline check_final()
{
	assert(root == TU && (ctrl[0] & CFWD));
	ck = 1;
	do
	:: ck == NKEYS -> break
	:: else ->
		cn = 0; cv = 0; cs = 0;
		do
		:: cs == 2 * NS -> break
		:: else ->
			if
			:: key[NB * NS + cs] == ck -> cn++; cv = DEC(val[NB * NS + cs])
			:: else
			fi;
			cs++
		od;
		assert(cn <= 1);           /* no duplicate key in U */
		assert(cv == absval[ck]);  /* no lost insert/update, no resurrection */
		ck++
	od
}

active proctype checker()
{
	byte ck, cn, cv, cs;
	/* first check: users and H1 done, H2 anywhere (stalled or running) */
	atomic { udone == NUSERS && h1done -> check_final() };
	/* second check: after H2 too (a lagging helper must change nothing) */
	atomic { h2done -> check_final() }
}

init
{
	byte j;
	atomic {
		INIT_T;
		absval[K1] = 1;
		SCRIPT;
		j = 0;
		do
		:: j < NUSERS -> run user(j); j++
		:: else -> break
		od;
		run helper1();
		h2pid = run helper2();
	}
}

#ifdef LIVENESS
/* Stops H2 forever at any point (or never, if H2 finished first). */
active proctype stopper()
{
	h2stop = 1
}
/* Every user and H1 finish, and the migration completes (weak fairness:
 * a stopped H2 is not enabled, so it is not owed any step). */
ltl complete { <> (udone == NUSERS && h1done && root == TU) }
#endif
