/* bench/probes/clock-gaps.c - how often does this machine pause a thread
 * that does nothing but read CLOCK_MONOTONIC? The floor under any
 * per-operation latency figure (docs/PERFORMANCE.md, "Growth", session 7).
 *   build/bench/clock-gaps THREADS SECONDS
 * prints, per thread, gaps between consecutive clock reads above 2, 10 and
 * 20 us (per second) and the longest gap. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *run(void *arg)
{
	uint64_t last = now_ns(), end = last + (uint64_t)(seconds * 1e9);
	uint64_t over2 = 0, over10 = 0, over20 = 0, longest = 0;
	for (;;) {
		uint64_t t = now_ns(), d = t - last;
		last = t;
		over2 += d > 2000;
		over10 += d > 10000;
		over20 += d > 20000;
		if (d > longest)
			longest = d;
		if (t > end)
			break;
	}
	printf("thread %ld: gaps > 2 us %.0f/s, > 10 us %.0f/s, > 20 us %.0f/s, longest %.3f ms\n",
	       (long)(intptr_t)arg, over2 / seconds, over10 / seconds, over20 / seconds,
	       longest / 1e6);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	seconds = argc > 2 ? atof(argv[2]) : 2.0;
	if (n < 1 || n > 64 || seconds <= 0) {
		fprintf(stderr, "usage: clock-gaps THREADS SECONDS\n");
		return 2;
	}
	pthread_t th[64];
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
