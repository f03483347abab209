/*
 * http.c - the metrics endpoint: GET /metrics (Prometheus text format) and
 * GET /healthz, served by libmicrohttpd on its own internal thread.
 * The handler only renders a snapshot of the registry (metrics.c), so it
 * never blocks a worker. Binds loopback unless told otherwise.
 */
#include "metrics/metrics.h"
#include "core/xalloc.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/banned.h"

struct metrics_server {
	struct MHD_Daemon *daemon;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status,
				 const char *ctype, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_size, void **req_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return send_text(c, 405, "text/plain", xstrdup("method not allowed\n"), 19);
	if (!strcmp(url, "/metrics")) {
		struct buf b = BUF_INIT;
		size_t len;
		char *body;
		metrics_render(&b);
		body = buf_detach(&b, &len);
		return send_text(c, 200, "text/plain; version=0.0.4; charset=utf-8",
				 body, len);
	}
	if (!strcmp(url, "/healthz"))
		return send_text(c, 200, "text/plain", xstrdup("ok\n"), 3);
	return send_text(c, 404, "text/plain", xstrdup("not found\n"), 10);
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

enum iot_err metrics_server_start(const char *addr,
				  struct metrics_server **out, int *port,
				  struct iot_error *err)
{
	struct sockaddr_in sa;
	struct metrics_server *srv;
	const union MHD_DaemonInfo *info;

	if (parse_addr(addr, &sa, err) != IOT_OK)
		return err->code;
	srv = xcalloc(1, sizeof(*srv));
	srv->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv);
		return iot_error_set(err, IOT_ERR_NET,
				     "metrics endpoint: cannot listen on %s (address in use?)",
				     addr);
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (port)
		*port = info ? (int)info->port : 0;
	*out = srv;
	return IOT_OK;
}

void metrics_server_stop(struct metrics_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
