/*
 * connguard.c - the connection guard of connguard.h: per-address and total
 * limits that close a connection to admit a newcomer, and deadlines for
 * request headers and for answers.
 *
 * State is a fixed array of `total` slots under one mutex. The server's
 * thread registers, marks and releases connections (connguard_open() ...
 * connguard_close()); the guard's own thread closes those whose deadline
 * passed: for request headers while one waits for them, for its answer
 * once that is queued (none while the handler makes it). Every decision
 * scans the slots: at most 64 of them in the server (fd_budget() in
 * http.c), a few hundred nanoseconds, cheaper than keeping lists
 * ordered. A slot is in use from connguard_open() to
 * connguard_close(), and its fd is open all that time (the caller's
 * promise), so shutdown() under the lock never reaches a descriptor the
 * server has closed and the process reused.
 *
 * The deadline thread sleeps until the earliest deadline of a connection,
 * or until signalled when there is none; a new deadline earlier than its
 * wake-up time signals it. Log lines (who was closed and why) are written
 * outside the lock and rate-limited: any client can cause them.
 */
#include "metrics/connguard.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

/* Unless told otherwise, ten lines a second, like the HTTP library's
 * messages (http.c): enough to see an attack and who makes it, not enough
 * to flood a log. */
static struct log_ratelimit own_log_rl = LOG_RATELIMIT_INIT(10);

/* A client address without its port: what the per-address limit counts. */
struct addr_key {
	sa_family_t family;
	unsigned char bytes[16];
};

struct connguard_conn {
	int fd;		   /* -1: the slot is free */
	bool closing;	   /* shut down by us; the server will close it */
	bool busy;	   /* its request is being answered */
	bool answered;	   /* answered before: kept alive for another one */
	uint64_t wait_seq; /* when it began waiting for headers, in order */
	double deadline;   /* monotonic seconds: its request headers by then,
			    * or (busy) its answer sent; INFINITY: none */
	double busy_since; /* monotonic seconds: when its request was complete */
	size_t answer_len; /* busy: the size of its answer, once queued */
	struct addr_key addr;
};

struct connguard {
	struct connguard_limits lim; /* lim.log_rl never NULL */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool has_thread;
	bool stopping;
	double wake; /* when the thread wakes next; INFINITY: when signalled */
	uint64_t seq;
	struct connguard_stats stats;
	struct connguard_conn *slots; /* lim.total */
};

/* What to log about a connection the guard closed, once unlocked. */
struct cut_note {
	enum {
		CUT_EVICTED_ADDR,
		CUT_EVICTED_TOTAL,
		CUT_REFUSED,
		CUT_TIMED_OUT,
		CUT_SEND_TIMED_OUT
	} why;
	struct addr_key addr;
	bool answered;
	bool busy;	   /* it was being answered */
	double busy_s;	   /* ... for so long */
	size_t answer_len; /* ... an answer of this size */
};

static void addr_key_of(const struct sockaddr *sa, socklen_t len,
			struct addr_key *k)
{
	memset(k, 0, sizeof(*k));
	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return;
	k->family = sa->sa_family;
	if (sa->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(struct sockaddr_in))
		memcpy(k->bytes, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
	else if (sa->sa_family == AF_INET6 &&
		 len >= (socklen_t)sizeof(struct sockaddr_in6))
		memcpy(k->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		       16);
}

static bool addr_key_eq(const struct addr_key *a, const struct addr_key *b)
{
	return a->family == b->family &&
	       !memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

static void addr_key_str(const struct addr_key *k, char *out, size_t cap)
{
	if (k->family != AF_INET && k->family != AF_INET6)
		snprintf(out, cap, "a client");
	else if (!inet_ntop(k->family, k->bytes, out, (socklen_t)cap))
		snprintf(out, cap, "a client");
}

static bool is_live(const struct connguard_conn *c)
{
	return c->fd >= 0 && !c->closing;
}

/*
 * The connection that makes room, other than `except`: live, not busy,
 * of address `a` (NULL: any). One that has not completed a first request
 * goes before one kept alive after a response; among equals, the one
 * that has waited longest. NULL when every candidate is busy.
 */
static struct connguard_conn *pick_victim(struct connguard *g,
					  const struct addr_key *a,
					  const struct connguard_conn *except)
{
	struct connguard_conn *best = NULL;

	for (unsigned i = 0; i < g->lim.total; i++) {
		struct connguard_conn *c = &g->slots[i];
		if (!is_live(c) || c->busy || c == except ||
		    (a && !addr_key_eq(&c->addr, a)))
			continue;
		if (!best || (best->answered && !c->answered) ||
		    (best->answered == c->answered &&
		     c->wait_seq < best->wait_seq))
			best = c;
	}
	return best;
}

/*
 * When every candidate is busy: the one answering longest, of address `a`
 * (NULL: any), other than `except`. A prompt client's answer takes
 * milliseconds; one still going is read slowly (a slow link, or a client
 * holding the connection on purpose), and a newcomer has the better claim
 * to the slot (connguard.h says why there is no grace period). NULL when
 * there is no candidate.
 */
static struct connguard_conn *pick_busy_victim(struct connguard *g,
					       const struct addr_key *a,
					       const struct connguard_conn *except)
{
	struct connguard_conn *best = NULL;

	for (unsigned i = 0; i < g->lim.total; i++) {
		struct connguard_conn *c = &g->slots[i];
		if (!is_live(c) || !c->busy || c == except ||
		    (a && !addr_key_eq(&c->addr, a)))
			continue;
		if (!best || c->busy_since < best->busy_since)
			best = c;
	}
	return best;
}

/* Shuts c down; the server closes it on its thread and calls
 * connguard_close(). Errors (the peer reset it already) change nothing:
 * the server sees the end either way. */
static void cut(struct connguard_conn *c)
{
	(void)shutdown(c->fd, SHUT_RDWR);
	c->closing = true;
}

static void note(struct cut_note *n, int why, const struct connguard_conn *c,
		 double now)
{
	n->why = why;
	n->addr = c->addr;
	n->answered = c->answered;
	n->busy = c->busy;
	n->busy_s = c->busy ? now - c->busy_since : 0;
	n->answer_len = c->answer_len;
}

/* Which of its connections a newcomer's room was made from. */
static const char *victim_kind(const struct cut_note *n, char *buf, size_t cap)
{
	if (n->busy) {
		snprintf(buf, cap, "one answering longest (for %.1f s)", n->busy_s);
		return buf;
	}
	return n->answered ? "longest idle one" : "oldest one without a complete request";
}

static void log_note(const struct connguard *g, const struct cut_note *n)
{
	char who[INET6_ADDRSTRLEN + 1], kind[64];

	addr_key_str(&n->addr, who, sizeof(who));
	switch (n->why) {
	case CUT_EVICTED_ADDR:
		log_msg_limited(
		    g->lim.log_rl, LOG_WARN, "metrics",
		    "http server: %s is at its limit of %u connections: "
		    "closed its %s to admit a new one",
		    who, g->lim.per_addr, victim_kind(n, kind, sizeof(kind)));
		break;
	case CUT_EVICTED_TOTAL:
		log_msg_limited(
		    g->lim.log_rl, LOG_WARN, "metrics",
		    "http server: at its limit of %u connections: closed "
		    "the %s (from %s) to make room",
		    g->lim.total, victim_kind(n, kind, sizeof(kind)), who);
		break;
	case CUT_REFUSED:
		log_msg_limited(
		    g->lim.log_rl, LOG_WARN, "metrics",
		    "http server: no room for a new connection from %s: "
		    "refused it",
		    who);
		break;
	case CUT_TIMED_OUT:
		log_msg_limited(
		    g->lim.log_rl, LOG_WARN, "metrics",
		    "http server: closed a connection from %s whose request "
		    "headers were not complete %g s after %s",
		    who,
		    n->answered ? g->lim.idle_timeout : g->lim.header_timeout,
		    n->answered ? "its previous response" : "it opened");
		break;
	case CUT_SEND_TIMED_OUT:
		log_msg_limited(
		    g->lim.log_rl, LOG_WARN, "metrics",
		    "http server: closed a connection from %s that had not "
		    "taken its answer of %zu bytes %.1f s after its request",
		    who, n->answer_len, n->busy_s);
		break;
	}
}

/* Wakes the deadline thread if `deadline` is before its wake-up time. */
static void deadline_set(struct connguard *g, struct connguard_conn *c,
			 double deadline)
{
	c->deadline = deadline;
	if (deadline < g->wake)
		pthread_cond_signal(&g->cond);
}

/* At most this many closings are logged one by one per pass of the
 * deadline thread; the rest as a count (they are rate-limited anyway). */
#define NOTES_PER_PASS 8

static void *deadline_main(void *arg)
{
	struct connguard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		struct cut_note notes[NOTES_PER_PASS];
		size_t n = 0, more = 0;
		double now = clock_mono_s(), next = INFINITY;

		for (unsigned i = 0; i < g->lim.total; i++) {
			struct connguard_conn *c = &g->slots[i];
			if (!is_live(c))
				continue;
			if (c->deadline > now) {
				next = fmin(next, c->deadline);
				continue;
			}
			cut(c);
			if (c->busy)
				g->stats.send_timed_out++;
			else
				g->stats.timed_out++;
			if (n < NOTES_PER_PASS)
				note(&notes[n++], c->busy ? CUT_SEND_TIMED_OUT : CUT_TIMED_OUT,
				     c, now);
			else
				more++;
		}
		if (n) {
			pthread_mutex_unlock(&g->lock);
			for (size_t k = 0; k < n; k++)
				log_note(g, &notes[k]);
			if (more)
				log_msg_limited(
				    g->lim.log_rl, LOG_WARN, "metrics",
				    "http server: closed %zu more connections "
				    "whose request headers or answers were late",
				    more);
			pthread_mutex_lock(&g->lock);
			continue;
		}
		g->wake = next;
		if (isinf(next)) {
			pthread_cond_wait(&g->cond, &g->lock);
		} else {
			struct timespec ts = clock_mono_timespec(next);
			pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		}
		g->wake = 0; /* awake: nobody needs to signal */
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

struct connguard *connguard_create(const struct connguard_limits *lim)
{
	struct connguard *g = xcalloc(1, sizeof(*g));
	pthread_condattr_t ca;
	int e;

	IOT_ASSERT(lim->total >= 1 && lim->per_addr >= 1);
	g->lim = *lim;
	if (!g->lim.log_rl)
		g->lim.log_rl = &own_log_rl;
	g->slots = xcalloc(lim->total, sizeof(*g->slots));
	for (unsigned i = 0; i < lim->total; i++)
		g->slots[i].fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	g->wake = 0;
	e = pthread_create(&g->thread, NULL, deadline_main, g);
	g->has_thread = e == 0;
	/* without the thread the limits still make room for newcomers;
	 * only what nobody competes for is held longer */
	if (e)
		log_warn("metrics",
			 "http server: cannot start the thread that "
			 "enforces request header deadlines: %s",
			 strerror(e));
	return g;
}

void connguard_destroy(struct connguard *g)
{
	if (!g)
		return;
	if (g->has_thread) {
		pthread_mutex_lock(&g->lock);
		g->stopping = true;
		pthread_cond_signal(&g->cond);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->thread, NULL);
	}
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	if (g->lim.log_rl == &own_log_rl)
		log_ratelimit_flush(&own_log_rl, "metrics");
	free(g->slots);
	free(g);
}

struct connguard_conn *connguard_open(struct connguard *g, int fd,
				      const struct sockaddr *addr,
				      socklen_t addrlen)
{
	struct connguard_conn *c = NULL;
	struct cut_note notes[2] = { { 0 } };
	size_t n = 0;
	struct addr_key key;
	unsigned of_addr = 0, live = 0;
	double now = clock_mono_s();

	addr_key_of(addr, addrlen, &key);
	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < g->lim.total; i++) {
		struct connguard_conn *s = &g->slots[i];
		if (s->fd < 0) {
			if (!c)
				c = s;
			continue;
		}
		if (is_live(s) && addr_key_eq(&s->addr, &key))
			of_addr++;
	}
	if (c && of_addr >= g->lim.per_addr) {
		struct connguard_conn *v = pick_victim(g, &key, NULL);
		if (!v)
			v = pick_busy_victim(g, &key, NULL);
		if (v) {
			cut(v);
			g->stats.evicted++;
			note(&notes[n++], CUT_EVICTED_ADDR, v, now);
		} else {
			c = NULL;
		}
	}
	if (!c) {
		/* no slot is free, which the server's own limit of `total`
		 * rules out */
		(void)shutdown(fd, SHUT_RDWR);
		g->stats.refused++;
		notes[n].why = CUT_REFUSED;
		notes[n].addr = key;
		notes[n++].answered = false;
		goto out;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->addr = key;
	c->wait_seq = ++g->seq;
	deadline_set(g, c, now + g->lim.header_timeout);
	/* The server stops accepting when it holds `total`: keep room for
	 * the next newcomer, as for an address at its limit. */
	for (unsigned i = 0; i < g->lim.total; i++)
		live += is_live(&g->slots[i]);
	if (live >= g->lim.total) {
		struct connguard_conn *v = pick_victim(g, NULL, c);
		if (!v)
			v = pick_busy_victim(g, NULL, c);
		if (v) {
			cut(v);
			g->stats.evicted++;
			note(&notes[n++], CUT_EVICTED_TOTAL, v, now);
		}
	}
out:
	pthread_mutex_unlock(&g->lock);
	for (size_t k = 0; k < n; k++)
		log_note(g, &notes[k]);
	return c;
}

void connguard_request(struct connguard *g, struct connguard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->lock);
	c->busy = true;
	c->busy_since = clock_mono_s();
	c->answer_len = 0;
	c->deadline = INFINITY; /* none while the handler makes the answer */
	pthread_mutex_unlock(&g->lock);
}

void connguard_sending(struct connguard *g, struct connguard_conn *c, size_t len)
{
	double allow;

	if (!c || g->lim.send_timeout <= 0)
		return;
	allow = g->lim.send_timeout +
		(g->lim.send_rate > 0 ? (double)len / g->lim.send_rate : 0);
	pthread_mutex_lock(&g->lock);
	if (c->busy) {
		c->answer_len = len;
		deadline_set(g, c, clock_mono_s() + allow);
	}
	pthread_mutex_unlock(&g->lock);
}

void connguard_answered(struct connguard *g, struct connguard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->lock);
	c->busy = false;
	c->answered = true;
	c->wait_seq = ++g->seq;
	deadline_set(g, c, clock_mono_s() + g->lim.idle_timeout);
	pthread_mutex_unlock(&g->lock);
}

void connguard_close(struct connguard *g, struct connguard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->lock);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	pthread_mutex_unlock(&g->lock);
}

void connguard_stats(struct connguard *g, struct connguard_stats *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->stats;
	pthread_mutex_unlock(&g->lock);
}
