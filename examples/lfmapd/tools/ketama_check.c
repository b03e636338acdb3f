/*
 * ketama_check.c - scale-out check for lfmapd with libmemcached's consistent
 * hashing (ketama).
 *
 * usage: ketama_check NKEYS PORT1 PORT2 PORT3 ...   (servers on 127.0.0.1)
 *
 *  1. A libmemcached client with MEMCACHED_BEHAVIOR_KETAMA (consistent
 *     hashing, MD5 continuum) over all servers stores NKEYS keys with values
 *     derived from the key, then reads every key back and compares.
 *  2. Each key is looked up directly on the server ketama chose (a
 *     one-server client) and must be there, and absent from the others
 *     (checked on a sample).
 *  3. With the last server removed from the client's list, every key that
 *     lived on a remaining server must still map to that same server (the
 *     consistent-hashing property: only the removed server's keys move).
 * Prints the per-server key counts; exits 1 on any mismatch.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXS 16

static memcached_st *client(const int *ports, int n)
{
	memcached_st *m = memcached_create(NULL);
	if (!m)
		return NULL;
	memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA, 1);
	for (int i = 0; i < n; i++)
		if (memcached_server_add(m, "127.0.0.1", (in_port_t)ports[i]) != MEMCACHED_SUCCESS)
			return NULL;
	return m;
}

static int server_index(memcached_st *m, const char *key, const int *ports, int n)
{
	memcached_return_t rc;
	const memcached_instance_st *in = memcached_server_by_key(m, key, strlen(key), &rc);
	if (!in)
		return -1;
	in_port_t p = memcached_server_port(in);
	for (int i = 0; i < n; i++)
		if (ports[i] == p)
			return i;
	return -1;
}

static void value_of(int i, char *buf, size_t sz)
{
	snprintf(buf, sz, "value-%d-%08x", i, (unsigned)(i * 2654435761u));
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s NKEYS PORT1 PORT2 [PORT3...]\n", argv[0]);
		return 2;
	}
	int nkeys = atoi(argv[1]), ns = argc - 2, ports[MAXS], count[MAXS] = { 0 };
	if (ns > MAXS)
		ns = MAXS;
	for (int i = 0; i < ns; i++)
		ports[i] = atoi(argv[2 + i]);
	memcached_st *all = client(ports, ns), *one[MAXS], *fewer = client(ports, ns - 1);
	for (int i = 0; i < ns; i++)
		one[i] = client(ports + i, 1);
	if (!all || !fewer)
		return 2;
	int *where = calloc((size_t)nkeys, sizeof(int));
	int fails = 0, moved = 0, stayed = 0, misplaced = 0;
	char key[64], val[64];

	for (int i = 0; i < nkeys; i++) {
		snprintf(key, sizeof(key), "ketama:%d", i);
		value_of(i, val, sizeof(val));
		if (memcached_set(all, key, strlen(key), val, strlen(val), 0, 0) != MEMCACHED_SUCCESS) {
			if (fails++ < 5)
				fprintf(stderr, "set %s failed: %s\n", key, memcached_last_error_message(all));
		}
		where[i] = server_index(all, key, ports, ns);
		if (where[i] >= 0)
			count[where[i]]++;
	}
	for (int i = 0; i < nkeys; i++) {
		size_t len;
		uint32_t flags;
		memcached_return_t rc;
		snprintf(key, sizeof(key), "ketama:%d", i);
		value_of(i, val, sizeof(val));
		char *v = memcached_get(all, key, strlen(key), &len, &flags, &rc);
		if (!v || len != strlen(val) || memcmp(v, val, len) != 0) {
			if (fails++ < 5)
				fprintf(stderr, "get %s: wrong or missing value\n", key);
		}
		free(v);
		/* direct placement, on a sample */
		if (i % 10 == 0 && where[i] >= 0) {
			for (int s = 0; s < ns; s++) {
				char *d = memcached_get(one[s], key, strlen(key), &len, &flags, &rc);
				int here = d != NULL;
				free(d);
				if (here != (s == where[i]))
					misplaced++;
			}
		}
		/* remove the last server: keys of the others must not move */
		if (where[i] >= 0 && where[i] < ns - 1) {
			if (server_index(fewer, key, ports, ns - 1) == where[i])
				stayed++;
			else
				moved++;
		}
	}
	printf("ketama: %d keys over %d servers:", nkeys, ns);
	for (int i = 0; i < ns; i++)
		printf(" %d:%d", ports[i], count[i]);
	printf("\nketama: set/get mismatches %d, misplaced (sampled) %d, "
	       "keys of surviving servers that moved when one was removed %d of %d\n",
	       fails, misplaced, moved, moved + stayed);
	int ok = fails == 0 && misplaced == 0 && moved == 0;
	for (int i = 0; i < ns; i++)
		if (count[i] < nkeys / (4 * ns))
			ok = 0; /* a server got (almost) nothing: not distributed */
	printf("summary: ketama over %d lfmapd: %s (%d keys; per server", ns, ok ? "ok" : "FAILED",
	       nkeys);
	for (int i = 0; i < ns; i++)
		printf(" %d", count[i]);
	printf("; 0 surviving keys moved: %s)\n", moved == 0 ? "yes" : "no");
	return ok ? 0 : 1;
}
