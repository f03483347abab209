/*
 * debug.c - `iotpipe debug ...`: internals reachable from tests and docs
 * (git's test-tool idea), hidden from the command list.
 *
 *   debug config-doc        print the configuration reference (Markdown)
 *   debug config [-c F]...  print the effective configuration
 *   debug decode [-c F]...  read "key<TAB>json" lines on stdin, print
 *                           "valid|filtered|invalid<TAB>reason" per line
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "event/codec.h"
#include "event/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static int debug_decode(const struct iot_config *cfg)
{
	struct ev_decoder *dec = ev_decoder_create(cfg->schema);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		char *tab = memchr(line, '\t', (size_t)n);
		struct event ev;
		struct ev_result r;
		char why[256];
		size_t klen = 0;
		const char *json = line;

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (tab) {
			klen = (size_t)(tab - line);
			json = tab + 1;
		}
		r = ev_decode(dec, klen ? line : NULL, klen, json,
			      (size_t)(line + n - json), &ev);
		ev_result_describe(cfg->schema, r, why, sizeof(why));
		printf("%s\t%s\n",
		       r.status == EV_VALID ? "valid" : r.status == EV_FILTERED ? "filtered" : "invalid",
		       r.status == EV_VALID ? "-" : why);
	}
	free(line);
	ev_decoder_destroy(dec);
	return 0;
}

int cmd_debug(int argc, char **argv, struct cmd_ctx *ctx)
{
	const struct iot_config *cfg = &ctx->cfg;
	struct opt opts[] = { OPT_END() };
	static const struct opt_usage usage = {
		"iotpipe debug (config-doc | config | decode) [options]", NULL
	};
	int n = 0, status = cmd_parse(ctx, argc, argv, opts, &usage, &n);

	if (status >= 0)
		return status;
	status = 0;
	if (n < 1)
		return EXIT_USAGE;
	if (!strcmp(argv[0], "config-doc")) {
		config_write_reference(stdout);
		return 0;
	}
	if (!strcmp(argv[0], "decode")) {
		status = debug_decode(cfg);
	} else if (!strcmp(argv[0], "config")) {
		printf("producer.bootstrap_servers=%s\nproducer.topic=%s\nproducer.acks=%s\n"
		       "producer.retries=%ld\nproducer.num_generators=%ld\nproducer.event_frequency=%g\n"
		       "producer.delivery_exactly_once=%s\nstreaming.bootstrap_servers=%s\n"
		       "streaming.topic=%s\nstreaming.num_event_threshold=%ld\n"
		       "streaming.raw_output=%s\nstreaming.aggregated_output=%s\n"
		       "schema.fields=%zu\n",
		       cfg->producer.bootstrap_servers, cfg->producer.topic, cfg->producer.acks,
		       cfg->producer.retries, cfg->producer.num_generators,
		       cfg->producer.event_frequency,
		       cfg->producer.delivery_exactly_once ? "true" : "false",
		       cfg->streaming.bootstrap_servers, cfg->streaming.topic,
		       cfg->streaming.num_event_threshold, cfg->streaming.raw_output,
		       cfg->streaming.aggregated_output, cfg->schema->nfields);
		for (size_t i = 0; i < cfg->streaming.kafka.n; i++)
			printf("streaming.kafka.%s=%s\n", cfg->streaming.kafka.items[i].key,
			       cfg->streaming.kafka.items[i].value);
	} else {
		fprintf(stderr, "iotpipe debug: unknown subcommand '%s'\n", argv[0]);
		status = EXIT_USAGE;
	}
	return status;
}
