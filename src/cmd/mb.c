/*
 * mb.c - `iotpipe mb s3://BUCKET`: creates a bucket (or, for a local
 * path, the directory). Succeeds when the bucket already exists and is
 * ours, so scripts and `make bucket` can run it every time. With --wait
 * it keeps trying while the endpoint does not answer yet (a server that
 * is still starting), for at most that many seconds. Main thread only.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/opt.h"
#include "store/store.h"

#include <stdio.h>
#include <time.h>

#include "core/banned.h"

int cmd_mb(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct opt_usage usage = {
		"iotpipe mb [options] s3://BUCKET",
		"Creates the bucket (OK when it exists and is ours). S3 "
		"settings come from the AWS_* environment variables.",
	};
	double wait_s = 0;
	struct opt opts[] = {
		OPT_DOUBLE(0, "wait", &wait_s, "SECONDS",
			   "retry while the endpoint is unreachable, up to "
			   "SECONDS (default 0: try once)",
			   RANGE(0, RANGE_DAY_S)),
		OPT_END(),
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct store *st;
	struct timespec t0, t;
	enum iot_err rc;
	int status;

	/* --log-level and --log-format are the shared options (NEED_LOG) */
	if ((status = cmd_parse_args(ctx, argc, argv, opts, &usage, 1, "exactly one s3://BUCKET")) >= 0)
		return status;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = store_create();
	for (;;) {
		struct timespec pause = { 0, 250 * 1000 * 1000 };

		iot_error_clear(&err);
		rc = store_create_bucket(st, argv[0], &err);
		if (rc != IOT_ERR_NET || !err.retriable)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) +
			    (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >=
		    wait_s)
			break;
		nanosleep(&pause, NULL);
	}
	store_destroy(st);
	if (rc) {
		fprintf(stderr, "iotpipe mb: %s\n", err.msg);
		return rc == IOT_ERR_USAGE || rc == IOT_ERR_CONFIG
			       ? EXIT_USAGE
			       : EXIT_RUNTIME;
	}
	printf("make_bucket: %s\n", argv[0]);
	return 0;
}
