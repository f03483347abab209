/*
 * bench_files.c - the file system's floor under the aggregate's reference
 * layout: how fast store.h can create one small object per device and
 * minute, with nothing else to do (no Kafka, no Parquet encoding).
 *
 *	bench_files [--threads N] [--bytes B] DIR DEVICES WINDOWS
 *
 * Writes DEVICES x WINDOWS objects of B bytes (default 1,500, about an
 * aggregate row's Parquet file) to
 * DIR/device_id=device_<d>/window_start=2026-01-01 <hh>_<mm>/part.parquet,
 * as the streaming writers do (STORE_PUT_DEFER_SYNC: an unnamed file linked
 * into place, store/local.c, one durable point per round), from N threads
 * (default 2) taking devices off a shared counter. DIR must not exist.
 * Prints "files N seconds S user U sys Y us/file (cpu) C".
 *
 * An `aggregate --once` that writes the same number of files cannot take
 * less wall time than this, so this is the number to compare it with.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/xalloc.h"
#include "store/store.h"

#include "core/banned.h"

static const char *root;
static long ndev, nwin;
static size_t nbytes = 1500;
static char *payload;
static atomic_long next_dev;
static atomic_int failures;

static void *writer(void *arg)
{
	struct store *st = store_create();
	struct iot_error err = { 0 };
	long d;

	(void)arg;
	while ((d = atomic_fetch_add(&next_dev, 1)) < ndev) {
		for (long w = 0; w < nwin; w++) {
			char *uri = xasprintf("%s/device_id=device_%06ld/window_start=2026-01-01 %02ld_%02ld/"
					      "part.parquet", root, d, w / 60 % 24, w % 60);
			if (store_put(st, uri, payload, nbytes, STORE_PUT_DEFER_SYNC, &err)) {
				fprintf(stderr, "bench_files: %s\n", err.msg);
				atomic_fetch_add(&failures, 1);
			}
			free(uri);
		}
	}
	store_destroy(st);
	return NULL;
}

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	int threads = 2, a = 1;
	struct timespec t0, t1;
	struct rusage ru;
	struct stat sb;
	pthread_t *th;

	for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
		if (!strcmp(argv[a], "--threads"))
			threads = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--bytes"))
			nbytes = (size_t)atol(argv[a + 1]);
		else
			break;
	}
	if (argc - a != 3 || threads < 1 || threads > 256) {
		fprintf(stderr, "usage: bench_files [--threads N] [--bytes B] DIR DEVICES WINDOWS\n");
		return 2;
	}
	root = argv[a];
	ndev = atol(argv[a + 1]);
	nwin = atol(argv[a + 2]);
	if (stat(root, &sb) == 0 || ndev < 1 || nwin < 1 || nwin > 24 * 60) {
		fprintf(stderr, "bench_files: DIR must not exist; DEVICES >= 1; 1 <= WINDOWS <= 1440\n");
		return 2;
	}
	payload = xcalloc(1, nbytes ? nbytes : 1);
	th = xcalloc((size_t)threads, sizeof(*th));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, writer, NULL))
			return 1;
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	long files = ndev * nwin;
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
	printf("files %ld seconds %.3f user %.2f sys %.2f us/file (cpu) %.1f\n", files, secs,
	       tv(ru.ru_utime), tv(ru.ru_stime), cpu * 1e6 / (double)files);
	free(th);
	free(payload);
	return atomic_load(&failures) ? 1 : 0;
}
