/*
 * broker.c - `iotpipe broker`: the embedded development Kafka broker in the
 * foreground. This file parses the options, handles the signals and
 * announces the address; kafka/dev_broker.c starts the cluster, creates
 * the topics and writes the bootstrap file.
 *
 * Start-up: parse options, block SIGINT and SIGTERM (before any thread
 * exists, so every thread librdkafka and libmicrohttpd start inherits the
 * mask and the signals can only reach sigwait() here), start the broker
 * (the mock cluster, the --topic topics, and with --bootstrap-file the
 * list written to a file atomically and removed again on exit), start the
 * metrics endpoint, then announce: the first stdout line is
 * `bootstrap.servers=HOST:PORT[,...]`, flushed at once, because scripts and
 * tests wait for exactly that line; `metrics=HOST:PORT` follows when the
 * endpoint runs.
 *
 * Then the main thread sleeps in sigwait() until SIGINT or SIGTERM, shuts
 * everything down in reverse order and returns 0. The data was in memory
 * only and is gone: this is for development and demos, not production.
 */
#include <errno.h>
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
#include "kafka/dev_broker.h"
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
		OPT_LONG_D(0, "brokers", &brokers, "N",
			 "brokers in the cluster",
			 RANGE(1, MOCK_BROKER_MAX_BROKERS)),
		OPT_LONG_D(0, "partitions", &partitions, "N",
			 "partitions of the --topic topics",
			 RANGE(1, MOCK_BROKER_MAX_PARTITIONS)),
		OPT_LIST(0, "topic", &topics, "NAME",
			 "create this topic at start (repeatable)"),
		OPT_STRING(0, "bootstrap-file", &bootstrap_file, "FILE",
			   "also write the bootstrap list to FILE (atomically)"),
		OPT_END(),
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct dev_broker *db = NULL;
	struct dev_broker_options dbo = { 0 };
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

	dbo.brokers = (int)brokers;
	dbo.partitions = (int)partitions;
	dbo.topics = topics.items;
	dbo.ntopics = topics.n;
	dbo.bootstrap_file = bootstrap_file;
	db = dev_broker_start(&dbo, &err);
	if (!db)
		goto fail;

	if (strcmp(metrics_addr, "off") != 0) {
		metrics_register_process();
		metric_set(metrics_gauge("iotpipe_broker_brokers",
					 "Brokers in the embedded cluster.", NULL),
			   (double)brokers);
		if (metrics_server_start(metrics_addr, false, &ctx->srv, &mport, &err))
			goto fail;
	}

	printf("bootstrap.servers=%s\n", dev_broker_bootstrap(db));
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
			   "in memory only, for development", dev_broker_bootstrap(db),
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
	/* main stops the metrics endpoint (ctx->srv) after this returns */
	dev_broker_stop(db);
	opt_list_release(&topics);
	return status;
}
