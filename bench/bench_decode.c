/*
 * bench_decode.c - nanoseconds per event for the streaming jobs' JSON
 * decoder, side by side with jsmn (Debian's libjsmn-dev, a fast
 * tokenizer) doing the least a jsmn-based decoder must do on the same
 * events: tokenize, match the field names, convert the numbers (strtod)
 * and compare the enum, with none of our validation. Both run over the
 * same 100,000 generated events (as the producer writes them), repeated,
 * on one thread.
 *
 *   build/bench_decode [rounds]
 */
#define JSMN_STATIC
#include <jsmn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "event/codec.h"
#include "event/generate.h"

#include "core/banned.h"

#define NEV 100000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int jsmn_decode(const char *js, size_t len, double *out)
{
	jsmn_parser p;
	jsmntok_t t[32];
	int n, found = 0;

	jsmn_init(&p);
	n = jsmn_parse(&p, js, len, t, 32);
	if (n < 1 || t[0].type != JSMN_OBJECT)
		return -1;
	for (int i = 1; i + 1 < n; i += 2) {
		const char *k = js + t[i].start;
		int kl = t[i].end - t[i].start;
		const jsmntok_t *v = &t[i + 1];
		if (kl == 9 && !memcmp(k, "timestamp", 9))
			out[0] = strtod(js + v->start, NULL), found++;
		else if (kl == 11 && !memcmp(k, "temperature", 11))
			out[1] = strtod(js + v->start, NULL), found++;
		else if (kl == 14 && !memcmp(k, "event_duration", 14))
			out[2] = strtod(js + v->start, NULL), found++;
		else if (kl == 6 && !memcmp(k, "status", 6))
			out[3] = (v->end - v->start == 2 &&
				  !memcmp(js + v->start, "ok", 2)),
			found++;
	}
	return found;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	struct iot_config cfg;
	struct iot_error err = IOT_ERROR_INIT;
	struct gen_options o = GEN_OPTIONS_INIT;
	struct generator *g;
	char **vals = malloc(NEV * sizeof(char *));
	size_t *lens = malloc(NEV * sizeof(size_t));
	size_t bytes = 0;
	struct ev_decoder *dec;
	struct event ev;
	double t, ours, theirs, sink = 0;
	long valid = 0;

	config_init(&cfg);
	if (config_load_files(&cfg, NULL, 0, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	o.seed = 1;
	g = generator_create(cfg.schema, &o);
	for (int i = 0; i < NEV; i++) {
		struct gen_record r;
		generator_next(g, 1732525200000000LL + i * 1000LL, &r);
		vals[i] = malloc(r.value_len + 1);
		memcpy(vals[i], r.value, r.value_len);
		vals[i][r.value_len] = '\0'; /* strtod in the jsmn path needs it */
		lens[i] = r.value_len;
		bytes += r.value_len;
	}
	dec = ev_decoder_create(cfg.schema);

	t = now();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NEV; i++) {
			struct ev_result res = ev_decode(dec, "device_id_1", 11,
							 vals[i], lens[i], &ev);
			valid += res.status != EV_INVALID;
			sink += ev.v[1].d;
		}
	ours = (now() - t) / ((double)rounds * NEV) * 1e9;

	t = now();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NEV; i++) {
			double out[4] = { 0 };
			valid += jsmn_decode(vals[i], lens[i], out) == 4;
			sink += out[1];
		}
	theirs = (now() - t) / ((double)rounds * NEV) * 1e9;

	printf("events: %d x %d rounds, mean %.0f bytes\n", NEV, rounds,
	       (double)bytes / NEV);
	printf("iotpipe ev_decode (validating):      %6.1f ns/event  %6.2f M events/s\n",
	       ours, 1e3 / ours);
	printf("jsmn tokenize + strtod (no checks):  %6.1f ns/event  %6.2f M events/s\n",
	       theirs, 1e3 / theirs);
	printf("ratio jsmn/iotpipe: %.2fx (checksum %g, %ld)\n", theirs / ours,
	       sink, valid);

	for (int i = 0; i < NEV; i++)
		free(vals[i]);
	free(vals);
	free(lens);
	ev_decoder_destroy(dec);
	generator_destroy(g);
	config_release(&cfg);
	return 0;
}
