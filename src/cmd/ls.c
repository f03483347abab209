/*
 * ls.c - `iotpipe ls URI`: lists every object under an s3:// prefix or a
 * local directory, recursively, one line per object (like `aws s3 ls
 * --recursive`): "YYYY-MM-DD HH:MM:SS  SIZE  KEY", times in UTC.
 *
 * Runs on the main thread; the listing streams out as pages arrive (no
 * list is held in memory), so a prefix with millions of keys is fine.
 * main.c checks that stdout took everything.
 *
 * Requests: S3 sends one ListObjectsV2 per 1,000 keys (the most a page
 * holds) and nothing per object (sizes and times come in the page). Each
 * page starts after the previous page's last key, so the pages follow
 * each other: at 40 ms per request a million keys take 40 s of round
 * trips, which only splitting the key space into ranges listed side by
 * side would shorten (S3 offers no way to find the split points without
 * listing). There is nothing else to put in flight.
 *
 * Keys come from the server and may hold any byte: control characters
 * (a newline, a terminal escape) are printed as \xNN, so one object is
 * always one line and a listing cannot rewrite the terminal.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/opt.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "core/banned.h"

struct ls_ctx {
	bool uris;
	uint64_t count, bytes;
};

static void print_name(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static int print_entry(void *opaque, const struct store_entry *e)
{
	struct ls_ctx *c = opaque;
	time_t t = (time_t)e->st.mtime;
	struct tm tm;
	char when[32];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s %12" PRIu64 " ", when, e->st.size);
	print_name(c->uris ? e->uri : e->key);
	putchar('\n');
	c->count++;
	c->bytes += e->st.size;
	return ferror(stdout) ? 1 : 0;
}

int cmd_ls(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct opt_usage usage = {
		"iotpipe ls [options] URI",
		"Lists every object under URI (s3://bucket/prefix, s3a://, "
		"file:///dir or a local path), recursively: modification time "
		"(UTC), size in bytes and key.",
	};
	bool summarize = false, uris = false;
	struct opt opts[] = {
		OPT_BOOL(0, "summarize", &summarize,
			 "print the number of objects and total size at the end"),
		OPT_BOOL(0, "uris", &uris, "print full URIs instead of keys"),
		OPT_END(),
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct ls_ctx lc = { 0 };
	struct store *st;
	int status;

	/* --log-level and --log-format are the shared options (NEED_LOG) */
	if ((status = cmd_parse_args(ctx, argc, argv, opts, &usage, 1, "exactly one URI")) >= 0)
		return status;
	lc.uris = uris;
	st = store_create();
	if (store_list(st, argv[0], print_entry, &lc, &err)) {
		store_destroy(st);
		fprintf(stderr, "iotpipe ls: %s\n", err.msg);
		return err.code == IOT_ERR_USAGE || err.code == IOT_ERR_CONFIG
			       ? EXIT_USAGE
			       : EXIT_RUNTIME;
	}
	store_destroy(st);
	if (summarize)
		printf("\nTotal Objects: %" PRIu64 "\n   Total Size: %" PRIu64
		       "\n", lc.count, lc.bytes);
	return 0;
}
