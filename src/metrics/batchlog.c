/*
 * batchlog.c - the ring of recent batches (batchlog.h). A fixed array,
 * the index of the next slot and the number of records ever pushed; no
 * allocation, so its size is BATCHLOG_CAPACITY records whatever runs.
 */
#include "metrics/batchlog.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "core/banned.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct batch_record ring[BATCHLOG_CAPACITY];
static uint64_t pushed;

void batchlog_push(const char *job, const struct batch_record *r)
{
	struct batch_record c = *r;

	snprintf(c.job, sizeof(c.job), "%s", job);
	if (c.time == 0) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		c.time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	}
	pthread_mutex_lock(&lock);
	ring[pushed % BATCHLOG_CAPACITY] = c;
	pushed++;
	pthread_mutex_unlock(&lock);
}

size_t batchlog_copy(struct batch_record *out, size_t n)
{
	size_t k = 0;

	pthread_mutex_lock(&lock);
	for (uint64_t i = pushed; i > 0 && k < n && pushed - i < BATCHLOG_CAPACITY; i--)
		out[k++] = ring[(i - 1) % BATCHLOG_CAPACITY];
	pthread_mutex_unlock(&lock);
	return k;
}

uint64_t batchlog_total(void)
{
	uint64_t n;
	pthread_mutex_lock(&lock);
	n = pushed;
	pthread_mutex_unlock(&lock);
	return n;
}

void batchlog_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(ring, 0, sizeof(ring));
	pushed = 0;
	pthread_mutex_unlock(&lock);
}
