/*
 * lfmapd - a small multithreaded memcached text-protocol server whose items
 * live in an lfmap intrusive node map (store.c).
 *
 * Threads: N workers, each with its own epoll event loop; the listening
 * socket is in every worker's epoll (EPOLLEXCLUSIVE) and accepted
 * connections are dealt round-robin to the workers through one pipe each.
 * A connection belongs to one worker for its whole life, so connection
 * state needs no locks; the item store is shared and lock-free (readers
 * never lock, writers publish new immutable items with lfmap operations).
 *
 * RCU: urcu-qsbr. A worker is online while it handles events and passes one
 * quiescent state per loop iteration; it goes offline only around a blocking
 * epoll_wait. So item pointers found during an iteration stay valid until
 * the iteration ends (responses are copied to the connection's output
 * buffer before that), and lookups cost no read-side barrier at all.
 *
 * Usage: lfmapd [-p port] [-l addr] [-t threads] [-m MiB] [-c maxconns]
 *               [-I item_max] [-v[v]] [-V] [-h]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _LGPL_SOURCE
#include "store.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LFMAPD_VERSION "0.1.0"
/* libmemcached parses "major.minor.micro" from the version reply to decide
 * which commands a server has; lfmapd speaks the 1.6 text protocol. */
#define PROTO_VERSION "1.6.18"

#define RBUF_INIT 4096
#define LINE_MAX_LEN (64 * 1024)     /* longest command line (multi-get) */
#define WBUF_MAX ((size_t)64 << 20)  /* per-connection response bytes */
#define OUT_HIGH ((size_t)1 << 20)   /* stop reading above this backlog */
#define MAX_TOKENS 8

enum cstate { S_CMD, S_DATA, S_SWALLOW };

struct worker;

struct conn {
	int fd;
	struct worker *w;
	struct conn *prev, *next; /* the worker's connection list */
	char *rbuf;
	size_t rcap, rstart, rend;
	char *wbuf;
	size_t wcap, wstart, wend;
	enum cstate state;
	struct item *pit;  /* S_DATA: item being received */
	size_t pneed, pgot;
	enum store_mode pmode;
	uint64_t pcas;
	bool pnoreply;
	size_t swallow;    /* S_SWALLOW: bytes left to drop */
	bool closing;      /* close once the output is flushed */
	bool eof;
	bool noreply;      /* current command */
	bool oom;          /* output buffer could not grow */
	uint32_t events;   /* registered epoll mask */
};

struct wstats {
	atomic_ullong cmd_get, get_hits, get_misses, cmd_set, cmd_touch, touch_hits,
		touch_misses, delete_hits, delete_misses, incr_hits, incr_misses,
		decr_hits, decr_misses, cas_hits, cas_misses, cas_badval, cmd_flush,
		curr_conns, total_conns, bytes_read, bytes_written, rejected_conns,
		protocol_errors;
};

struct worker {
	pthread_t th;
	unsigned id;
	int ep;
	int pipe_r, pipe_w;
	bool listen_paused;
	time_t listen_resume;
	struct conn *conns;
	struct wstats st;
} __attribute__((aligned(64)));

static struct {
	int port;
	const char *addr;
	unsigned threads;
	size_t mem_mib;
	unsigned maxconns;
	size_t item_max;
	int verbose;
} opt = { 11211, "127.0.0.1", 4, 64, 4096, 1024 * 1024, 0 };

static int listen_fd;
static struct worker *workers;
static atomic_uint rr_next;
static atomic_uint total_conns_now;
static atomic_int verbosity;
static atomic_bool stopping;
static time_t started;

static char listen_tag, pipe_tag; /* epoll data.ptr markers */

static void vlog(int level, const char *fmt, ...)
{
	if (atomic_load_explicit(&verbosity, memory_order_relaxed) < level)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("lfmapd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static inline void inc(atomic_ullong *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed); /* only the owning worker writes */
}

/* ---- output -------------------------------------------------------------- */

static bool out_reserve(struct conn *c, size_t n)
{
	if (c->wend + n <= c->wcap)
		return true;
	if (c->wstart > 0 && c->wend - c->wstart + n <= c->wcap) {
		memmove(c->wbuf, c->wbuf + c->wstart, c->wend - c->wstart);
		c->wend -= c->wstart;
		c->wstart = 0;
		return true;
	}
	size_t need = c->wend - c->wstart + n;
	if (need > WBUF_MAX) {
		c->oom = true;
		return false;
	}
	size_t cap = c->wcap ? c->wcap : 1024;
	while (cap < need)
		cap *= 2;
	char *nb = malloc(cap);
	if (!nb) {
		c->oom = true;
		return false;
	}
	if (c->wbuf)
		memcpy(nb, c->wbuf + c->wstart, c->wend - c->wstart);
	free(c->wbuf);
	c->wbuf = nb;
	c->wend -= c->wstart;
	c->wstart = 0;
	c->wcap = cap;
	return true;
}

static void out_bytes(struct conn *c, const void *p, size_t n)
{
	if (!out_reserve(c, n))
		return;
	memcpy(c->wbuf + c->wend, p, n);
	c->wend += n;
}

static void out_str(struct conn *c, const char *s) { out_bytes(c, s, strlen(s)); }

/* A normal reply: suppressed under noreply. */
static void reply(struct conn *c, const char *s)
{
	if (!c->noreply)
		out_str(c, s);
}

static void out_fmt(struct conn *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_bytes(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void client_error(struct conn *c, const char *msg)
{
	inc(&c->w->st.protocol_errors, 1);
	out_fmt(c, "CLIENT_ERROR %s\r\n", msg);
}

/* ---- connections --------------------------------------------------------- */

static void set_events(struct conn *c)
{
	uint32_t ev = 0;
	bool backlog = c->wend > c->wstart;
	if (!c->closing && !c->eof && c->wend - c->wstart < OUT_HIGH)
		ev |= EPOLLIN;
	if (backlog)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void conn_close(struct conn *c)
{
	vlog(2, "<%d connection closed", c->fd);
	epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->pit)
		item_discard(c->pit);
	inc(&c->w->st.curr_conns, (uint64_t)-1);
	atomic_fetch_sub(&total_conns_now, 1);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

static void conn_new(struct worker *w, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->rbuf = malloc(RBUF_INIT))) {
		free(c);
		close(fd);
		atomic_fetch_sub(&total_conns_now, 1);
		return;
	}
	c->fd = fd;
	c->w = w;
	c->rcap = RBUF_INIT;
	c->events = EPOLLIN;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
		free(c->rbuf);
		free(c);
		close(fd);
		atomic_fetch_sub(&total_conns_now, 1);
		return;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	inc(&w->st.curr_conns, 1);
	inc(&w->st.total_conns, 1);
	vlog(2, "<%d new client connection (worker %u)", fd, w->id);
}

/* Write what we can. Returns false if the connection was closed. */
static bool conn_flush(struct conn *c)
{
	while (c->wend > c->wstart) {
		ssize_t n = send(c->fd, c->wbuf + c->wstart, c->wend - c->wstart,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->wstart += (size_t)n;
			inc(&c->w->st.bytes_written, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c); /* peer gone */
		return false;
	}
	if (c->wstart == c->wend) {
		c->wstart = c->wend = 0;
		if (c->wcap > (size_t)1 << 16) { /* give large buffers back */
			free(c->wbuf);
			c->wbuf = NULL;
			c->wcap = 0;
		}
		if (c->closing) {
			conn_close(c);
			return false;
		}
	}
	set_events(c);
	return true;
}

/* ---- number parsing ------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!*s)
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* ---- commands ------------------------------------------------------------ */

static void emit_value(struct conn *c, struct item *it, bool with_cas)
{
	char hdr[KEY_MAX + 80];
	int n = with_cas ? snprintf(hdr, sizeof(hdr), "VALUE %.*s %u %u %llu\r\n", it->nkey,
				    item_key(it), it->flags, it->nbytes,
				    (unsigned long long)it->cas)
			 : snprintf(hdr, sizeof(hdr), "VALUE %.*s %u %u\r\n", it->nkey,
				    item_key(it), it->flags, it->nbytes);
	if (!out_reserve(c, (size_t)n + it->nbytes + 2))
		return;
	memcpy(c->wbuf + c->wend, hdr, (size_t)n);
	c->wend += (size_t)n;
	/* The item stays valid until this worker's next quiescent state. */
	memcpy(c->wbuf + c->wend, item_value(it), (size_t)it->nbytes + 2);
	c->wend += (size_t)it->nbytes + 2;
}

static void cmd_get(struct conn *c, char *args, bool with_cas)
{
	/* Where this command's reply starts, relative to wstart (out_reserve
	 * may move the pending bytes to the front of the buffer). */
	size_t mark = c->wend - c->wstart;
	int nkeys = 0;
	char *p = args;
	c->oom = false;
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		char *k = p;
		while (*p && *p != ' ')
			p++;
		size_t nk = (size_t)(p - k);
		if (nk > KEY_MAX) {
			c->wend = c->wstart + mark;
			client_error(c, "bad command line format");
			return;
		}
		nkeys++;
		inc(&c->w->st.cmd_get, 1);
		struct item *it = store_get(k, nk);
		if (it) {
			inc(&c->w->st.get_hits, 1);
			emit_value(c, it, with_cas);
		} else {
			inc(&c->w->st.get_misses, 1);
		}
		if (c->oom) {
			c->wend = c->wstart + mark;
			c->oom = false;
			out_str(c, "SERVER_ERROR out of memory writing get response\r\n");
			return;
		}
	}
	if (nkeys == 0) {
		out_str(c, "ERROR\r\n");
		return;
	}
	out_str(c, "END\r\n");
}

static const char *st_reply(enum st s)
{
	switch (s) {
	case ST_STORED: return "STORED\r\n";
	case ST_NOT_STORED: return "NOT_STORED\r\n";
	case ST_EXISTS: return "EXISTS\r\n";
	case ST_NOT_FOUND: return "NOT_FOUND\r\n";
	case ST_DELETED: return "DELETED\r\n";
	case ST_TOUCHED: return "TOUCHED\r\n";
	case ST_NON_NUMERIC:
		return "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
	case ST_NO_MEMORY: return "SERVER_ERROR out of memory storing object\r\n";
	case ST_TOO_LARGE: return "SERVER_ERROR object too large for cache\r\n";
	}
	return "SERVER_ERROR internal\r\n";
}

static bool is_noreply(char **tok, int ntok, int pos)
{
	return ntok > pos && strcmp(tok[pos], "noreply") == 0;
}

/* set/add/replace/append/prepend/cas <key> <flags> <exptime> <bytes> [cas] [noreply] */
static void cmd_store(struct conn *c, char **tok, int ntok, enum store_mode mode)
{
	int base = mode == MODE_CAS ? 6 : 5;
	uint64_t flags, casv = 0;
	int64_t exptime, bytes;
	if (ntok < base || ntok > base + 1) {
		out_str(c, "ERROR\r\n");
		inc(&c->w->st.protocol_errors, 1);
		return;
	}
	c->noreply = is_noreply(tok, ntok, base);
	if (!parse_i64(tok[4], &bytes) || bytes < 0 || bytes > INT_MAX - 2) {
		c->noreply = false;
		client_error(c, "bad command line format");
		return; /* no length: nothing can be swallowed */
	}
	size_t nk = strlen(tok[1]);
	if (nk > KEY_MAX || !parse_u64(tok[2], &flags) || flags > UINT32_MAX ||
	    !parse_i64(tok[3], &exptime) || (mode == MODE_CAS && !parse_u64(tok[5], &casv))) {
		/* The value would otherwise be read as commands. */
		c->noreply = false;
		client_error(c, "bad command line format");
		c->state = S_SWALLOW;
		c->swallow = (size_t)bytes + 2;
		return;
	}
	inc(&c->w->st.cmd_set, 1);
	enum st err;
	struct item *it = item_new(tok[1], nk, (uint32_t)flags, store_realtime(exptime),
				   (size_t)bytes, &err);
	if (!it) {
		reply(c, st_reply(err));
		if (mode == MODE_SET) /* as memcached: a failed set drops the old value */
			store_delete(tok[1], nk);
		c->state = S_SWALLOW;
		c->swallow = (size_t)bytes + 2;
		return;
	}
	c->pit = it;
	c->pneed = (size_t)bytes + 2;
	c->pgot = 0;
	c->pmode = mode;
	c->pcas = casv;
	c->pnoreply = c->noreply;
	c->state = S_DATA;
}

static void finish_store(struct conn *c)
{
	struct item *it = c->pit;
	c->pit = NULL;
	c->state = S_CMD;
	c->noreply = c->pnoreply;
	char *v = item_value(it);
	if (v[it->nbytes] != '\r' || v[it->nbytes + 1] != '\n') {
		item_discard(it);
		c->noreply = false;
		client_error(c, "bad data chunk");
		return;
	}
	enum st s = store_item(it, c->pmode, c->pcas);
	if (c->pmode == MODE_CAS) {
		if (s == ST_STORED)
			inc(&c->w->st.cas_hits, 1);
		else if (s == ST_EXISTS)
			inc(&c->w->st.cas_badval, 1);
		else if (s == ST_NOT_FOUND)
			inc(&c->w->st.cas_misses, 1);
	}
	reply(c, st_reply(s));
	store_maybe_evict();
}

static void cmd_arith(struct conn *c, char **tok, int ntok, bool incr)
{
	uint64_t delta, result;
	char buf[32];
	if (ntok != 3 && ntok != 4) {
		out_str(c, "ERROR\r\n");
		return;
	}
	c->noreply = is_noreply(tok, ntok, 3);
	if (strlen(tok[1]) > KEY_MAX) {
		client_error(c, "bad command line format");
		return;
	}
	if (!parse_u64(tok[2], &delta)) {
		client_error(c, "invalid numeric delta argument");
		return;
	}
	enum st s = store_arith(tok[1], strlen(tok[1]), incr, delta, &result);
	if (s == ST_STORED) {
		inc(incr ? &c->w->st.incr_hits : &c->w->st.decr_hits, 1);
		snprintf(buf, sizeof(buf), "%llu\r\n", (unsigned long long)result);
		reply(c, buf);
		store_maybe_evict();
		return;
	}
	if (s == ST_NOT_FOUND)
		inc(incr ? &c->w->st.incr_misses : &c->w->st.decr_misses, 1);
	reply(c, st_reply(s));
}

static void cmd_delete(struct conn *c, char **tok, int ntok)
{
	if (ntok > 2) {
		bool hold0 = strcmp(tok[2], "0") == 0;
		bool nr = is_noreply(tok, ntok, ntok - 1);
		bool ok = (ntok == 3 && (hold0 || nr)) || (ntok == 4 && hold0 && nr);
		if (!ok) {
			client_error(c, "bad command line format.  Usage: delete <key> [noreply]");
			return;
		}
		c->noreply = nr;
	}
	if (strlen(tok[1]) > KEY_MAX) {
		client_error(c, "bad command line format");
		return;
	}
	enum st s = store_delete(tok[1], strlen(tok[1]));
	inc(s == ST_DELETED ? &c->w->st.delete_hits : &c->w->st.delete_misses, 1);
	reply(c, st_reply(s));
}

static void cmd_touch(struct conn *c, char **tok, int ntok)
{
	int64_t exptime;
	if (ntok != 3 && ntok != 4) {
		out_str(c, "ERROR\r\n");
		return;
	}
	c->noreply = is_noreply(tok, ntok, 3);
	if (strlen(tok[1]) > KEY_MAX || !parse_i64(tok[2], &exptime)) {
		client_error(c, "bad command line format");
		return;
	}
	inc(&c->w->st.cmd_touch, 1);
	enum st s = store_touch(tok[1], strlen(tok[1]), store_realtime(exptime));
	inc(s == ST_TOUCHED ? &c->w->st.touch_hits : &c->w->st.touch_misses, 1);
	reply(c, st_reply(s));
}

static uint64_t sum_stat(size_t off)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < opt.threads; i++)
		s += atomic_load_explicit((atomic_ullong *)((char *)&workers[i].st + off),
					  memory_order_relaxed);
	return s;
}
#define SUM(f) sum_stat(offsetof(struct wstats, f))

static void cmd_stats(struct conn *c, char **tok, int ntok)
{
	if (ntok == 1) {
		struct store_stats ss;
		struct rusage ru;
		struct timespec ts;
		store_get_stats(&ss);
		getrusage(RUSAGE_SELF, &ru);
		clock_gettime(CLOCK_REALTIME, &ts);
		out_fmt(c, "STAT pid %d\r\n", (int)getpid());
		out_fmt(c, "STAT uptime %u\r\n", store_now() - 2);
		out_fmt(c, "STAT time %lld\r\n", (long long)ts.tv_sec);
		out_fmt(c, "STAT version %s\r\n", PROTO_VERSION);
		out_fmt(c, "STAT lfmapd_version %s\r\n", LFMAPD_VERSION);
		out_fmt(c, "STAT pointer_size %d\r\n", (int)(8 * sizeof(void *)));
		out_fmt(c, "STAT rusage_user %ld.%06ld\r\n", (long)ru.ru_utime.tv_sec,
			(long)ru.ru_utime.tv_usec);
		out_fmt(c, "STAT rusage_system %ld.%06ld\r\n", (long)ru.ru_stime.tv_sec,
			(long)ru.ru_stime.tv_usec);
		out_fmt(c, "STAT max_connections %u\r\n", opt.maxconns);
		out_fmt(c, "STAT curr_connections %llu\r\n", (unsigned long long)SUM(curr_conns));
		out_fmt(c, "STAT total_connections %llu\r\n", (unsigned long long)SUM(total_conns));
		out_fmt(c, "STAT rejected_connections %llu\r\n",
			(unsigned long long)SUM(rejected_conns));
#define S(name, f) out_fmt(c, "STAT " name " %llu\r\n", (unsigned long long)SUM(f))
		S("cmd_get", cmd_get);
		S("cmd_set", cmd_set);
		S("cmd_flush", cmd_flush);
		S("cmd_touch", cmd_touch);
		S("get_hits", get_hits);
		S("get_misses", get_misses);
		S("delete_misses", delete_misses);
		S("delete_hits", delete_hits);
		S("incr_misses", incr_misses);
		S("incr_hits", incr_hits);
		S("decr_misses", decr_misses);
		S("decr_hits", decr_hits);
		S("cas_misses", cas_misses);
		S("cas_hits", cas_hits);
		S("cas_badval", cas_badval);
		S("touch_hits", touch_hits);
		S("touch_misses", touch_misses);
		S("bytes_read", bytes_read);
		S("bytes_written", bytes_written);
		S("protocol_errors", protocol_errors);
#undef S
		out_fmt(c, "STAT limit_maxbytes %llu\r\n",
			(unsigned long long)(opt.mem_mib << 20));
		out_fmt(c, "STAT threads %u\r\n", opt.threads);
		out_fmt(c, "STAT bytes %llu\r\n", (unsigned long long)ss.bytes);
		out_fmt(c, "STAT curr_items %llu\r\n", (unsigned long long)ss.curr_items);
		out_fmt(c, "STAT total_items %llu\r\n", (unsigned long long)ss.total_items);
		out_fmt(c, "STAT evictions %llu\r\n", (unsigned long long)ss.evictions);
		out_fmt(c, "STAT reclaimed %llu\r\n", (unsigned long long)ss.reclaimed);
		out_str(c, "END\r\n");
	} else if (ntok == 2 && strcmp(tok[1], "settings") == 0) {
		out_fmt(c, "STAT maxbytes %llu\r\n", (unsigned long long)(opt.mem_mib << 20));
		out_fmt(c, "STAT maxconns %u\r\n", opt.maxconns);
		out_fmt(c, "STAT tcpport %d\r\n", opt.port);
		out_fmt(c, "STAT interface %s\r\n", opt.addr);
		out_fmt(c, "STAT verbosity %d\r\n", atomic_load(&verbosity));
		out_fmt(c, "STAT num_threads %u\r\n", opt.threads);
		out_fmt(c, "STAT item_size_max %zu\r\n", opt.item_max);
		out_str(c, "STAT evictions on\r\nSTAT cas_enabled yes\r\n");
		out_str(c, "STAT rcu_flavor qsbr\r\nSTAT eviction_policy clock\r\nEND\r\n");
	} else if (ntok == 2 && strcmp(tok[1], "lfmap") == 0) {
		struct lfmap_stats ms;
		if (store_map_stats(&ms) != 0) {
			out_str(c, "SERVER_ERROR lfmap_stats failed\r\n");
			return;
		}
		out_fmt(c, "STAT entries %llu\r\n", (unsigned long long)ms.entries);
		out_fmt(c, "STAT buckets %llu\r\n", (unsigned long long)ms.buckets);
		out_fmt(c, "STAT overflow_buckets %llu\r\n",
			(unsigned long long)ms.overflow_buckets);
		out_fmt(c, "STAT load_factor %.3f\r\n", ms.load_factor);
		out_fmt(c, "STAT migrating %llu\r\n", (unsigned long long)ms.migrating);
		out_fmt(c, "STAT migrations_finished %llu\r\n",
			(unsigned long long)ms.migrations_finished);
		out_fmt(c, "STAT grows %llu\r\n", (unsigned long long)ms.grows);
		out_fmt(c, "STAT shrinks %llu\r\n", (unsigned long long)ms.shrinks);
		out_fmt(c, "STAT compactions %llu\r\n", (unsigned long long)ms.compactions);
		out_fmt(c, "STAT longest_migration_ns %llu\r\n",
			(unsigned long long)ms.longest_migration_ns);
		out_str(c, "END\r\n");
	} else if (ntok == 2 && strcmp(tok[1], "reset") == 0) {
		out_str(c, "RESET\r\n"); /* counters are cumulative in lfmapd */
	} else if (ntok == 2 && (strcmp(tok[1], "items") == 0 || strcmp(tok[1], "slabs") == 0 ||
				 strcmp(tok[1], "conns") == 0 || strcmp(tok[1], "sizes") == 0)) {
		out_str(c, "END\r\n"); /* no slab classes */
	} else {
		out_str(c, "ERROR\r\n");
	}
}

/* Execute one command line (without its line ending). */
static void dispatch(struct conn *c, char *line)
{
	char *tok[MAX_TOKENS];
	int ntok = 0;
	char *p = line;

	c->noreply = false;
	vlog(3, "<%d %s", c->fd, line);
	while (*p == ' ')
		p++;
	/* get/gets take any number of keys: handled before tokenizing. */
	if (strncmp(p, "get ", 4) == 0) {
		cmd_get(c, p + 4, false);
		return;
	}
	if (strncmp(p, "gets ", 5) == 0) {
		cmd_get(c, p + 5, true);
		return;
	}
	while (*p) {
		if (ntok == MAX_TOKENS) {
			out_str(c, "ERROR\r\n");
			inc(&c->w->st.protocol_errors, 1);
			return;
		}
		tok[ntok++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p) {
			*p++ = '\0';
			while (*p == ' ')
				p++;
		}
	}
	if (ntok == 0) {
		out_str(c, "ERROR\r\n");
		inc(&c->w->st.protocol_errors, 1);
		return;
	}
	const char *cmd = tok[0];
	if (ntok >= 2 && !strcmp(cmd, "set"))
		cmd_store(c, tok, ntok, MODE_SET);
	else if (ntok >= 2 && !strcmp(cmd, "add"))
		cmd_store(c, tok, ntok, MODE_ADD);
	else if (ntok >= 2 && !strcmp(cmd, "replace"))
		cmd_store(c, tok, ntok, MODE_REPLACE);
	else if (ntok >= 2 && !strcmp(cmd, "append"))
		cmd_store(c, tok, ntok, MODE_APPEND);
	else if (ntok >= 2 && !strcmp(cmd, "prepend"))
		cmd_store(c, tok, ntok, MODE_PREPEND);
	else if (ntok >= 2 && !strcmp(cmd, "cas"))
		cmd_store(c, tok, ntok, MODE_CAS);
	else if (ntok >= 2 && !strcmp(cmd, "delete"))
		cmd_delete(c, tok, ntok);
	else if (ntok >= 2 && !strcmp(cmd, "incr"))
		cmd_arith(c, tok, ntok, true);
	else if (ntok >= 2 && !strcmp(cmd, "decr"))
		cmd_arith(c, tok, ntok, false);
	else if (ntok >= 2 && !strcmp(cmd, "touch"))
		cmd_touch(c, tok, ntok);
	else if (!strcmp(cmd, "stats"))
		cmd_stats(c, tok, ntok);
	else if (!strcmp(cmd, "flush_all")) {
		int64_t delay = 0;
		c->noreply = is_noreply(tok, ntok, ntok - 1);
		int nargs = ntok - 1 - (c->noreply ? 1 : 0);
		if (nargs > 1 || (nargs == 1 && (!parse_i64(tok[1], &delay) || delay < 0))) {
			c->noreply = false;
			client_error(c, "bad command line format");
			return;
		}
		inc(&c->w->st.cmd_flush, 1);
		if (delay > 0 && delay <= 60 * 60 * 24 * 30)
			store_flush((uint32_t)delay);
		else if (delay > 0) {
			uint32_t t = store_realtime(delay);
			store_flush(t > store_now() ? t - store_now() : 0);
		} else
			store_flush(0);
		reply(c, "OK\r\n");
	} else if (!strcmp(cmd, "version")) /* arguments ignored, as memcached */
		out_str(c, "VERSION " PROTO_VERSION "\r\n");
	else if (!strcmp(cmd, "verbosity") && (ntok == 2 || ntok == 3)) {
		/* As memcached: "verbosity noreply" is a silent no-op; a level
		 * that is not a number counts as 0. */
		c->noreply = is_noreply(tok, ntok, ntok - 1);
		int64_t v = 0;
		if (!parse_i64(tok[1], &v))
			v = 0;
		atomic_store(&verbosity, v < 0 ? 0 : v > 3 ? 3 : (int)v);
		reply(c, "OK\r\n");
	} else if (!strcmp(cmd, "quit")) /* arguments ignored, as memcached */
		c->closing = true;
	else {
		inc(&c->w->st.protocol_errors, 1);
		out_str(c, "ERROR\r\n");
	}
}

/* Consume buffered input. */
static void process(struct conn *c)
{
	while (!c->closing && c->rstart < c->rend) {
		size_t avail = c->rend - c->rstart;
		if (c->state == S_SWALLOW) {
			size_t n = avail < c->swallow ? avail : c->swallow;
			c->rstart += n;
			c->swallow -= n;
			if (c->swallow == 0)
				c->state = S_CMD;
			continue;
		}
		if (c->state == S_DATA) {
			size_t n = c->pneed - c->pgot;
			if (n > avail)
				n = avail;
			memcpy(item_value(c->pit) + c->pgot, c->rbuf + c->rstart, n);
			c->pgot += n;
			c->rstart += n;
			if (c->pgot == c->pneed) {
				store_read_lock();
				finish_store(c);
				store_read_unlock();
			}
			continue;
		}
		/* A backlog of replies: let the client read before more commands. */
		if (c->wend - c->wstart >= OUT_HIGH)
			break;
		char *nl = memchr(c->rbuf + c->rstart, '\n', avail);
		if (!nl) {
			if (avail > LINE_MAX_LEN) {
				client_error(c, "line too long");
				c->closing = true;
			}
			break;
		}
		char *line = c->rbuf + c->rstart;
		size_t len = (size_t)(nl - line);
		c->rstart += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (memchr(line, '\0', len)) { /* NUL bytes in a command line */
			client_error(c, "bad command line format");
			continue;
		}
		store_read_lock();
		dispatch(c, line);
		store_read_unlock();
	}
	if (c->rstart == c->rend)
		c->rstart = c->rend = 0;
}

/* Read what the socket has (a bounded amount), consuming commands as they
 * complete. Returns false if the connection was closed. */
static bool conn_read(struct conn *c)
{
	for (int rounds = 0; rounds < 4 && !c->closing && !c->eof; rounds++) {
		if (c->wend - c->wstart >= OUT_HIGH)
			break;
		/* Room to read: compact, then grow up to the line limit. */
		if (c->rend == c->rcap && c->rstart > 0) {
			memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
			c->rend -= c->rstart;
			c->rstart = 0;
		}
		if (c->rend == c->rcap) {
			size_t cap = c->rcap * 2;
			char *nb = cap <= 2 * LINE_MAX_LEN + RBUF_INIT ? realloc(c->rbuf, cap) : NULL;
			if (!nb) {
				client_error(c, "line too long");
				c->closing = true;
				break;
			}
			c->rbuf = nb;
			c->rcap = cap;
		}
		ssize_t n = recv(c->fd, c->rbuf + c->rend, c->rcap - c->rend, MSG_DONTWAIT);
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return false;
		}
		inc(&c->w->st.bytes_read, (uint64_t)n);
		c->rend += (size_t)n;
		process(c);
		if ((size_t)n < (c->rcap - c->rstart) / 2)
			break;
	}
	return true;
}

/* One epoll event: read, then alternate flushing and consuming buffered
 * commands (held back while the reply backlog was high) until neither makes
 * progress; conn_flush() re-arms EPOLLIN/EPOLLOUT. */
static void conn_event(struct conn *c, uint32_t events)
{
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !conn_read(c))
		return;
	for (;;) {
		if (!conn_flush(c))
			return;
		if (c->closing || c->rstart >= c->rend || c->wend - c->wstart >= OUT_HIGH)
			break;
		size_t before = c->rstart + c->rend;
		process(c);
		if (c->rstart + c->rend == before)
			break;
	}
	/* The peer closed its side and every reply is out: whatever input is
	 * left is an unfinished command that can never complete. */
	if (c->eof && c->wstart == c->wend) {
		conn_close(c);
		return;
	}
	/* Shrink a large idle input buffer (many idle connections). */
	if (c->rstart == c->rend && c->rcap > RBUF_INIT) {
		char *nb = realloc(c->rbuf, RBUF_INIT);
		if (nb) {
			c->rbuf = nb;
			c->rcap = RBUF_INIT;
		}
	}
}

/* ---- accept and workers -------------------------------------------------- */

static void do_accept(struct worker *w)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: stop accepting for a second
				 * instead of spinning on the level-triggered listener. */
				vlog(1, "accept: %s; pausing the listener", strerror(errno));
				epoll_ctl(w->ep, EPOLL_CTL_DEL, listen_fd, NULL);
				w->listen_paused = true;
				w->listen_resume = time(NULL) + 1;
			}
			return;
		}
		if (atomic_fetch_add(&total_conns_now, 1) >= opt.maxconns) {
			static const char msg[] = "SERVER_ERROR Too many open connections\r\n";
			ssize_t r = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)r;
			close(fd);
			atomic_fetch_sub(&total_conns_now, 1);
			inc(&w->st.rejected_conns, 1);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		unsigned t = atomic_fetch_add_explicit(&rr_next, 1, memory_order_relaxed) %
			     opt.threads;
		if (t != w->id &&
		    write(workers[t].pipe_w, &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
			continue;
		conn_new(w, fd);
	}
}

static void drain_pipe(struct worker *w)
{
	int fds[64];
	ssize_t n = read(w->pipe_r, fds, sizeof(fds));
	for (ssize_t i = 0; i + (ssize_t)sizeof(int) <= n; i += (ssize_t)sizeof(int))
		conn_new(w, fds[i / (ssize_t)sizeof(int)]);
}

static void listen_add(struct worker *w)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_tag };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, listen_fd, &e) != 0)
		vlog(0, "epoll_ctl(listener): %s", strerror(errno));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[128];

	urcu_qsbr_register_thread(); /* QSBR: registered threads start online */
	store_thread_init(w->id);
	while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
		/* Offline while (possibly) blocked, so that grace periods and
		 * the call_rcu frees of other workers do not wait for us. Going
		 * offline and online costs a few fences, less than a second
		 * non-blocking epoll_wait per iteration to avoid it. */
		urcu_qsbr_thread_offline();
		int n = epoll_wait(w->ep, evs, 128, 500);
		urcu_qsbr_thread_online();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &listen_tag)
				do_accept(w);
			else if (p == &pipe_tag)
				drain_pipe(w);
			else
				conn_event(p, evs[i].events);
		}
		if (w->listen_paused && time(NULL) >= w->listen_resume) {
			w->listen_paused = false;
			listen_add(w);
		}
		/* Every item pointer of this iteration is dead from here on. */
		urcu_qsbr_quiescent_state();
	}
	/* Shutdown: close our connections (frees half-received items too). */
	while (w->conns)
		conn_close(w->conns);
	urcu_qsbr_unregister_thread();
	return NULL;
}

/* ---- main ---------------------------------------------------------------- */

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return 0;
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	else if (*end)
		return 0;
	return (size_t)v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"lfmapd %s - memcached text protocol server on lfmap\n"
		"usage: lfmapd [options]\n"
		"  -p PORT     TCP port (default 11211; 0 = any free port, printed)\n"
		"  -l ADDR     listen address (default 127.0.0.1)\n"
		"  -t N        worker threads (default 4)\n"
		"  -m MIB      memory for items in MiB (default 64)\n"
		"  -c N        max simultaneous connections (default 4096)\n"
		"  -I SIZE     largest value, e.g. 1m, 512k (default 1m)\n"
		"  -v          verbose (-vv connections, -vvv commands)\n"
		"  -V          print the version\n"
		"  -h          this help\n",
		LFMAPD_VERSION);
}

int main(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "p:l:t:m:c:I:vVhU:")) != -1) {
		switch (ch) {
		case 'p': opt.port = atoi(optarg); break;
		case 'l': opt.addr = optarg; break;
		case 't': opt.threads = (unsigned)atoi(optarg); break;
		case 'm': opt.mem_mib = (size_t)atoll(optarg); break;
		case 'c': opt.maxconns = (unsigned)atoi(optarg); break;
		case 'I': opt.item_max = parse_size(optarg); break;
		case 'v': opt.verbose++; break;
		case 'U': break; /* memcached's UDP port: lfmapd has no UDP */
		case 'V': printf("lfmapd %s (memcached text protocol %s, lfmap %d.%d.%d)\n",
				 LFMAPD_VERSION, PROTO_VERSION, LFMAP_VERSION_MAJOR,
				 LFMAP_VERSION_MINOR, LFMAP_VERSION_PATCH);
			  return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (opt.threads < 1 || opt.threads > 256 || opt.mem_mib < 1 || opt.maxconns < 1 ||
	    opt.item_max < 1 || opt.item_max > ((size_t)1 << 30) || opt.port < 0 ||
	    opt.port > 65535) {
		usage(stderr);
		return 2;
	}
	atomic_store(&verbosity, opt.verbose);
	started = time(NULL);
	(void)started;

	/* Descriptors for maxconns connections plus our own. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.maxconns + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)opt.maxconns + 64 ? rl.rlim_max
								      : (rlim_t)opt.maxconns + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* Signals: workers never see them; main waits for SIGINT/SIGTERM. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct store_config sc = {
		.mem_limit = opt.mem_mib << 20,
		.item_max = opt.item_max,
		.nthreads = opt.threads,
		.verbose = opt.verbose,
	};
	if (store_init(&sc) != 0) {
		fprintf(stderr, "lfmapd: cannot create the store: %s\n", strerror(errno));
		return 1;
	}

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	if (inet_pton(AF_INET, opt.addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "lfmapd: bad IPv4 address '%s'\n", opt.addr);
		return 2;
	}
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(listen_fd, 1024) != 0) {
		fprintf(stderr, "lfmapd: cannot listen on %s:%d: %s\n", opt.addr, opt.port,
			strerror(errno));
		return 1;
	}
	socklen_t sl = sizeof(sa);
	getsockname(listen_fd, (struct sockaddr *)&sa, &sl);
	opt.port = ntohs(sa.sin_port);

	workers = aligned_alloc(64, sizeof(*workers) * opt.threads);
	if (!workers)
		return 1;
	memset(workers, 0, sizeof(*workers) * opt.threads);
	for (unsigned i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		int pfd[2];
		w->id = i;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (w->ep < 0 || pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0) {
			perror("lfmapd: epoll/pipe");
			return 1;
		}
		w->pipe_r = pfd[0];
		w->pipe_w = pfd[1];
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &pipe_tag };
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->pipe_r, &e);
		listen_add(w);
	}
	for (unsigned i = 0; i < opt.threads; i++)
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0) {
			perror("lfmapd: pthread_create");
			return 1;
		}
	fprintf(stderr, "lfmapd %s listening on %s:%d (threads %u, memory %zu MiB, item max %zu)\n",
		LFMAPD_VERSION, opt.addr, opt.port, opt.threads, opt.mem_mib, opt.item_max);

	int sig;
	sigwait(&set, &sig);
	vlog(1, "signal %d: shutting down", sig);
	atomic_store(&stopping, true);
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(workers[i].th, NULL);
	/* Connections are left to the kernel; the store is destroyed so that
	 * leak checkers see every item freed. */
	urcu_qsbr_register_thread();
	store_fini();
	urcu_qsbr_unregister_thread();
	return 0;
}
