/*
 * s3_parts.c - the part-upload pool of s3_parts.h.
 *
 * Threads: the stream's thread submits and waits; `nworkers` worker
 * threads, started with the pool, each own one s3_client and loop: take
 * the oldest queued part, upload it (with the client's retries), record
 * its ETag or the first error, free the buffer. One mutex guards the
 * queue, the counters and the ETag array; two condition variables wake
 * workers (work queued, or stop) and the submitter (a slot freed, or all
 * done). Invariants: queued + running <= nworkers after submit returns;
 * etags[i] is valid for every part i+1 whose upload succeeded; after the
 * first error no new part starts.
 */
#include "store/s3_parts.h"
#include "core/log.h"
#include "core/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct part_job {
	struct part_job *next;
	int number;
	char *data;
	size_t len;
};

struct s3_part_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;   /* workers: a job is queued, or stop */
	pthread_cond_t done;   /* submitter: a job finished */
	struct part_job *head, *tail;
	int queued, running, nworkers, count;
	bool stop;
	enum iot_err failed;
	struct iot_error err;
	char (*etags)[80];
	size_t etags_alloc;
	char *bucket, *key, *upload_id;
	struct s3_config cfg;  /* borrowed strings: only for client creation */
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct s3_part_pool *p = arg;
	struct s3_client *c;

	pthread_mutex_lock(&p->lock);
	c = s3_client_create(&p->cfg);
	pthread_mutex_unlock(&p->lock);
	for (;;) {
		struct part_job *j;
		struct iot_error e = IOT_ERROR_INIT;
		char etag[80];
		enum iot_err rc;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (!p->head) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		if (p->failed || p->stop) {
			/* Nothing new starts after a failure or abort. */
			pthread_cond_broadcast(&p->done);
			pthread_mutex_unlock(&p->lock);
			free(j->data);
			free(j);
			continue;
		}
		p->running++;
		pthread_mutex_unlock(&p->lock);

		rc = s3_multipart_upload_part(c, p->bucket, p->key,
					      p->upload_id, j->number, j->data,
					      j->len, etag, &e);
		free(j->data);

		pthread_mutex_lock(&p->lock);
		p->running--;
		if (rc && !p->failed) {
			p->failed = rc;
			p->err = e;
		} else if (!rc) {
			memcpy(p->etags[j->number - 1], etag, 80);
		}
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->lock);
		free(j);
	}
	s3_client_destroy(c);
	return NULL;
}

struct s3_part_pool *s3_part_pool_create(const struct s3_config *cfg,
					 const char *bucket, const char *key,
					 const char *upload_id, int workers)
{
	struct s3_part_pool *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->bucket = xstrdup(bucket);
	p->key = xstrdup(key);
	p->upload_id = xstrdup(upload_id);
	p->cfg = *cfg; /* the creating client outlives the pool */
	p->nworkers = workers < 1 ? 1 : workers;
	p->threads = xcalloc((size_t)p->nworkers, sizeof(*p->threads));
	for (int i = 0; i < p->nworkers; i++)
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			IOT_ASSERT(!"pthread_create failed");
	return p;
}

enum iot_err s3_part_pool_submit(struct s3_part_pool *p, int number,
				 char *data, size_t len, struct iot_error *err)
{
	struct part_job *j;
	enum iot_err rc;

	pthread_mutex_lock(&p->lock);
	while (!p->failed && p->queued + p->running >= p->nworkers)
		pthread_cond_wait(&p->done, &p->lock);
	if ((rc = p->failed)) {
		if (err)
			*err = p->err;
		pthread_mutex_unlock(&p->lock);
		free(data);
		return rc;
	}
	if (number > p->count)
		p->count = number;
	ALLOC_GROW(p->etags, (size_t)p->count, p->etags_alloc);
	j = xcalloc(1, sizeof(*j));
	j->number = number;
	j->data = data;
	j->len = len;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return IOT_OK;
}

enum iot_err s3_part_pool_wait(struct s3_part_pool *p, struct iot_error *err)
{
	enum iot_err rc;

	pthread_mutex_lock(&p->lock);
	while (p->queued + p->running > 0)
		pthread_cond_wait(&p->done, &p->lock);
	rc = p->failed;
	if (rc && err)
		*err = p->err;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

char (*s3_part_pool_etags(struct s3_part_pool *p))[80]
{
	return p->etags;
}

int s3_part_pool_count(const struct s3_part_pool *p)
{
	return p->count;
}

void s3_part_pool_destroy(struct s3_part_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->threads[i], NULL);
	while (p->head) {
		struct part_job *j = p->head;
		p->head = j->next;
		free(j->data);
		free(j);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->etags);
	free(p->bucket);
	free(p->key);
	free(p->upload_id);
	free(p->threads);
	free(p);
}
