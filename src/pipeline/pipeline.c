/*
 * pipeline.c - the whole pipeline in one process (pipeline.h): the
 * embedded broker when asked for, then the producer and the two streaming
 * jobs on threads of their own, and the live status line until a stop.
 *
 * Threads: the caller's thread starts the embedded broker and the worker
 * threads, then sleeps in 200 ms steps until a stop is requested while
 * the status thread (metrics/status.c) reports; the producer and each job
 * stop through the same stop flag (core/signals.h), which a failing part
 * raises too, so one part failing stops the whole pipeline. The embedded
 * broker runs on librdkafka's mock-cluster thread and is destroyed last,
 * after the jobs have committed what they read.
 */
#include "pipeline/pipeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/xalloc.h"
#include "kafka/mock_broker.h"
#include "metrics/console.h"
#include "metrics/status.h"

#include "core/banned.h"

struct part {
	pthread_t thread;
	const char *name;
	const struct job_options *job;      /* NULL for the producer */
	const struct producer_options *prod;
	struct producer_result res;
	enum iot_err rc;
	struct iot_error err;
	bool started;
};

static void *part_main(void *arg)
{
	struct part *p = arg;

	if (p->prod)
		p->rc = producer_run(p->prod, &p->res, &p->err);
	else
		p->rc = job_run(p->job, &p->err);
	if (p->rc) {
		log_error(p->name, "%s", p->err.msg);
		/* one part failing stops the whole pipeline */
		signals_request_stop();
	}
	return NULL;
}

void pipeline_options_init(struct pipeline_options *o)
{
	memset(o, 0, sizeof(*o));
	job_options_init(&o->archive);
	o->archive.kind = JOB_ARCHIVE;
	job_options_init(&o->aggregate);
	o->aggregate.kind = JOB_AGGREGATE;
	producer_options_init(&o->produce);
	o->partitions = 4;
}

/* Points every part at the embedded broker, a new, empty log. */
static void use_embedded(struct pipeline_options *o, const char *bootstrap,
			 const char *incarnation)
{
	struct job_options *jobs[2] = { &o->archive, &o->aggregate };

	for (int k = 0; k < 2; k++) {
		jobs[k]->bootstrap = bootstrap;
		jobs[k]->source = incarnation;
		jobs[k]->fresh_source = true;
		/* this process is the broker's only consumer */
		jobs[k]->static_assign = true;
		/* the embedded broker keeps about 5 MiB per partition: a
		 * job that falls that far behind goes on, counted */
		jobs[k]->on_data_loss = JOB_DATA_LOSS_EARLIEST;
	}
	o->produce.bootstrap = bootstrap;
}

enum iot_err pipeline_run(struct pipeline_options *o, struct iot_error *err)
{
	struct mock_broker *mb = NULL;
	char *incarnation = NULL;
	struct part parts[3];
	enum iot_err rc = IOT_OK;

	memset(parts, 0, sizeof(parts));
	if (o->embedded) {
		mb = mock_broker_create(1, o->partitions, err);
		if (!mb || mock_broker_create_topic(mb, o->archive.topic, o->partitions, err)) {
			iot_error_prefix(err, "embedded broker");
			rc = err->code;
			goto out;
		}
		log_info("run", "embedded broker at %s (in memory, for development and demos)",
			 mock_broker_bootstrap(mb));
		/* every start is a new, empty log: the checkpoints of earlier
		 * runs name another incarnation, and their partitions go on
		 * from offset 0 in a new epoch (stream/ckpt.h) */
		incarnation = xasprintf("embedded:%" PRId64 "-%ld", clock_wall_us(), (long)getpid());
		use_embedded(o, mock_broker_bootstrap(mb), incarnation);
	}
	log_info("run", "archive -> %s, aggregate -> %s (checkpoints %s, %s)", o->archive.output,
		 o->aggregate.output, o->archive.checkpoint, o->aggregate.checkpoint);
	console_note("bootstrap", o->archive.bootstrap);
	console_note("archive.output", o->archive.output);
	console_note("aggregate.output", o->aggregate.output);
	console_note("archive.checkpoint", o->archive.checkpoint);
	console_note("aggregate.checkpoint", o->aggregate.checkpoint);

	parts[0].name = "archive";
	parts[0].job = &o->archive;
	parts[1].name = "aggregate";
	parts[1].job = &o->aggregate;
	parts[2].name = "produce";
	parts[2].prod = &o->produce;
	for (int k = 0; k < 3; k++) {
		if (k == 2 && o->no_producer)
			continue;
		if (pthread_create(&parts[k].thread, NULL, part_main, &parts[k]) == 0)
			parts[k].started = true;
	}
	{
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		struct status *sl = status_start(STATUS_ARCHIVE | STATUS_AGGREGATE |
						 (o->no_producer ? 0 : STATUS_PRODUCE));
		while (!signals_stop_requested())
			nanosleep(&ts, NULL);
		status_stop(sl);
	}
	log_info("run", "stopping: the producer flushes, the jobs commit what they read");
	for (int k = 0; k < 3; k++) {
		if (!parts[k].started)
			continue;
		pthread_join(parts[k].thread, NULL);
		if (parts[k].rc && rc == IOT_OK) {
			iot_error_set(err, parts[k].rc, "%s: %s", parts[k].name, parts[k].err.msg);
			rc = parts[k].rc;
		}
	}
out:
	mock_broker_destroy(mb);
	free(incarnation);
	return rc;
}
