/*
 * ckpt.c - per-partition checkpoint files (ckpt.h).
 *
 * Both files are small text documents:
 *	iotpipe-checkpoint 1
 *	job <archive|aggregate>
 *	kind <wal|state>
 *	batch <b>
 *	start <offset> / end <offset> / emit <us|->      (wal)
 *	ref <us>                                         (wal; optional)
 *	next <offset>                                    (state)
 *	epoch <n>, source <id>                           (both; optional)
 *	run <16 hex digits>                              (both; optional)
 *	--
 *	<job payload>                                    (state; wal: the
 *	                                                  merge plan, merge.h)
 * The job name is checked on load, so two different jobs pointed at the
 * same checkpoint location fail loudly instead of corrupting each other.
 * Batch numbers are zero-padded to 20 digits so listing order is batch
 * order, on S3 and on local disk alike. ckpt_gc deletes the old files up
 * to GC_PARALLEL at a time on pool workers (each delete is a round trip
 * on S3); everything else runs on the caller's thread.
 */
#include "stream/ckpt.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

uint64_t ckpt_new_run(void)
{
	uint64_t v = 0;

	/* the kernel's pool; without it (a seccomp filter, an old kernel),
	 * the clock and the process id still tell runs apart in practice */
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) *
		    0x9e3779b97f4a7c15u ^ (uint64_t)getpid() << 32;
	}
	return v ? v : 1;
}

enum iot_err ckpt_check_size(const char *uri, size_t len, struct iot_error *err)
{
	if (len <= CKPT_FILE_MAX)
		return IOT_OK;
	return iot_error_set(err, IOT_ERR_LIMIT,
			     "%s: %zu bytes, more than the %zu a checkpoint file may hold (so "
			     "many windows open in one partition: spread the devices over more "
			     "partitions)", uri, len, CKPT_FILE_MAX);
}

enum iot_err ckpt_mark_run(struct store *st, const char *base, uint64_t run,
			   struct iot_error *err)
{
	char *uri = xasprintf("%srun", base);
	char text[40];
	int n = snprintf(text, sizeof(text), "iotpipe-run %016" PRIx64 "\n", run);
	enum iot_err rc;

	IOT_ASSERT((size_t)n == CKPT_RUN_MAX);
	rc = store_put(st, uri, text, (size_t)n, 0, err);

	free(uri);
	return rc;
}

enum iot_err ckpt_marked_run(struct store *st, const char *base, bool *marked, uint64_t *run,
			     struct iot_error *err)
{
	char *uri = xasprintf("%srun", base);
	struct buf b = BUF_INIT;
	enum iot_err rc = store_get(st, uri, CKPT_RUN_MAX, &b, err);
	unsigned long long v = 0;
	char nl = 0;

	*run = 0;
	*marked = false;
	if (rc == IOT_ERR_NOT_FOUND) {
		iot_error_clear(err);
		rc = IOT_OK;
	} else if (!rc) {
		buf_putc(&b, '\0');
		if (sscanf((const char *)b.data, "iotpipe-run %16llx%c", &v, &nl) != 2 || nl != '\n')
			rc = iot_error_set(err, IOT_ERR_FORMAT, "%s: corrupt checkpoint file", uri);
		else
			*run = v, *marked = true;
	}
	buf_release(&b);
	free(uri);
	return rc;
}

char *ckpt_partition_uri(const char *checkpoint, const char *topic, int32_t p)
{
	size_t n = strlen(checkpoint);
	return xasprintf("%s%s%s/partition=%d/", checkpoint,
			 n && checkpoint[n - 1] == '/' ? "" : "/", topic, (int)p);
}

struct listing {
	uint64_t max_state, max_wal;
	uint64_t state_size, wal_size; /* as listed */
	bool has_state, has_wal;
	uint64_t *all;   /* every batch number seen, for gc */
	size_t n, alloc;
};

static int on_entry(void *opaque, const struct store_entry *e)
{
	struct listing *l = opaque;
	const char *name = strrchr(e->key, '/');
	uint64_t b;
	char *end;

	name = name ? name + 1 : e->key;
	if (!strncmp(name, "state-", 6) || !strncmp(name, "wal-", 4)) {
		bool state = name[0] == 's';
		errno = 0;
		b = strtoull(name + (state ? 6 : 4), &end, 10);
		if (errno || *end)
			return 0;
		if (state && (!l->has_state || b > l->max_state))
			l->max_state = b, l->state_size = e->st.size, l->has_state = true;
		if (!state && (!l->has_wal || b > l->max_wal))
			l->max_wal = b, l->wal_size = e->st.size, l->has_wal = true;
		ALLOC_GROW(l->all, l->n + 1, l->alloc);
		l->all[l->n++] = b;
	}
	return 0;
}

/* Reads a plan or state listed at `size` bytes: at most that many (and
 * CKPT_FILE_MAX), since the listing is the size known before the read. */
static enum iot_err get_listed(struct store *st, const char *uri, uint64_t size,
			       struct buf *b, struct iot_error *err)
{
	enum iot_err rc = store_get(st, uri, size < CKPT_FILE_MAX ? (size_t)size : CKPT_FILE_MAX,
				    b, err);

	if (rc == IOT_ERR_LIMIT && err) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, " (listed at %" PRIu64 " bytes)",
			 size);
	}
	return rc;
}

static char *file_uri(const char *base, const char *kind, uint64_t batch)
{
	return xasprintf("%s%s-%020" PRIu64, base, kind, batch);
}

/* Parses the header; returns a pointer to the payload (after "--\n"). */
static enum iot_err parse(const char *uri, const char *job, const char *kind,
			  char *text, uint64_t batch, struct ckpt_wal *w,
			  int64_t *next, uint32_t *epoch, char *source, char *shape,
			  struct ckpt_tail *tail, uint64_t *run, const char **payload,
			  struct iot_error *err)
{
	char *line = text, *nl;
	bool magic = false, job_ok = false, kind_ok = false, batch_ok = false;
	bool start_ok = false, end_ok = false, next_ok = false;

	*payload = "";
	*epoch = 0;
	*source = '\0';
	*shape = '\0';
	*run = 0;
	for (; line && *line; line = nl) {
		char *val, *e;
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (!strcmp(line, "--")) {
			*payload = nl ? nl : "";
			break;
		}
		val = strchr(line, ' ');
		if (!val)
			goto bad;
		*val++ = '\0';
		errno = 0;
		if (!strcmp(line, "iotpipe-checkpoint")) {
			magic = !strcmp(val, "1");
		} else if (!strcmp(line, "job")) {
			if (strcmp(val, job))
				return iot_error_set(err, IOT_ERR_STATE,
						     "%s: checkpoint belongs to job '%s', not '%s': give each job its own checkpoint location",
						     uri, val, job);
			job_ok = true;
		} else if (!strcmp(line, "kind")) {
			kind_ok = !strcmp(val, kind);
		} else if (!strcmp(line, "batch")) {
			batch_ok = strtoull(val, &e, 10) == batch && !*e && !errno;
		} else if (!strcmp(line, "start") && w) {
			w->start = strtoll(val, &e, 10);
			start_ok = !*e && !errno;
		} else if (!strcmp(line, "end") && w) {
			w->end = strtoll(val, &e, 10);
			end_ok = !*e && !errno;
		} else if (!strcmp(line, "emit") && w) {
			w->has_emit = strcmp(val, "-") != 0;
			if (w->has_emit) {
				w->emit_upto_us = strtoll(val, &e, 10);
				if (*e || errno)
					goto bad;
			}
		} else if (!strcmp(line, "ref") && w) {
			w->ref_us = strtoll(val, &e, 10);
			if (*e || errno)
				goto bad;
		} else if (!strcmp(line, "next") && next) {
			*next = strtoll(val, &e, 10);
			next_ok = !*e && !errno;
		} else if (!strcmp(line, "epoch")) {
			unsigned long long v = strtoull(val, &e, 10);
			if (*e || errno || v > UINT32_MAX)
				goto bad;
			*epoch = (uint32_t)v;
		} else if (!strcmp(line, "source")) {
			size_t n = strlen(val);
			if (!n || n >= CKPT_SOURCE_MAX)
				goto bad;
			memcpy(source, val, n + 1);
		} else if (!strcmp(line, "shape")) {
			size_t n = strlen(val);
			if (!n || n >= CKPT_SHAPE_MAX)
				goto bad;
			memcpy(shape, val, n + 1);
		} else if (!strcmp(line, "tail") && tail) {
			long long o, t;
			unsigned long long k, v;
			int used = -1;
			if (sscanf(val, "%lld %lld %llu %llu%n", &o, &t, &k, &v, &used) != 4 ||
			    val[used] || o < 0)
				goto bad;
			*tail = (struct ckpt_tail){ true, o, t, k, v };
		} else if (!strcmp(line, "run")) {
			if (strlen(val) != 16 || strspn(val, "0123456789abcdef") != 16)
				goto bad;
			*run = strtoull(val, &e, 16);
			if (!*run)
				goto bad;
		}
	}
	if (!magic || !job_ok || !kind_ok || !batch_ok ||
	    (w && (!start_ok || !end_ok || w->end < w->start)) || (next && !next_ok))
		goto bad;
	return IOT_OK;
bad:
	return iot_error_set(err, IOT_ERR_FORMAT, "%s: corrupt checkpoint file", uri);
}

enum iot_err ckpt_recover(struct store *st, const char *job, const char *base,
			  struct ckpt_recovered *out, struct iot_error *err)
{
	struct listing l;
	enum iot_err rc = IOT_OK;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	buf_init(&out->payload);
	buf_init(&out->wal_plan);
	out->next_offset = -1;
	if ((rc = store_list(st, base, on_entry, &l, err)) && rc != IOT_ERR_NOT_FOUND)
		goto done;
	rc = IOT_OK;
	if (l.has_state) {
		char *uri = file_uri(base, "state", l.max_state);
		struct buf b = BUF_INIT;
		const char *payload;
		rc = get_listed(st, uri, l.state_size, &b, err);
		if (!rc)
			rc = parse(uri, job, "state", (char *)b.data ? (char *)b.data : (char *)"",
				   l.max_state, NULL, &out->next_offset, &out->epoch, out->source,
				   out->shape, &out->tail, &out->run, &payload, err);
		if (!rc) {
			buf_puts(&out->payload, payload);
			out->has_state = true;
			out->batch = l.max_state;
		}
		buf_release(&b);
		free(uri);
		if (rc)
			goto done;
	}
	if (l.has_wal && l.max_wal == out->batch + 1) {
		char *uri = file_uri(base, "wal", l.max_wal);
		struct buf b = BUF_INIT;
		const char *payload;
		rc = get_listed(st, uri, l.wal_size, &b, err);
		char wsource[CKPT_SOURCE_MAX], wshape[CKPT_SHAPE_MAX];
		if (!rc)
			rc = parse(uri, job, "wal", b.data ? (char *)b.data : (char *)"",
				   l.max_wal, &out->wal, NULL, &out->wal.epoch, wsource, wshape,
				   NULL, &out->wal.run, &payload, err);
		if (!rc) {
			out->has_wal = true;
			if (*wshape) /* the newer record */
				memcpy(out->shape, wshape, sizeof(wshape));
			if (out->wal.run)
				out->run = out->wal.run;
			out->wal.batch = l.max_wal;
			buf_puts(&out->wal_plan, payload);
			if (!out->has_state) {
				out->epoch = out->wal.epoch;
				memcpy(out->source, wsource, sizeof(wsource));
			}
			/* a new epoch starts where its log begins */
			if (out->has_state && out->wal.epoch == out->epoch &&
			    out->wal.start != out->next_offset)
				rc = iot_error_set(err, IOT_ERR_FORMAT,
						   "%s: plans offsets from %" PRId64 " but the last commit ends at %" PRId64,
						   uri, out->wal.start, out->next_offset);
			else if (out->has_state && out->wal.epoch < out->epoch)
				rc = iot_error_set(err, IOT_ERR_FORMAT,
						   "%s: plan of epoch %" PRIu32 " after a commit of epoch %" PRIu32,
						   uri, out->wal.epoch, out->epoch);
		}
		buf_release(&b);
		free(uri);
	}
done:
	free(l.all);
	return rc;
}

enum iot_err ckpt_latest(struct store *st, const char *base, bool *has,
			 uint64_t *batch, struct iot_error *err)
{
	struct listing l;
	enum iot_err rc;

	memset(&l, 0, sizeof(l));
	rc = store_list(st, base, on_entry, &l, err);
	free(l.all);
	if (rc == IOT_ERR_NOT_FOUND)
		rc = IOT_OK;
	*has = l.has_state;
	*batch = l.max_state;
	return rc;
}

void ckpt_recovered_release(struct ckpt_recovered *r)
{
	buf_release(&r->payload);
	buf_release(&r->wal_plan);
}

/* The optional lines: epoch 0 and no source are left out, so a checkpoint
 * that never lost its log reads as before epochs existed; the shape is
 * left out only by callers that have none (tests). */
static void origin_text(struct buf *b, uint32_t epoch, const struct ckpt_origin *o)
{
	if (epoch)
		buf_printf(b, "epoch %" PRIu32 "\n", epoch);
	if (o && o->source && *o->source)
		buf_printf(b, "source %s\n", o->source);
	if (o && o->shape && *o->shape)
		buf_printf(b, "shape %s\n", o->shape);
	if (o && o->tail && o->tail->has)
		buf_printf(b, "tail %" PRId64 " %" PRId64 " %" PRIu64 " %" PRIu64 "\n",
			   o->tail->offset, o->tail->ts_ms, o->tail->klen, o->tail->vlen);
}

static void run_text(struct buf *b, uint64_t run)
{
	if (run)
		buf_printf(b, "run %016" PRIx64 "\n", run);
}

static void wal_text(struct buf *b, const char *job, const struct ckpt_wal *w,
		     const struct ckpt_origin *o, const struct buf *plan)
{
	buf_printf(b, "iotpipe-checkpoint 1\njob %s\nkind wal\nbatch %" PRIu64
		      "\nstart %" PRId64 "\nend %" PRId64 "\n",
		   job, w->batch, w->start, w->end);
	if (w->has_emit)
		buf_printf(b, "emit %" PRId64 "\n", w->emit_upto_us);
	else
		buf_puts(b, "emit -\n");
	if (w->ref_us)
		buf_printf(b, "ref %" PRId64 "\n", w->ref_us);
	origin_text(b, w->epoch, o);
	run_text(b, w->run);
	if (plan && plan->len) {
		buf_puts(b, "--\n");
		buf_append(b, plan->data, plan->len);
	}
}

enum iot_err ckpt_write_wal(struct store *st, const char *job, const char *base,
			    const struct ckpt_wal *w, const struct ckpt_origin *o,
			    const struct buf *plan, bool *conflict, struct ckpt_wal *existing,
			    struct iot_error *err)
{
	char *uri = file_uri(base, "wal", w->batch);
	struct buf b = BUF_INIT, old = BUF_INIT;
	enum iot_err rc;

	*conflict = false;
	wal_text(&b, job, w, o, plan);
	rc = ckpt_check_size(uri, b.len, err);
	if (!rc)
		rc = store_put(st, uri, b.data, b.len, STORE_PUT_IF_ABSENT, err);
	if (rc == IOT_ERR_STATE) {
		/* a plan for this batch exists (a replay we were not told about,
		 * or another instance): the first plan wins */
		const char *payload;
		char osource[CKPT_SOURCE_MAX], oshape[CKPT_SHAPE_MAX];
		const char *shape = o && o->shape ? o->shape : "";
		iot_error_clear(err);
		memset(existing, 0, sizeof(*existing));
		rc = store_get(st, uri, CKPT_FILE_MAX, &old, err);
		if (!rc)
			rc = parse(uri, job, "wal", old.data ? (char *)old.data : (char *)"",
				   w->batch, existing, NULL, &existing->epoch, osource, oshape,
				   NULL, &existing->run, &payload, err);
		if (!rc) {
			size_t plen = plan ? plan->len : 0;
			existing->batch = w->batch;
			*conflict = strlen(payload) != plen ||
				    (plen && memcmp(payload, plan->data, plen)) ||
				    existing->start != w->start || existing->end != w->end ||
				    existing->epoch != w->epoch || strcmp(oshape, shape) ||
				    existing->run != w->run ||
				    existing->has_emit != w->has_emit ||
				    (w->has_emit && existing->emit_upto_us != w->emit_upto_us);
		}
	}
	buf_release(&b);
	buf_release(&old);
	free(uri);
	return rc;
}

enum iot_err ckpt_write_state(struct store *st, const char *job, const char *base,
			      uint64_t batch, int64_t next_offset, uint32_t epoch,
			      const struct ckpt_origin *o, const struct buf *payload,
			      struct iot_error *err)
{
	char *uri = file_uri(base, "state", batch);
	struct buf b = BUF_INIT;
	enum iot_err rc;

	buf_printf(&b, "iotpipe-checkpoint 1\njob %s\nkind state\nbatch %" PRIu64
		       "\nnext %" PRId64 "\n",
		   job, batch, next_offset);
	origin_text(&b, epoch, o);
	run_text(&b, o ? o->run : 0);
	buf_puts(&b, "--\n");
	if (payload)
		buf_append(&b, payload->data, payload->len);
	rc = ckpt_check_size(uri, b.len, err);
	if (!rc)
		rc = store_put(st, uri, b.data, b.len, 0, err);
	buf_release(&b);
	free(uri);
	return rc;
}

/* A clean-up deletes two files per old batch (about 2 x GC_EVERY of
 * them); on S3 each delete is a round trip, so they go this many at a
 * time, each worker with its own store (connection). */
#define GC_PARALLEL 8

struct gc_ctx {
	char **uris;
	struct store **stores;
};

/* Runs on a pool worker; best effort: a failure is logged, not returned. */
static enum iot_err gc_one(void *opaque, size_t worker, size_t i, struct iot_error *err)
{
	struct gc_ctx *g = opaque;
	struct iot_error e = IOT_ERROR_INIT;

	(void)err;
	if (store_delete(g->stores[worker], g->uris[i], &e))
		log_debug("checkpoint", "gc: %s", e.msg);
	return IOT_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

void ckpt_gc(struct store *st, const char *base, uint64_t keep_from)
{
	struct listing l;
	struct iot_error err = IOT_ERROR_INIT;
	struct gc_ctx g = { NULL, NULL };
	size_t n = 0, threads;

	memset(&l, 0, sizeof(l));
	if (store_list(st, base, on_entry, &l, &err) != IOT_OK || !l.n) {
		free(l.all);
		return;
	}
	/* a batch is listed once per file (wal and state): delete it once */
	qsort(l.all, l.n, sizeof(*l.all), cmp_u64);
	g.uris = xcalloc(st_mult(l.n, 2), sizeof(*g.uris));
	for (size_t i = 0; i < l.n; i++) {
		if (l.all[i] >= keep_from || (i && l.all[i] == l.all[i - 1]))
			continue;
		g.uris[n++] = file_uri(base, "state", l.all[i]);
		g.uris[n++] = file_uri(base, "wal", l.all[i]);
	}
	threads = n < GC_PARALLEL ? n : GC_PARALLEL;
	if (threads) {
		struct pool_spec ps = { threads, n, gc_one, &g, NULL, 0, NULL };
		g.stores = xcalloc(threads, sizeof(*g.stores));
		for (size_t t = 0; t < threads; t++)
			g.stores[t] = store_create();
		pool_run(&ps, &err);
		for (size_t t = 0; t < threads; t++)
			store_destroy(g.stores[t]);
		free(g.stores);
	}
	for (size_t i = 0; i < n; i++)
		free(g.uris[i]);
	free(g.uris);
	free(l.all);
}
