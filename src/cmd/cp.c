/*
 * cp.c - `iotpipe cp SRC DST`: copies objects in any direction between
 * local paths and S3 (local->S3, S3->local, S3->S3, local->local), over
 * store.h, so the copy is exactly what a job would read and write.
 *
 * Data flow: a reader on SRC (HEAD for the size) feeds 8 MiB ranged reads
 * into an output stream on DST; S3 destinations become a single PUT or a
 * multipart upload as the size demands, local destinations appear
 * atomically. Memory stays at one chunk plus one part whatever the size.
 * S3->S3 goes through this process (no server-side copy), which also
 * works between two different S3-compatible servers' buckets only when
 * both use the same endpoint settings. The main thread lists and copies
 * single objects; --recursive copies on pool workers (below).
 *
 * DST naming follows `aws s3 cp`: a DST ending in '/' (or an existing
 * local directory, or a bare s3://bucket) receives SRC's base name;
 * --recursive copies every object under SRC to DST + its relative key,
 * as many at a time as the two ends take in flight (store_concurrency():
 * IOTPIPE_S3_MAX_INFLIGHT, 128, between S3 ends; 8 with a local end),
 * each worker thread with its own store, within CP_BUDGET bytes of
 * buffers (below), so a prefix of many small objects costs their latency
 * only once per wave. An object the listing says fits in one chunk is
 * read with one GET of at most its listed size plus one byte (no HEAD: an
 * object that grew since is seen by that byte and copied the long way),
 * so it costs two round trips, the GET and the PUT. "copy:" lines come in
 * completion order. The first failure stops handing out objects; copies
 * in flight finish, and each is atomic.
 *
 * The listing itself is one ListObjectsV2 request per 1,000 keys, each
 * needing the previous page's last key: sequential by nature (ls.c).
 *
 * Keys come from the server, so they are not trusted with the file system:
 * when DST is local, every listed key must lie under SRC's prefix and its
 * part below it must be a relative path of non-empty segments other than
 * "." and ".." ("../../etc/x", "/abs", "a//b" are refused). The whole
 * listing is checked before the first byte is written, and one bad key
 * fails the copy (exit 1, naming the key): a copy that silently leaves
 * objects out would look complete. Zero-byte keys ending in '/' are the
 * "folder" markers S3 consoles create; they hold no data and are skipped.
 * S3 destinations take the keys as they are (S3 keys are opaque strings,
 * and requests send paths verbatim, see s3_http.c).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "core/log.h"
#include "core/opt.h"
#include "core/pool.h"
#include "core/xalloc.h"
#include "store/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/banned.h"

#define CP_CHUNK ((size_t)8 << 20)
/* Buffers of the copies in flight in --recursive: a large object holds a
 * chunk and a part (16 MiB), a small one its size. 256 MiB lets 16 large
 * copies run at once, and any number of small ones up to the
 * concurrency (the case where latency matters, and memory does not). */
#define CP_BUDGET ((uint64_t)256 << 20)

static enum iot_err copy_one(struct store *st, const char *src,
			     const char *dst, bool quiet,
			     struct iot_error *err)
{
	struct store_reader *r = NULL;
	struct store_ostream *os = NULL;
	uint64_t size, off = 0;
	char *chunk = NULL;
	enum iot_err rc;

	if ((rc = store_open_read(st, src, &r, err)))
		return rc;
	if ((rc = store_open_write(st, dst, 0, &os, err)))
		goto out;
	size = store_reader_size(r);
	chunk = xmalloc(size < CP_CHUNK ? (size ? size : 1) : CP_CHUNK);
	while (off < size) {
		size_t n = size - off < CP_CHUNK ? (size_t)(size - off) : CP_CHUNK;
		if ((rc = store_reader_read_at(r, off, n, chunk, err)))
			goto out;
		if ((rc = store_ostream_write(os, chunk, n))) {
			/* the stream keeps the message for close */
			break;
		}
		off += n;
	}
	rc = store_ostream_close(os, err);
	os = NULL;
	if (!rc && !quiet)
		printf("copy: %s to %s (%" PRIu64 " bytes)\n", src, dst, size);
out:
	store_ostream_abort(os);
	store_reader_destroy(r);
	free(chunk);
	return rc;
}

static bool is_local_dir(const char *uri)
{
	struct store_uri u;
	struct stat sb;
	bool dir = false;

	if (store_uri_parse(uri, &u, NULL) == IOT_OK) {
		dir = u.scheme == STORE_SCHEME_LOCAL && stat(u.key, &sb) == 0 &&
		      S_ISDIR(sb.st_mode);
		if (u.scheme == STORE_SCHEME_S3 && !*u.key)
			dir = true;
		store_uri_release(&u);
	}
	return dir;
}

/* NULL when `rel` is a safe relative path, else what is wrong with it. */
static const char *unsafe_rel_path(const char *rel)
{
	const char *seg = rel;

	if (!*rel)
		return "it is SRC itself: copy one object without -r";
	if (*rel == '/')
		return "an absolute path";
	for (;;) {
		size_t n = strcspn(seg, "/");
		if (n == 0)
			return "an empty path segment";
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return n == 1 ? "a '.' path segment" : "a '..' path segment";
		if (!seg[n])
			return NULL;
		seg += n + 1;
	}
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir);

	if (n && dir[n - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}

struct rec_ctx {
	struct store *st;
	const char *dst;
	const char *prefix; /* SRC's key: every listed key starts with it */
	bool local_dst;
	bool quiet;
	char **srcs, **dsts;
	uint64_t *sizes;    /* as listed */
	size_t n, alloc;
	struct iot_error *err;
	enum iot_err rc;  /* the first unsafe key stops the listing */
};

static int collect(void *opaque, const struct store_entry *e)
{
	struct rec_ctx *c = opaque;
	size_t plen = strlen(c->prefix);
	const char *rel = e->key + plen, *why;

	if (strncmp(e->key, c->prefix, plen)) {
		c->rc = iot_error_set(c->err, IOT_ERR_FORMAT,
				      "listed key '%.300s' is not under '%.300s'; nothing copied",
				      e->key, c->prefix);
		return 1;
	}
	/* "s3://b/dir" lists "dir/x": the separator is not part of the name;
	 * "dir2/x", "dir.bak" or the object "dir" itself share the prefix but
	 * are not below the directory (as aws s3 cp --recursive has it) */
	if (plen && c->prefix[plen - 1] != '/') {
		if (*rel != '/') {
			log_debug("cp", "skipping %s: not below %s/", e->uri, c->prefix);
			return 0;
		}
		rel++;
	}
	if (c->local_dst) {
		size_t kl = strlen(e->key);
		if (kl && e->key[kl - 1] == '/' && e->st.size == 0) {
			log_info("cp", "skipping the folder marker %s", e->uri);
			return 0;
		}
		if ((why = unsafe_rel_path(rel))) {
			c->rc = iot_error_set(c->err, IOT_ERR_FORMAT,
					      "%.600s: the key is not a safe local path below %.300s "
					      "(%s); nothing copied",
					      e->uri, c->dst, why);
			return 1;
		}
	}
	ALLOC_GROW(c->srcs, c->n + 1, c->alloc);
	c->dsts = xrealloc(c->dsts, c->alloc * sizeof(*c->dsts));
	c->sizes = xrealloc(c->sizes, c->alloc * sizeof(*c->sizes));
	c->srcs[c->n] = xstrdup(e->uri);
	c->dsts[c->n] = join(c->dst, rel);
	c->sizes[c->n] = e->st.size;
	c->n++;
	return 0;
}

/*
 * An object listed at `size` <= CP_CHUNK: one GET of up to size + 1
 * bytes, then one write. *done false when the object now holds more than
 * `size` bytes (overwritten since the listing): the caller copies it with
 * copy_one, which sizes it again.
 */
static enum iot_err copy_small(struct store *st, const char *src, const char *dst,
			       uint64_t size, bool quiet, bool *done, struct iot_error *err)
{
	struct buf b = BUF_INIT;
	enum iot_err rc = store_get_range(st, src, 0, (size_t)size + 1, &b, err);

	*done = false;
	if (!rc && b.len <= size) {
		*done = true;
		rc = store_put(st, dst, b.data, b.len, 0, err);
		if (!rc && !quiet)
			printf("copy: %s to %s (%zu bytes)\n", src, dst, b.len);
	}
	buf_release(&b);
	return rc;
}

struct copy_ctx {
	struct rec_ctx *c;
	struct store **stores; /* one per worker */
	pthread_mutex_t mu;    /* guards held */
	pthread_cond_t freed;
	uint64_t held;         /* bytes of buffers of the copies in flight */
};

/* What a copy of an object of `size` bytes holds while it runs. */
static uint64_t copy_cost(uint64_t size)
{
	return size <= CP_CHUNK ? size + 1 : 2 * (uint64_t)CP_CHUNK;
}

/* Waits until `cost` fits in CP_BUDGET (or nothing else is held: one
 * object always goes), then takes it. */
static void budget_take(struct copy_ctx *x, uint64_t cost)
{
	pthread_mutex_lock(&x->mu);
	while (x->held && x->held + cost > CP_BUDGET)
		pthread_cond_wait(&x->freed, &x->mu);
	x->held += cost;
	pthread_mutex_unlock(&x->mu);
}

static void budget_give(struct copy_ctx *x, uint64_t cost)
{
	pthread_mutex_lock(&x->mu);
	x->held -= cost;
	pthread_cond_broadcast(&x->freed);
	pthread_mutex_unlock(&x->mu);
}

/* Runs on a pool worker: copies object `item` with that worker's store. */
static enum iot_err copy_item(void *opaque, size_t worker, size_t item,
			      struct iot_error *err)
{
	struct copy_ctx *x = opaque;
	struct store *st = x->stores[worker];
	const char *src = x->c->srcs[item], *dst = x->c->dsts[item];
	uint64_t size = x->c->sizes[item], cost = copy_cost(size);
	bool done = false;
	enum iot_err rc = IOT_OK;

	budget_take(x, cost);
	if (size <= CP_CHUNK)
		rc = copy_small(st, src, dst, size, x->c->quiet, &done, err);
	if (!rc && !done) {
		/* large, or grown since the listing: at most a chunk and a part */
		budget_give(x, cost);
		cost = copy_cost(UINT64_MAX);
		budget_take(x, cost);
		rc = copy_one(st, src, dst, x->c->quiet, err);
	}
	budget_give(x, cost);
	return rc;
}

static enum iot_err copy_all(struct rec_ctx *c, const char *src, const char *dst,
			     struct iot_error *err)
{
	size_t a = store_concurrency(c->st, src), b = store_concurrency(c->st, dst);
	size_t threads = a < b ? a : b;
	struct copy_ctx x = { c, NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	enum iot_err rc;

	if (threads > c->n)
		threads = c->n;
	x.stores = xcalloc(threads, sizeof(*x.stores));
	for (size_t i = 0; i < threads; i++)
		x.stores[i] = store_create();
	{
		struct pool_spec ps = { threads, c->n, copy_item, &x, NULL, 0, NULL };
		rc = pool_run(&ps, err);
	}
	for (size_t i = 0; i < threads; i++)
		store_destroy(x.stores[i]);
	free(x.stores);
	pthread_mutex_destroy(&x.mu);
	pthread_cond_destroy(&x.freed);
	return rc;
}

static enum iot_err copy_recursive(struct store *st, const char *src,
				   const char *dst, bool quiet,
				   struct iot_error *err)
{
	struct rec_ctx c = { st, dst, NULL, false, quiet, NULL, NULL, NULL, 0, 0, err, IOT_OK };
	struct store_uri u, du;
	enum iot_err rc;

	if ((rc = store_uri_parse(src, &u, err)))
		return rc;
	if ((rc = store_uri_parse(dst, &du, err))) {
		store_uri_release(&u);
		return rc;
	}
	/* a local "." lists bare names ("a", "sub/b") */
	c.prefix = u.scheme == STORE_SCHEME_LOCAL && !strcmp(u.key, ".") ? "" : u.key;
	c.local_dst = du.scheme == STORE_SCHEME_LOCAL;
	store_uri_release(&du);
	/* Listing first, copying after: copying into the listed prefix
	 * must not feed the listing, and every key is checked before
	 * anything is written. */
	rc = store_list(st, src, collect, &c, err);
	if (!rc)
		rc = c.rc;
	if (!rc && c.n)
		rc = copy_all(&c, src, dst, err);
	for (size_t i = 0; i < c.n; i++) {
		free(c.srcs[i]);
		free(c.dsts[i]);
	}
	free(c.srcs);
	free(c.dsts);
	free(c.sizes);
	store_uri_release(&u);
	return rc;
}

int cmd_cp(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct opt_usage usage = {
		"iotpipe cp [options] SRC DST",
		"Copies an object between local paths and S3 in any direction "
		"(s3://bucket/key, s3a://, file:///path or a path). A DST "
		"ending in '/' or naming a directory receives SRC's base name.",
	};
	bool recursive = false, quiet = false;
	struct opt opts[] = {
		OPT_BOOL('r', "recursive", &recursive,
			 "copy every object under SRC to DST/<relative key>"),
		OPT_BOOL('q', "quiet", &quiet, "print nothing on success"),
		OPT_END(),
	};
	struct iot_error err = IOT_ERROR_INIT;
	struct store *st;
	enum iot_err rc;
	char *dst;
	int status;

	/* --log-level and --log-format are the shared options (NEED_LOG) */
	if ((status = cmd_parse_args(ctx, argc, argv, opts, &usage, 2, "SRC and DST")) >= 0)
		return status;
	st = store_create();
	if (recursive) {
		rc = copy_recursive(st, argv[0], argv[1], quiet, &err);
	} else {
		size_t dl = strlen(argv[1]);
		if ((dl && argv[1][dl - 1] == '/') || is_local_dir(argv[1])) {
			const char *base = strrchr(argv[0], '/');
			base = base ? base + 1 : argv[0];
			/* the name comes from SRC: "s3://b/k/.." must not
			 * become DST/.., nor "s3://b/k/" DST itself */
			if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
				fprintf(stderr, "iotpipe cp: cannot name a file in %s after "
					"'%s': its last segment is '%s'; give DST a file name\n",
					argv[1], argv[0], base);
				store_destroy(st);
				return EXIT_USAGE;
			}
			dst = join(argv[1], base);
		} else {
			dst = xstrdup(argv[1]);
		}
		rc = copy_one(st, argv[0], dst, quiet, &err);
		free(dst);
	}
	store_destroy(st);
	if (rc) {
		fprintf(stderr, "iotpipe cp: %s\n", err.msg);
		return rc == IOT_ERR_USAGE || rc == IOT_ERR_CONFIG
			       ? EXIT_USAGE
			       : EXIT_RUNTIME;
	}
	return 0;
}
