/*
 * http.c - the metrics endpoint: GET /metrics (Prometheus text format) and
 * GET /healthz, and the web console (console.c: GET /, its assets and
 * /api/...), served by libmicrohttpd on its own internal thread.
 * The handler only renders a snapshot of the registry (metrics.c), so it
 * never blocks a worker. Binds loopback unless told otherwise.
 *
 * The server shares the process with the job and must not be able to take
 * what the job needs, whoever connects: it is limited in connections, in
 * total and per client address, within a share of the open-file limit
 * (fd_budget() below says how much and why), and idle connections are
 * closed after CONN_TIMEOUT_S. Nor may one client lock the others out,
 * though every local client shares 127.0.0.1: a per-address limit that
 * refuses newcomers, as libmicrohttpd's does, lets a client hold all of
 * its address's connections by trickling a header line every few seconds
 * (the inactivity timeout never fires) and reconnecting when one is
 * closed, and Prometheus is refused for as long as it keeps at it. So the
 * per-address limit is ours (connguard.c, told of each connection's life
 * by the callbacks below): a newcomer at the limit is admitted and the
 * oldest connection of its address without a complete request is closed
 * to make room (else the longest idle one; else, all being answered, the
 * one answering longest); the same over all addresses when the total is
 * reached. And request headers must be complete HEADER_TIMEOUT_S after
 * the connection opened, however slowly they trickle. Answers have a
 * deadline too (SEND_TIMEOUT_S plus their size at SEND_MIN_RATE): a
 * client that asks for a large answer and reads it slowly, or not at all
 * and reconnects before the inactivity timeout, would otherwise keep
 * every connection of its address answering and the address locked. A
 * client that sends its request at once and reads its answer is served
 * whatever the others do. We bind the listening socket ourselves so that
 * "address in use" is known as such: a busy default port falls back to a
 * free one, a busy port the user asked for is an error. The library's own
 * messages (a client's malformed request, a refused connection) and the
 * guard's go through the project's logger, rate-limited together, since
 * any client can cause them.
 *
 * Threads: libmicrohttpd runs every callback here on its one internal
 * thread (MHD_USE_AUTO_INTERNAL_THREAD, no thread pool, no thread per
 * connection); the guard's deadline thread also shuts connections down,
 * under the guard's lock.
 */
#include "metrics/metrics.h"
#include "core/log.h"
#include "metrics/connguard.h"
#include "metrics/console.h"
#include "core/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/banned.h"

/*
 * Idle connections are closed after this many seconds without traffic. A
 * scrape takes milliseconds; Prometheus reconnects when its keep-alive
 * connection was closed between scrapes (15 s apart by default), so a
 * short timeout costs nothing and frees a slot held by an idle or
 * trickling client quickly.
 */
#define CONN_TIMEOUT_S 5u

/*
 * A connection's request headers must be complete this many seconds after
 * it opened, however they trickle in. Prometheus and curl send theirs in
 * one write right after connecting: milliseconds on loopback, a round trip
 * or two elsewhere, and a lost segment is resent after 200 ms to 1 s. Two
 * seconds is ample for them and under CONN_TIMEOUT_S, so a slot held by a
 * trickling client comes free sooner than the inactivity timeout could
 * ever free it. A connection kept alive after a response would get
 * CONN_TIMEOUT_S of idleness plus as much for its next request; there are
 * none today: libmicrohttpd 0.9.75 closes every connection whose response
 * was queued on the handler's first call, as ours are.
 */
#define HEADER_TIMEOUT_S 2u

/*
 * An answer must be sent within SEND_TIMEOUT_S plus its size at
 * SEND_MIN_RATE after it was queued, however its reader trickles.
 * libmicrohttpd's inactivity timeout alone lets a client that takes a few
 * bytes every few seconds keep a connection answering for as long as the
 * answer lasts at that pace (the console's history grows to about a
 * megabyte). 32 KiB/s (256 kbit/s) is slower than any link someone would
 * watch a console over, so a real reader never meets the deadline: the
 * full history in about 40 s, a scrape of a job with thousands of
 * partitions in a few; the base is the inactivity timeout, which a reader
 * that takes nothing at all meets anyway.
 */
#define SEND_TIMEOUT_S CONN_TIMEOUT_S
#define SEND_MIN_RATE (32.0 * 1024)

/*
 * libmicrohttpd's messages: at most this many lines per second, then a
 * count. Ten a second is more than a human reads and enough to see what
 * is going on; a client looping on bad requests cannot fill the disk of a
 * log shipper.
 */
static struct log_ratelimit mhd_log_rl = LOG_RATELIMIT_INIT(10);

struct metrics_server {
	struct MHD_Daemon *daemon;
	struct connguard *guard;
};

/*
 * Connection limits from the open-file limit (RLIMIT_NOFILE, soft). The
 * job's own descriptors are few but grow with the work: Kafka sockets
 * (one or two per broker) and librdkafka's wake-up pipes, S3 connections
 * (one per upload part in flight), Parquet files being written, the
 * checkpoint directory being listed, the decoder and worker pipes. The
 * metrics server gets one sixteenth of the limit and at most 64
 * connections: with the usual 1024 that is 64, and 960 stay for the job,
 * an order of magnitude more than it uses. 64 concurrent clients is far
 * more than Prometheus (one connection per scraper), Grafana and a few
 * humans with curl need. No address may hold more than a quarter of
 * them (16 of 64), so one client cannot lock the others out. Never fewer
 * than 8 / 2, or the endpoint could not serve a scrape and a curl at once.
 */
static void fd_budget(unsigned *total, unsigned *per_ip)
{
	struct rlimit rl;
	rlim_t share = 64 * 16;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		share = rl.rlim_cur;
	share /= 16;
	*total = share > 64 ? 64 : share < 8 ? 8 : (unsigned)share;
	*per_ip = *total / 4 < 2 ? 2 : *total / 4;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char text[512];
	size_t n;

	(void)cls;
	vsnprintf(text, sizeof(text), fmt, ap);
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	if (n)
		log_msg_limited(&mhd_log_rl, LOG_WARN, "metrics", "http server: %s",
				text);
}

static struct connguard_conn *guarded(struct MHD_Connection *c);

static enum MHD_Result send_text(struct metrics_server *srv, struct MHD_Connection *c,
				 unsigned status, const char *ctype, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	connguard_sending(srv->guard, guarded(c), len);
	MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * The console's page, assets and API (console.c). Every answer carries a
 * Content-Security-Policy that lets the page load only from this address
 * (no inline script or style, no other host), and is never framed.
 */
static enum MHD_Result send_console(struct metrics_server *srv, struct MHD_Connection *c,
				    struct console_reply *cr)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		cr->len, cr->body, cr->is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	connguard_sending(srv->guard, guarded(c), cr->len);
	MHD_add_response_header(r, "Content-Type", cr->type);
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; base-uri 'none'; form-action 'none'; "
				"frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", cr->no_store ? "no-store" : "no-cache");
	ret = MHD_queue_response(c, cr->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The guard's handle of connection c (NULL: it was refused). */
static struct connguard_conn *guarded(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/*
 * libmicrohttpd calls this once a connection is accepted (with the
 * client's socket and address) and once it is being closed, before it
 * closes the socket: the span over which connguard may shut it down.
 */
static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct metrics_server *srv = cls;
	const union MHD_ConnectionInfo *fd, *addr;
	const struct sockaddr *sa;
	socklen_t salen;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		connguard_close(srv->guard, *socket_ctx);
		*socket_ctx = NULL;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	*socket_ctx = NULL;
	fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	addr = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!fd)
		return;
	/* the address's length is not given: it follows the family (an
	 * address the guard cannot read counts as one client) */
	sa = addr ? addr->client_addr : NULL;
	salen = !sa ? 0
		: sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					    : sizeof(struct sockaddr_in);
	*socket_ctx = connguard_open(srv->guard, fd->connect_fd, sa, salen);
}

/* A request was answered (or abandoned): the connection waits for the
 * next one, if it stays open. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct metrics_server *srv = cls;

	(void)req_cls;
	(void)toe;
	connguard_answered(srv->guard, guarded(c));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_size, void **req_cls)
{
	struct metrics_server *srv = cls;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;

	/* called once the request headers are complete: the guard no longer
	 * holds the connection to its header deadline */
	connguard_request(srv->guard, guarded(c));

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return send_text(srv, c, 405, "text/plain", xstrdup("method not allowed\n"), 19);
	if (!strcmp(url, "/metrics")) {
		struct buf b = BUF_INIT;
		size_t len;
		char *body;
		metrics_render(&b);
		body = buf_detach(&b, &len);
		return send_text(srv, c, 200, "text/plain; version=0.0.4; charset=utf-8",
				 body, len);
	}
	if (!strcmp(url, "/healthz"))
		return send_text(srv, c, 200, "text/plain", xstrdup("ok\n"), 3);
	{
		struct console_reply cr;
		const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
								"since");
		if (console_route(url, since, &cr))
			return send_console(srv, c, &cr);
	}
	return send_text(srv, c, 404, "text/plain", xstrdup("not found\n"), 10);
}

static enum iot_err parse_addr(const char *addr, struct sockaddr_in *sa,
			       struct iot_error *err)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(addr, ':');
	const char *port_s = addr;
	char *end;
	long port;

	if (colon) {
		size_t hl = (size_t)(colon - addr);
		if (hl >= sizeof(host))
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "metrics address '%s': host too long", addr);
		if (hl) {
			memcpy(host, addr, hl);
			host[hl] = '\0';
		}
		port_s = colon + 1;
	}
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	port = strtol(port_s, &end, 10);
	if (end == port_s || *end || port < 0 || port > 65535)
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "metrics address '%s': bad port", addr);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "metrics address '%s': host must be an IPv4 address",
				     addr);
	return IOT_OK;
}

/* A listening TCP socket at sa; -1 with errno set on failure. */
static int listen_on(const struct sockaddr_in *sa)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* lets a restarted job rebind while old connections are in
	 * TIME_WAIT; on Linux it does not let two listeners share a port */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) ||
	    listen(fd, 64)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

enum iot_err metrics_server_start(const char *addr, bool fallback,
				  struct metrics_server **out, int *port,
				  struct iot_error *err)
{
	struct sockaddr_in sa;
	struct metrics_server *srv;
	const union MHD_DaemonInfo *info;
	struct connguard_limits lim;
	unsigned total, per_ip;
	int fd;

	*out = NULL;
	if (parse_addr(addr, &sa, err) != IOT_OK)
		return err->code;
	fd = listen_on(&sa);
	if (fd < 0 && errno == EADDRINUSE && fallback && sa.sin_port != 0) {
		log_warn("metrics",
			 "%s is in use (another iotpipe on this host?); serving "
			 "on a free port instead (--metrics-addr to choose one)",
			 addr);
		sa.sin_port = 0;
		fd = listen_on(&sa);
	}
	if (fd < 0) {
		int e = errno;
		return iot_error_set(err,
				     e == EADDRINUSE || e == EADDRNOTAVAIL || e == EACCES
					     ? IOT_ERR_CONFIG : IOT_ERR_NET,
				     "metrics address %s: cannot listen: %s", addr,
				     strerror(e));
	}
	fd_budget(&total, &per_ip);
	srv = xcalloc(1, sizeof(*srv));
	lim.total = total;
	lim.per_addr = per_ip;
	lim.header_timeout = HEADER_TIMEOUT_S;
	lim.idle_timeout = CONN_TIMEOUT_S + HEADER_TIMEOUT_S;
	lim.send_timeout = SEND_TIMEOUT_S;
	lim.send_rate = SEND_MIN_RATE;
	lim.log_rl = &mhd_log_rl;
	srv->guard = connguard_create(&lim);
	/* the console's sampler first: the daemon may answer at once */
	console_start();
	/* MHD_USE_AUTO: epoll or poll, never select(), whose FD_SETSIZE
	 * would refuse any socket numbered 1024 or above. The listening
	 * socket is the daemon's from here on (MHD_stop_daemon closes it);
	 * if the daemon does not start we do not close it either, rather
	 * than risk closing it twice: at worst one descriptor, and the
	 * command exits. The total limit is the library's (it stops
	 * accepting there, and the guard's table has that many slots); the
	 * per-address one is the guard's, as it makes room instead of
	 * refusing. */
	srv->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, total,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!srv->daemon) {
		console_stop();
		connguard_destroy(srv->guard);
		free(srv);
		return iot_error_set(err, IOT_ERR_NET,
				     "metrics address %s: the HTTP server did not start",
				     addr);
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (port)
		*port = info ? (int)info->port : 0;
	log_debug("metrics",
		  "at most %u connections, %u per address, request headers "
		  "within %u s, idle timeout %u s, answers within %u s plus "
		  "their size at %.0f KiB/s",
		  total, per_ip, HEADER_TIMEOUT_S, CONN_TIMEOUT_S, SEND_TIMEOUT_S,
		  SEND_MIN_RATE / 1024);
	*out = srv;
	return IOT_OK;
}

void metrics_server_stop(struct metrics_server *srv)
{
	if (!srv)
		return;
	/* the daemon first: closing its connections calls the guard */
	MHD_stop_daemon(srv->daemon);
	connguard_destroy(srv->guard);
	console_stop();
	free(srv);
	log_ratelimit_flush(&mhd_log_rl, "metrics");
}
