/*
 * bench_store.c - upload and download throughput of the S3 back-end
 * through store.h, against whatever endpoint the AWS_* variables name.
 *
 *	bench_store [--threads N] [--prefix P] s3://BUCKET SIZE_MB...
 *
 * Uploads one object per SIZE_MB (from one random buffer; an object is a
 * slice of it, so the payload costs no generation time), then downloads
 * them all with one GET each straight into memory, and checks every byte
 * outside the timed part. N threads (default 4) each take objects off a
 * shared counter, each with its own store (one connection per thread).
 * Prints one line per phase: "upload|download BYTES SECONDS MB/s".
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"
#include "store/store.h"

#include "core/banned.h"

static const char *base;   /* s3://bucket/prefix */
static size_t *sizes;
static int nobj;
static char *payload;
static char **back;
static atomic_int next_obj;
static atomic_int failures;
static int downloading;

static char *obj_uri(int i)
{
	return xasprintf("%s/obj-%03d", base, i);
}

static void *worker(void *arg)
{
	struct store *st = store_create();
	struct iot_error err = IOT_ERROR_INIT;
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&next_obj, 1)) < nobj) {
		char *u = obj_uri(i);
		enum iot_err rc;

		if (!downloading) {
			rc = store_put(st, u, payload, sizes[i], 0, &err);
		} else {
			struct store_reader *r;
			rc = store_open_read(st, u, &r, &err);
			if (!rc) {
				rc = store_reader_read_at(r, 0, sizes[i],
							  back[i], &err);
				store_reader_destroy(r);
			}
		}
		if (rc) {
			fprintf(stderr, "bench_store: %s\n", err.msg);
			atomic_fetch_add(&failures, 1);
		}
		free(u);
	}
	store_destroy(st);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_phase(int threads)
{
	pthread_t *t = xcalloc((size_t)threads, sizeof(*t));
	double t0 = now();

	atomic_store(&next_obj, 0);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	return now() - t0;
}

int main(int argc, char **argv)
{
	int threads = 4, argi = 1;
	const char *prefix = "bench";
	size_t total = 0, maxsz = 0;
	uint64_t x = 88172645463325252ULL;
	double up, down;

	while (argi < argc && !strncmp(argv[argi], "--", 2)) {
		if (!strcmp(argv[argi], "--threads") && argi + 1 < argc)
			threads = atoi(argv[argi + 1]);
		else if (!strcmp(argv[argi], "--prefix") && argi + 1 < argc)
			prefix = argv[argi + 1];
		else
			break;
		argi += 2;
	}
	if (argc - argi < 2 || threads < 1) {
		fprintf(stderr, "usage: bench_store [--threads N] [--prefix P] "
				"s3://BUCKET SIZE_MB...\n");
		return 2;
	}
	base = xasprintf("%s/%s", argv[argi], prefix);
	nobj = argc - argi - 1;
	sizes = xcalloc((size_t)nobj, sizeof(*sizes));
	back = xcalloc((size_t)nobj, sizeof(*back));
	for (int i = 0; i < nobj; i++) {
		sizes[i] = (size_t)atol(argv[argi + 1 + i]) << 20;
		total += sizes[i];
		if (sizes[i] > maxsz)
			maxsz = sizes[i];
	}
	payload = xmalloc(maxsz);
	for (size_t i = 0; i + 8 <= maxsz; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(payload + i, &x, 8);
	}
	for (int i = 0; i < nobj; i++)
		back[i] = xmalloc(sizes[i] ? sizes[i] : 1);

	up = run_phase(threads);
	downloading = 1;
	down = run_phase(threads);
	for (int i = 0; i < nobj; i++) {
		if (memcmp(back[i], payload, sizes[i])) {
			fprintf(stderr, "bench_store: object %d differs\n", i);
			atomic_fetch_add(&failures, 1);
		}
		free(back[i]);
	}
	printf("upload %zu %.3f %.1f\n", total, up, (double)total / 1e6 / up);
	printf("download %zu %.3f %.1f\n", total, down,
	       (double)total / 1e6 / down);
	free(payload);
	free(sizes);
	free(back);
	return atomic_load(&failures) ? 1 : 0;
}
