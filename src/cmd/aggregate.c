/*
 * aggregate.c - `iotpipe aggregate`: 1-minute event-time windows per
 * device to Parquet, exactly once (docs/design.md §5; the reference's
 * streaming_processor.py). The engine is src/stream/job.c.
 */
#include "cmd/cmd.h"
#include "cmd/stream_cmd.h"

#include "core/banned.h"

int cmd_aggregate(int argc, char **argv, struct cmd_ctx *ctx)
{
	return stream_cmd_main(JOB_AGGREGATE, argc, argv, ctx);
}
