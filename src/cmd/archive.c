/*
 * archive.c - `iotpipe archive`: raw valid events to Parquet, exactly once
 * (docs/design.md §4; the reference's streaming_raw_writer.py). The
 * engine is src/stream/job.c; this file is the command's entry point.
 */
#include "cmd/cmd.h"
#include "cmd/stream_cmd.h"

#include "core/banned.h"

int cmd_archive(int argc, char **argv, struct cmd_ctx *ctx)
{
	return stream_cmd_main(JOB_ARCHIVE, argc, argv, ctx);
}
