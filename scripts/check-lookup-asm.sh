#!/usr/bin/env bash
# scripts/check-lookup-asm.sh - lookups must be wait-free readers: no atomic
# read-modify-write and no fence in their machine code (x86-64).
#
# Usage: scripts/check-lookup-asm.sh [OBJECT]     (default: build/release/liblfmap.a,
#                                                  or $LFMAP_ASM_INPUT)
#        scripts/check-lookup-asm.sh --self-test   (proves the check can fail)
#
# Checked functions (objdump -d --no-show-raw-insn, AT&T syntax):
#   - the exported lookups lfmap_lookup_rcu, lfmap_word_get_rcu,
#     lfmap_str_get_rcu (each must be present);
#   - every function defined in OBJECT whose name matches lfm_.*lookup (also
#     compiler clones such as lfm_x_lookup.isra.0);
#   - transitively, every function defined in OBJECT that a checked function
#     calls or jumps to directly and whose name contains "lookup" or "_get".
#     Other direct callees are listed as "not checked" (set
#     LFMAP_ASM_STRICT=1 to check them too). Inlined helpers are covered by
#     the body of their caller.
# Forbidden: a lock-prefixed instruction, xchg with a memory operand (implicitly
# locked), mfence, lfence, sfence.
set -euo pipefail

EXPORTED=(lfmap_lookup_rcu lfmap_word_get_rcu lfmap_str_get_rcu)

self_test() {
	local t here rc
	here=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
	t=$(mktemp -d)
	trap 'rm -rf "$t"' RETURN
	# A clean object: plain and acquire loads only.
	cat >"$t/good.c" <<-'EOF'
	#include <stdint.h>
	#include <stddef.h>
	struct lfmap { uint64_t slot[8]; };
	__attribute__((noinline)) static uint64_t lfm_bucket_lookup(struct lfmap *m, uint64_t k)
	{ return __atomic_load_n(&m->slot[k & 7], __ATOMIC_ACQUIRE); }
	void *lfmap_lookup_rcu(struct lfmap *m, const void *k)
	{ return (void *)(uintptr_t)lfm_bucket_lookup(m, (uintptr_t)k); }
	__attribute__((noinline)) static uint64_t seed_get(struct lfmap *m)
	{ return __atomic_load_n(&m->slot[1], __ATOMIC_RELAXED); }
	__attribute__((noinline)) static uint64_t mix(uint64_t k)
	{ return k * 0x9e3779b97f4a7c15u; }
	int lfmap_word_get_rcu(struct lfmap *m, uint64_t k, uint64_t *v)
	{ *v = lfm_bucket_lookup(m, k) + seed_get(m) + mix(k); return 0; }
	int lfmap_str_get_rcu(struct lfmap *m, const void *k, size_t n, const void **v, size_t *l)
	{ *v = (const void *)(uintptr_t)lfm_bucket_lookup(m, n + (uintptr_t)k); *l = n; return 0; }
	void lfmap_word_put_rcu(struct lfmap *m, uint64_t k) /* not a lookup: may CAS */
	{ __atomic_fetch_add(&m->slot[k & 7], 1, __ATOMIC_SEQ_CST); }
	EOF
	# Bad objects: the clean one with one forbidden instruction injected.
	local -A bad=(
		[lock-xadd-exported]='s|\*v = lfm_bucket_lookup(m, k) +|*v = __atomic_fetch_add(\&m->slot[k \& 7], 1, __ATOMIC_SEQ_CST) +|'
		[lock-or-callee]='s|{ return __atomic_load_n(&m->slot\[1\], __ATOMIC_RELAXED); }|{ return __atomic_or_fetch(\&m->slot[1], 1, __ATOMIC_RELAXED); }|'
		[lock-cmpxchg-helper]='s|{ return __atomic_load_n(&m->slot\[k \& 7\], __ATOMIC_ACQUIRE); }|{ uint64_t e = 0; __atomic_compare_exchange_n(\&m->slot[k \& 7], \&e, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); return e; }|'
		[xchg-mem]='s|\*l = n; return 0;|*l = __atomic_exchange_n(\&m->slot[0], n, __ATOMIC_SEQ_CST); return 0;|'
		[mfence]='s|\*l = n; return 0;|*l = n; __atomic_thread_fence(__ATOMIC_SEQ_CST); return 0;|'
		[lfence]='s|\*l = n; return 0;|*l = n; __builtin_ia32_lfence(); return 0;|'
		[sfence]='s|\*l = n; return 0;|*l = n; __builtin_ia32_sfence(); return 0;|'
	)
	gcc -std=c11 -O2 -c "$t/good.c" -o "$t/good.o"
	echo "self-test: clean object must pass"
	if ! bash "$here" "$t/good.o" >"$t/out" 2>&1; then
		cat "$t/out"; echo "self-test FAILED: clean object rejected"; return 1
	fi
	local name
	for name in "${!bad[@]}"; do
		sed -e "${bad[$name]}" "$t/good.c" >"$t/$name.c"
		if cmp -s "$t/good.c" "$t/$name.c"; then
			echo "self-test FAILED: could not inject $name"; return 1
		fi
		gcc -std=c11 -O2 -msse2 -c "$t/$name.c" -o "$t/$name.o"
		rc=0
		bash "$here" "$t/$name.o" >"$t/out" 2>&1 || rc=$?
		if [ $rc -ne 1 ]; then
			cat "$t/out"; echo "self-test FAILED: $name not detected (exit $rc)"; return 1
		fi
		echo "self-test: $name detected: $(grep -m1 'FORBIDDEN' "$t/out" | sed 's/^ *//')"
	done
	# Across objects in an archive: the call is a relocation until linked.
	cat >"$t/caller.c" <<-'EOF'
	#include <stdint.h>
	#include <stddef.h>
	uint64_t slot_get(uint64_t *p);
	void *lfmap_lookup_rcu(uint64_t *m, const void *k) { (void)k; return (void *)(uintptr_t)slot_get(m); }
	int lfmap_word_get_rcu(uint64_t *m, uint64_t k, uint64_t *v) { (void)k; *v = slot_get(m); return 0; }
	int lfmap_str_get_rcu(uint64_t *m, const void *k, size_t n, const void **v, size_t *l)
	{ (void)k; *v = 0; *l = n + slot_get(m); return 0; }
	EOF
	for name in good bad; do
		if [ $name = good ]; then op='__atomic_load_n(p, __ATOMIC_ACQUIRE)'
		else op='__atomic_fetch_add(p, 1, __ATOMIC_ACQ_REL)'; fi
		echo "#include <stdint.h>
		uint64_t slot_get(uint64_t *p) { return $op; }" >"$t/helper-$name.c"
		gcc -std=c11 -O2 -c "$t/caller.c" -o "$t/caller.o"
		gcc -std=c11 -O2 -c "$t/helper-$name.c" -o "$t/helper.o"
		rm -f "$t/lib-$name.a"
		ar crs "$t/lib-$name.a" "$t/caller.o" "$t/helper.o"
		rc=0
		bash "$here" "$t/lib-$name.a" >"$t/out" 2>&1 || rc=$?
		if { [ $name = good ] && [ $rc -ne 0 ]; } || { [ $name = bad ] && [ $rc -ne 1 ]; }; then
			cat "$t/out"; echo "self-test FAILED: cross-object $name archive (exit $rc)"; return 1
		fi
	done
	echo "self-test: lock in a helper of another archive member detected"
	# A missing exported lookup must also fail.
	sed -e 's/lfmap_str_get_rcu/lfmap_str_get_other/' "$t/good.c" >"$t/missing.c"
	gcc -std=c11 -O2 -c "$t/missing.c" -o "$t/missing.o"
	rc=0; bash "$here" "$t/missing.o" >"$t/out" 2>&1 || rc=$?
	if [ $rc -ne 1 ]; then cat "$t/out"; echo "self-test FAILED: missing symbol accepted"; return 1; fi
	echo "self-test: missing exported lookup detected"
	echo "self-test passed"
}

if [ "${1:-}" = "--self-test" ]; then
	self_test
	exit
fi

cd "$(dirname "$0")/.."
obj=${1:-${LFMAP_ASM_INPUT:-build/release/liblfmap.a}}
if [ ! -f "$obj" ]; then
	echo "check-lookup-asm: $obj not found (build the release variant first)" >&2
	exit 2
fi
case $(uname -m) in
x86_64) ;;
*) echo "check-lookup-asm: note: the forbidden-instruction list is for x86-64" ;;
esac

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# One line per instruction: "<member>|<function>\t<instruction text>"
# (qualified by archive member to keep same-named statics apart). With -r,
# the target of a call/jmp that is still a relocation in an unlinked object
# (a call to a global function, or into another object) is taken from the
# relocation record and written as "<symbol>".
objdump -dr --no-show-raw-insn "$obj" | awk -v OFS='\t' '
	function flush() { if (pending != "") print key, pending; pending = "" }
	/^In archive/ { next }
	/^[^ \t].*:[ \t]+file format/ { flush(); member = $1; sub(/:$/, "", member); next }
	/^[0-9a-f]+ <.*>:$/ { flush(); fn = $2; gsub(/^<|>:$/, "", fn); key = member "|" fn; next }
	/^$/ { flush(); fn = ""; next }
	fn == "" { next }
	/^[ \t]+[0-9a-f]+: R_[A-Z0-9_]+[ \t]/ {
		if (pending ~ /^(call|jmp|j[a-z]+)[a-z]*[ \t]/) {
			sym = $3; sub(/[-+]0x[0-9a-f]+$/, "", sym)
			sub(/<[^>]*>/, "", pending); pending = pending "<" sym ">"
		}
		next
	}
	/^[ \t]+[0-9a-f]+:\t/ {
		flush(); line = $0; sub(/^[ \t]+[0-9a-f]+:\t/, "", line); pending = line
	}
	END { flush() }' >"$t/insns"
cut -f1 "$t/insns" | sort -u >"$t/funcs"

# Functions to check: member|name entries.
match_name() { grep -E "\|($1)(\.[a-z_]+\.?[0-9]*)*\$" "$t/funcs" || true; }

: >"$t/todo"
status=0
for f in "${EXPORTED[@]}"; do
	if [ -z "$(match_name "$f")" ]; then
		echo "MISSING   $f: not defined in $obj"
		status=1
	fi
	match_name "$f" >>"$t/todo"
done
grep -E '\|lfm_[A-Za-z0-9_]*lookup' "$t/funcs" >>"$t/todo" || true
sort -u -o "$t/todo" "$t/todo"

: >"$t/done"
: >"$t/skipped"
nchecked=0
while [ -s "$t/todo" ]; do
	key=$(head -n1 "$t/todo")
	sed -i 1d "$t/todo"
	grep -qxF "$key" "$t/done" && continue
	echo "$key" >>"$t/done"
	nchecked=$((nchecked + 1))
	body=$(awk -F'\t' -v k="$key" '$1 == k { print $2 }' "$t/insns")
	n=$(printf '%s\n' "$body" | grep -c . || true)
	bad=$(printf '%s\n' "$body" | grep -E \
		'(^|[[:space:]])lock([[:space:]]|$)|^xchg[a-z]*[[:space:]].*\(|^(m|l|s)fence' || true)
	if [ -n "$bad" ]; then
		echo "FORBIDDEN ${key#*|} (${key%%|*}, $n insns):"
		printf '%s\n' "$bad" | sed 's/^/            /'
		status=1
	else
		echo "ok        ${key#*|} (${key%%|*}, $n insns)"
	fi
	# Direct call/jmp targets "<name>" or "<name+0x..>" defined in the object.
	{ printf '%s\n' "$body" | grep -E '^(call|jmp|j[a-z]+)[a-z]*[[:space:]]' || true; } |
		sed -nE 's/.*<([^>+]+)(\+0x[0-9a-f]+)?>.*/\1/p' | sort -u |
		while read -r callee; do
			[ "$callee" = "${key#*|}" ] && continue
			# Prefer the callee in the same archive member (statics).
			ck=$(grep -xF "${key%%|*}|$callee" "$t/funcs" ||
			     grep -E "\|${callee//./\\.}\$" "$t/funcs" || true)
			[ -n "$ck" ] || continue # external (libc, liburcu)
			[[ $callee == *@plt ]] && continue
			if [[ $callee == *lookup* || $callee == *_get* || ${LFMAP_ASM_STRICT:-0} == 1 ]]; then
				printf '%s\n' "$ck" >>"$t/todo"
			else
				echo "$callee (called from ${key#*|})" >>"$t/skipped"
			fi
		done
done

if [ -s "$t/skipped" ]; then
	echo "not checked (names without lookup/_get; LFMAP_ASM_STRICT=1 checks them):"
	sort -u "$t/skipped" | sed 's/^/            /'
fi
echo "check-lookup-asm: $obj: $nchecked functions checked: $([ $status -eq 0 ] && echo OK || echo FAILED)"
exit $status
