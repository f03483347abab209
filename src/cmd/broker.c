/*
 * broker.c - `iotpipe broker`: the embedded development Kafka broker in the
 * foreground (kafka/mock_broker.c does the work).
 *
 * Start-up: parse options, block SIGINT and SIGTERM (before any thread
 * exists, so every thread librdkafka and libmicrohttpd start inherits the
 * mask and the signals can only reach sigwait() here), start the mock
 * cluster, create the topics named with --topic, start the metrics
 * endpoint, then announce: the first stdout line is
 * `bootstrap.servers=HOST:PORT[,...]`, flushed at once, because scripts and
 * tests wait for exactly that line; `metrics=HOST:PORT` follows when the
 * endpoint runs. With --bootstrap-file the list is also written to a file,
 * atomically (temporary name, fsync, rename), so a reader polling for the
 * file never sees half of it; the file is removed again on exit, so a stale
 * address never outlives the broker.
 *
 * Then the main thread sleeps in sigwait() until SIGINT or SIGTERM, shuts
 * everything down in reverse order and returns 0. The data was in memory
 * only and is gone: this is for development and demos, not production.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/opt.h"
#include "core/xalloc.h"
#include "kafka/mock_broker.h"
#include "metrics/metrics.h"

#include "core/banned.h"

static const struct opt_usage usage = {
	"iotpipe broker [options]",
	"Runs the embedded Kafka-protocol development broker (librdkafka's mock\n"
	"cluster) on 127.0.0.1 until SIGINT or SIGTERM. The first line on stdout\n"
	"is 'bootstrap.servers=HOST:PORT[,...]'; other iotpipe commands, kcat and\n"
	"Kafka clients connect there. Data is kept in memory only (about 5 MiB per\n"
	"partition), with no transactions markers, admin API, TLS or SASL: for\n"
	"development and demos. Production uses a real Kafka cluster.\n"
	"Topics are created on first use with 4 partitions (librdkafka's fixed\n"
	"default); --topic creates one up front with --partitions partitions.",
};

/*
 * Writes "list\n" to path through a temporary file in the same directory
 * and rename(2), so readers see either no file or the whole list.
 */
static enum iot_err write_file_atomic(const char *path, const char *list,
				      struct iot_error *err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char *body = xasprintf("%s\n", list);
	size_t len = strlen(body), off = 0;
	enum iot_err rc = IOT_OK;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: %s", tmp,
				   strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, body + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: %s",
					   tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (!rc && fsync(fd) != 0)
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: fsync: %s",
				   tmp, strerror(errno));
	if (close(fd) != 0 && !rc)
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: close: %s",
				   tmp, strerror(errno));
	if (!rc && rename(tmp, path) != 0)
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: rename: %s",
				   path, strerror(errno));
	if (rc)
		unlink(tmp);
out:
	free(tmp);
	free(body);
	return rc;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "iotpipe broker: %s\nusage: %s\n"
			"Run 'iotpipe broker --help' for the options.\n",
		msg, usage.synopsis);
	return EXIT_USAGE;
}

int cmd_broker(int argc, char **argv, struct cmd_ctx *ctx)
{
	long brokers = 1, partitions = MOCK_BROKER_AUTO_PARTITIONS;
	const char *bootstrap_file = NULL, *metrics_addr, *env;
	struct opt_list topics = { 0 };
	struct opt opts[] = {
		OPT_LONG(0, "brokers", &brokers, "N",
			 "brokers in the cluster (default 1)",
			 RANGE(1, MOCK_BROKER_MAX_BROKERS)),
		OPT_LONG(0, "partitions", &partitions, "N",
			 "partitions of the --topic topics (default 4)",
			 RANGE(1, MOCK_BROKER_MAX_PARTITIONS)),
		OPT_LIST(0, "topic", &topics, "NAME",
			 "create this topic at start (repeatable)"),
		OPT_STRING(0, "bootstrap-file", &bootstrap_file, "FILE",
			   "also write the bootstrap list to FILE (atomically)"),
		OPT_END(),
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct mock_broker *mb = NULL;
	bool wrote_file = false;
	sigset_t stop_sigs;
	int sig = 0, status = EXIT_RUNTIME, mport = 0;

	/* --metrics-addr, --log-level and --log-format are the shared
	 * options (cmd_parse(), NEED_LOG | NEED_METRICS) */
	status = cmd_parse(ctx, argc, argv, opts, &usage, NULL);
	if (status >= 0)
		goto out;
	status = EXIT_RUNTIME;
	metrics_addr = ctx->co.metrics_addr;
	for (size_t i = 0; i < topics.n; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(topics.items[i], topics.items[j])) {
				char msg[300];
				snprintf(msg, sizeof(msg), "--topic '%s' given twice",
					 topics.items[i]);
				status = usage_error(msg);
				goto out;
			}
	/* As for every command: flag > IOTPIPE_METRICS_ADDR > default. */
	if (!metrics_addr) {
		env = getenv("IOTPIPE_METRICS_ADDR");
		metrics_addr = env && *env ? env : ctx->co.metrics_default;
	}
	if (opt_was_given(opts, "partitions") && topics.n == 0 &&
	    partitions != MOCK_BROKER_AUTO_PARTITIONS)
		log_warn("broker",
			 "--partitions %ld applies to --topic topics only; topics "
			 "created on first use get %d partitions",
			 partitions, MOCK_BROKER_AUTO_PARTITIONS);

	/*
	 * Before any thread exists: see the comment at the top. A shell
	 * without job control starts `iotpipe broker &` with SIGINT ignored,
	 * and POSIX leaves open whether an ignored signal reaches sigwait()
	 * (Linux delivers it while blocked, others may discard it); the
	 * contract is "runs until SIGINT or SIGTERM", so restore the default
	 * action (never taken: the signals stay blocked).
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);

	mb = mock_broker_create((int)brokers, (int)partitions, &err);
	if (!mb)
		goto fail;
	for (size_t i = 0; i < topics.n; i++)
		if (mock_broker_create_topic(mb, topics.items[i], 0, &err))
			goto fail;

	if (strcmp(metrics_addr, "off") != 0) {
		metrics_register_process();
		metric_set(metrics_gauge("iotpipe_broker_brokers",
					 "Brokers in the embedded cluster.", NULL),
			   (double)brokers);
		if (metrics_server_start(metrics_addr, false, &ctx->srv, &mport, &err))
			goto fail;
	}
	if (bootstrap_file) {
		if (write_file_atomic(bootstrap_file, mock_broker_bootstrap(mb),
				      &err))
			goto fail;
		wrote_file = true;
	}

	printf("bootstrap.servers=%s\n", mock_broker_bootstrap(mb));
	if (ctx->srv) {
		/* The address bound, not the one asked for ("0", "HOST:0"). */
		const char *colon = strrchr(metrics_addr, ':');
		if (colon && colon != metrics_addr)
			printf("metrics=%.*s:%d\n", (int)(colon - metrics_addr),
			       metrics_addr, mport);
		else
			printf("metrics=127.0.0.1:%d\n", mport);
	}
	if (fflush(stdout) != 0) {
		iot_error_set(&err, IOT_ERR_IO, "writing to stdout: %s",
			      strerror(errno));
		goto fail;
	}
	log_info("broker", "embedded broker ready at %s (%ld broker(s)); "
			   "in memory only, for development", mock_broker_bootstrap(mb),
		 brokers);

	if (sigwait(&stop_sigs, &sig) != 0) {
		iot_error_set(&err, IOT_ERR_STATE, "sigwait failed");
		goto fail;
	}
	log_info("broker", "stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	status = 0;
	goto out;

fail:
	fprintf(stderr, "iotpipe broker: %s\n", err.msg);
	status = err.code == IOT_ERR_USAGE || err.code == IOT_ERR_CONFIG
			 ? EXIT_USAGE
			 : EXIT_RUNTIME;
out:
	if (wrote_file)
		unlink(bootstrap_file);
	/* main stops the metrics endpoint (ctx->srv) after this returns */
	mock_broker_destroy(mb);
	opt_list_release(&topics);
	return status;
}
