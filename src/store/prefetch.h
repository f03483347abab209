/*
 * prefetch.h - fetching a known list of objects ahead of the threads that
 * read them, many requests in flight, in list order, with bounded memory.
 *
 * The percentile job reads a dataset of many small objects. Read one by
 * one by its compute threads, each object costs a few round trips of
 * latency while a core waits; fetched here, each costs one GET of the
 * whole object, and up to `inflight` of them overlap, however many
 * threads compute (--threads stays the number of cores doing the work).
 *
 * Objects are fetched in index order (the order the consumers will want
 * them), each whole in one plain GET, into memory counted against
 * `budget` bytes; a fetch starts only when the object fits in what is
 * left of the budget (or nothing else is held, so an object larger than
 * the budget still goes, alone). Taking an object hands its bytes to the
 * caller and frees its share of the budget. Because fetching follows the
 * index, the object a consumer waits for is always fetched before any
 * later one, so consumers that take objects in increasing index order per
 * consumer, and drop what they will not take, never wait on each other.
 *
 * Calling sequence (any threads may take and drop; create and destroy on
 * one thread):
 *
 *	struct store_prefetch_spec s = { uris, sizes, n, inflight, budget };
 *	struct store_prefetch *pf = store_prefetch_create(&s);
 *	...
 *	struct buf b = BUF_INIT;
 *	rc = store_prefetch_take(pf, i, &b, &err);  // waits; b gets the bytes
 *	...
 *	store_prefetch_drop(pf, first, n);          // will not be taken
 *	store_prefetch_destroy(pf);                 // stops and joins
 *
 * uris and sizes are borrowed (kept alive by the caller until destroy);
 * sizes come from the listing; they size the budget and bound each read:
 * an object is read as exactly its listed size, so one that grew since
 * the listing (or a server that sends more) fails, as does one that
 * shrank; sizes are required (an object of unknown size has no bound).
 * Errors are per object: the failed object's take returns the store's
 * error (already retried with backoff).
 */
#ifndef IOT_STORE_PREFETCH_H
#define IOT_STORE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct store_prefetch_spec {
	const char *const *uris;
	const uint64_t *sizes;
	size_t n;
	size_t inflight;  /* fetching threads (each its own store), >= 1 */
	size_t budget;    /* bytes fetched but not yet taken, at most */
};

struct store_prefetch;

struct store_prefetch *store_prefetch_create(const struct store_prefetch_spec *s);
/* Waits until object i is fetched and moves its bytes into *out (reset
 * first). Each index is taken at most once. */
enum iot_err store_prefetch_take(struct store_prefetch *pf, size_t i,
				 struct buf *out, struct iot_error *err);
/* Objects [first, first+n) will not be taken: freed now or skipped. */
void store_prefetch_drop(struct store_prefetch *pf, size_t first, size_t n);
/* Stops fetching, joins the threads, frees what was not taken. NULL ok. */
void store_prefetch_destroy(struct store_prefetch *pf);

#endif
