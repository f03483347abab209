/*
 * prefetch.c - objects fetched ahead of their readers (prefetch.h).
 *
 * Threads: `inflight` fetch threads, each with its own store (one S3
 * connection, reused from object to object), and the consumers that take.
 * One mutex guards the per-object states and the budget; fetchers wait on
 * `more` (budget freed, stop), consumers on `ready`. A fetcher claims the
 * next index under the lock, reserves its size from the budget, fetches
 * without the lock, and publishes the bytes (or the error) under it.
 *
 * Why not a library: libcurl's multi interface would keep the requests in
 * flight on one thread, but the store's S3 client (signing, retries,
 * metrics, the throttling limit) is built on blocking easy handles; a
 * thread per request in flight reuses all of it, and the threads sleep
 * on the network, so 64 cost stacks, not cores.
 *
 * An object whose size is known (from the listing) is read as exactly
 * that many bytes (store_reader_read_at, one plain GET into a buffer of
 * that size): a server that sends more, or no end, fails that object
 * instead of growing memory, and an object shorter than listed fails too.
 *
 * Invariant: objects are claimed in index order; `held` is the sum of the
 * reserved sizes of the objects claimed and not yet taken or dropped.
 */
#include "store/prefetch.h"
#include "store/store.h"
#include "core/log.h"
#include "core/xalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

enum item_state { IT_WAIT, IT_BUSY, IT_READY, IT_FAILED, IT_GONE };

struct item {
	enum item_state state;
	bool dropped;       /* dropped while busy: free on arrival */
	size_t reserved;    /* bytes counted in held */
	struct buf data;
	struct iot_error err;
};

struct store_prefetch {
	struct store_prefetch_spec s;
	struct item *items;
	size_t next;        /* next index to claim */
	size_t held;
	bool stop;
	pthread_mutex_t mu;
	pthread_cond_t more, ready;
	pthread_t *th;
	size_t nth;
};

static size_t reserve_of(const struct store_prefetch *pf, size_t i)
{
	uint64_t sz = pf->s.sizes[i];

	return sz > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)sz;
}

/* Skips indexes dropped before they were claimed. */
static void skip_gone(struct store_prefetch *pf)
{
	while (pf->next < pf->s.n && pf->items[pf->next].state == IT_GONE)
		pf->next++;
}

/* The whole object into b: exactly its listed size. */
static enum iot_err fetch(struct store *st, const char *uri, uint64_t size,
			  struct buf *b, struct iot_error *err)
{
	struct store_reader *r;
	enum iot_err rc;

	if (size > SIZE_MAX / 2)
		return iot_error_set(err, IOT_ERR_LIMIT,
				     "%s: listed size %" PRIu64 " does not fit "
				     "in memory", uri, size);
	if ((rc = store_open_read_sized(st, uri, size, &r, err)))
		return rc;
	buf_grow(b, (size_t)size);
	rc = store_reader_read_at(r, 0, (size_t)size, b->data + b->len, err);
	if (!rc) {
		b->len += (size_t)size;
		b->data[b->len] = '\0';
	}
	store_reader_destroy(r);
	return rc;
}

static void *fetch_main(void *arg)
{
	struct store_prefetch *pf = arg;
	struct store *st = store_create();

	pthread_mutex_lock(&pf->mu);
	for (;;) {
		size_t i, need;
		struct buf b = BUF_INIT;
		struct iot_error e = IOT_ERROR_INIT;
		enum iot_err rc;
		struct item *it;

		skip_gone(pf);
		if (pf->stop || pf->next >= pf->s.n)
			break;
		need = reserve_of(pf, pf->next);
		if (pf->held && pf->held + need > pf->s.budget) {
			pthread_cond_wait(&pf->more, &pf->mu);
			continue;
		}
		i = pf->next++;
		it = &pf->items[i];
		it->state = IT_BUSY;
		it->reserved = need;
		pf->held += need;
		pthread_mutex_unlock(&pf->mu);

		rc = fetch(st, pf->s.uris[i], pf->s.sizes[i], &b, &e);

		pthread_mutex_lock(&pf->mu);
		if (it->dropped) {
			pf->held -= it->reserved;
			it->state = IT_GONE;
			buf_release(&b);
			pthread_cond_broadcast(&pf->more);
			continue;
		}
		it->state = rc ? IT_FAILED : IT_READY;
		it->err = e;
		it->data = b;
		pthread_cond_broadcast(&pf->ready);
	}
	pthread_mutex_unlock(&pf->mu);
	store_destroy(st);
	return NULL;
}

struct store_prefetch *store_prefetch_create(const struct store_prefetch_spec *s)
{
	struct store_prefetch *pf = xcalloc(1, sizeof(*pf));

	IOT_ASSERT(s->sizes);
	pf->s = *s;
	if (!pf->s.inflight)
		pf->s.inflight = 1;
	pf->items = xcalloc(s->n ? s->n : 1, sizeof(*pf->items));
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->more, NULL);
	pthread_cond_init(&pf->ready, NULL);
	pf->nth = pf->s.inflight < s->n ? pf->s.inflight : s->n;
	pf->th = xcalloc(pf->nth ? pf->nth : 1, sizeof(*pf->th));
	for (size_t t = 0; t < pf->nth; t++)
		IOT_ASSERT(pthread_create(&pf->th[t], NULL, fetch_main, pf) == 0);
	return pf;
}

/* Frees a claimed item's share of the budget (under the lock). */
static void release_item(struct store_prefetch *pf, struct item *it)
{
	pf->held -= it->reserved;
	it->reserved = 0;
	it->state = IT_GONE;
	pthread_cond_broadcast(&pf->more);
}

enum iot_err store_prefetch_take(struct store_prefetch *pf, size_t i,
				 struct buf *out, struct iot_error *err)
{
	struct item *it;
	enum iot_err rc = IOT_OK;

	IOT_ASSERT(i < pf->s.n);
	it = &pf->items[i];
	pthread_mutex_lock(&pf->mu);
	while (it->state == IT_WAIT || it->state == IT_BUSY)
		pthread_cond_wait(&pf->ready, &pf->mu);
	IOT_ASSERT(it->state != IT_GONE); /* taken or dropped twice */
	if (it->state == IT_FAILED) {
		rc = it->err.code ? it->err.code : IOT_ERR_NET;
		if (err)
			*err = it->err;
		buf_release(&it->data);
	} else {
		buf_release(out);
		*out = it->data;
		it->data = (struct buf)BUF_INIT;
	}
	release_item(pf, it);
	pthread_mutex_unlock(&pf->mu);
	return rc;
}

void store_prefetch_drop(struct store_prefetch *pf, size_t first, size_t n)
{
	pthread_mutex_lock(&pf->mu);
	for (size_t i = first; i < first + n && i < pf->s.n; i++) {
		struct item *it = &pf->items[i];
		switch (it->state) {
		case IT_WAIT:
			it->state = IT_GONE;
			break;
		case IT_BUSY:
			it->dropped = true;
			break;
		case IT_READY:
		case IT_FAILED:
			buf_release(&it->data);
			release_item(pf, it);
			break;
		case IT_GONE:
			break;
		}
	}
	pthread_cond_broadcast(&pf->more);
	pthread_mutex_unlock(&pf->mu);
}

void store_prefetch_destroy(struct store_prefetch *pf)
{
	if (!pf)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->stop = true;
	pthread_cond_broadcast(&pf->more);
	pthread_mutex_unlock(&pf->mu);
	for (size_t t = 0; t < pf->nth; t++)
		pthread_join(pf->th[t], NULL);
	for (size_t i = 0; i < pf->s.n; i++)
		buf_release(&pf->items[i].data);
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->more);
	pthread_cond_destroy(&pf->ready);
	free(pf->th);
	free(pf->items);
	free(pf);
}
