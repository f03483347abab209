/*
 * connguard.h - who may keep a connection to the metrics server: a limit
 * per client address and one in total that make room for a newcomer by
 * closing a connection that has not sent a complete request, rather than
 * refusing the newcomer, a deadline for request headers that holds
 * however slowly they trickle in, and one for taking the answer that holds
 * however slowly it is read.
 *
 * Why: every local client shares 127.0.0.1. A per-address limit that
 * refuses newcomers lets one client that opens that many connections and
 * keeps each alive with a header line now and then (under any inactivity
 * timeout) lock Prometheus and everyone else out for as long as it likes.
 * Closing its oldest unfinished connection instead means a client that
 * sends its request at once is served; the deadline frees what is held
 * when nobody competes for it. The same goes for the other end of a
 * request: a client that asks for a large answer and reads it a few bytes
 * at a time (or not at all, reconnecting before the server's inactivity
 * timeout) keeps the server answering, and with all of its address's
 * connections answering that way it locks the others out as well.
 *
 * The HTTP server (http.c) reports each connection's life:
 *
 *	g = connguard_create(&limits);
 *	c = connguard_open(g, fd, addr, addrlen); // accepted; NULL: refused
 *	connguard_request(g, c);  // its request headers are complete
 *	connguard_sending(g, c, n); // its answer of n bytes is queued
 *	connguard_answered(g, c); // its response is sent; it may ask again
 *	connguard_close(g, c);    // the server is closing it (before close(fd))
 *	...
 *	connguard_destroy(g);     // after the server stopped
 *
 * "Closing" a connection here is shutdown(fd, SHUT_RDWR): the server, which
 * owns the descriptor, sees the connection end on its own thread and
 * close()s it, after connguard_close(). The guard never closes a
 * descriptor, and only shuts down one registered with it, under its lock:
 * the caller must keep fd open from connguard_open() until
 * connguard_close() returned, so a number reused by the job for a file or
 * a Kafka socket is never touched.
 *
 * Which connection makes room, of the newcomer's address (or of any
 * address when the server is full): the one waiting longest for its first
 * request's headers, else the one idle longest after a response, else -
 * every one busy answering a request - the one answering longest. A
 * client that reads its answer promptly is done in milliseconds and never
 * the one answering longest for long; one that holds its connections by
 * reading slowly, and replaces each one closed at once, only closes its
 * own. A connection being answered is closed otherwise only at its
 * answer's deadline: send_timeout plus the answer's size at send_rate
 * after it was queued. (A grace period before an answer may be closed
 * would be no help: such a client's replacements, each closing its
 * oldest, keep all of its connections within any grace, and a newcomer
 * would be refused as by a plain limit.)
 *
 * Threads: any thread may call these functions (each takes the guard's
 * mutex); the guard runs one thread of its own that closes connections
 * past their deadline and sleeps while there are none. Memory: one slot
 * per connection up to `total`, allocated at creation; nothing grows with
 * the number of clients or their behaviour.
 */
#ifndef IOT_METRICS_CONNGUARD_H
#define IOT_METRICS_CONNGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct log_ratelimit;

struct connguard_limits {
	unsigned total;	       /* connections at once; >= 1 */
	unsigned per_addr;     /* of them from one client address; >= 1 */
	double header_timeout; /* s from accept to complete request headers */
	double idle_timeout;   /* s from a response to the next ones' headers */
	double send_timeout;   /* s from an answer queued to sent, at least;
				* 0: answers have no deadline */
	double send_rate;      /* bytes/s: an answer of n bytes gets n /
				* send_rate s more; 0: no more */
	/* The guard logs (component "metrics", warn) each connection it
	 * closes, through this limiter, which the caller owns and flushes
	 * (the server's, so that all its lines share one rate); NULL: one of
	 * the guard's own, 10 lines a second. */
	struct log_ratelimit *log_rl;
};

struct connguard_stats {
	uint64_t evicted;   /* closed to make room for a newcomer */
	uint64_t timed_out; /* closed at their header deadline */
	uint64_t send_timed_out; /* closed at their answer's deadline */
	uint64_t refused;   /* newcomers closed: no slot free */
};

struct connguard;
struct connguard_conn;

/* Copies *lim. Never NULL (out of memory aborts). */
struct connguard *connguard_create(const struct connguard_limits *lim);
/* Stops the guard's thread and frees it; accepts NULL. Call it after the
 * server stopped: every connection must have been closed. */
void connguard_destroy(struct connguard *g);

/*
 * A connection was accepted on socket fd from addr (an IPv4 or IPv6
 * address; the port is ignored). Makes room as described above, which
 * may shut down other connections. Returns the connection's handle, or
 * NULL when it was refused (then fd is shut down already; the other
 * calls accept NULL and do nothing).
 */
struct connguard_conn *connguard_open(struct connguard *g, int fd,
				      const struct sockaddr *addr,
				      socklen_t addrlen);
/* Its request headers are complete: busy until connguard_answered(),
 * with no deadline while the answer is being made. */
void connguard_request(struct connguard *g, struct connguard_conn *c);
/* Its answer, of len bytes, is queued: it must be sent within
 * send_timeout + len / send_rate seconds, or the guard closes it. */
void connguard_sending(struct connguard *g, struct connguard_conn *c, size_t len);
/* Its response was sent and it stays open for another request, whose
 * headers must be complete within idle_timeout. */
void connguard_answered(struct connguard *g, struct connguard_conn *c);
/* The server is closing it; its slot is free when this returns. */
void connguard_close(struct connguard *g, struct connguard_conn *c);

void connguard_stats(struct connguard *g, struct connguard_stats *out);

#endif
