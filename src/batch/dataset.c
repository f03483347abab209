/*
 * dataset.c - listing the raw dataset and grouping its files by device
 * (or by date, for a dataset laid out by date=).
 *
 * store_list() calls us back once per object; each Parquet file becomes a
 * (device, file) pair in a flat array, which is then sorted by device id
 * and URI and cut into per-device runs. The root's own key is stripped
 * before the path is parsed (hidden-name rules apply below the root only);
 * a root that is itself one device directory (.../device_id=x/) works too:
 * its last component is tried when the path below has no device_id=.
 * Runs on the main thread before the workers start.
 */
#include "batch/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "core/hive.h"
#include "core/log.h"
#include "core/xalloc.h"

#include "core/banned.h"

struct pair {
	char *id; /* NULL: Hive null */
	char *uri;
	uint64_t size;
};

/* What identifies a unit of work: a device_id= directory, or (when no
 * device_id= is in the path) a date= directory, whose files hold the
 * device in their device_id column (`archive --partition-by date`). */
enum unit_kind { UNIT_DEVICE = 1, UNIT_DATE = 2 };

struct scan_ctx {
	const char *root_key; /* the root's key/path, with a trailing '/' */
	size_t root_len;
	const char *root_dir; /* the last component of the root, "" if none */
	struct pair *pairs;
	size_t n, alloc;
	size_t skipped;
	unsigned kinds;       /* enum unit_kind bits seen */
	char *first_uri[3];   /* the first file of each kind, for an error */
	struct iot_error *err;
	enum iot_err rc;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* hive_value() of rel, or of the root's own last component joined to it
 * (the root itself may be a device or date directory). */
static bool path_value(const struct scan_ctx *c, const char *rel, const char *name, char **value,
		       size_t *len)
{
	char *with_root;
	bool found = hive_value_n(rel, name, value, len);

	if (found || !c->root_dir[0])
		return found;
	with_root = xasprintf("%s/%s", c->root_dir, rel);
	found = hive_value_n(with_root, name, value, len);
	free(with_root);
	return found;
}

static int on_entry(void *opaque, const struct store_entry *e)
{
	struct scan_ctx *c = opaque;
	const char *rel = e->key;
	char *id = NULL;
	size_t len = 0;
	bool found;
	enum unit_kind kind;

	if (!strncmp(rel, c->root_key, c->root_len))
		rel += c->root_len;
	while (*rel == '/')
		rel++;
	if (hive_hidden(rel) || !ends_with(rel, ".parquet")) {
		c->skipped++;
		return 0;
	}
	kind = UNIT_DEVICE;
	found = path_value(c, rel, "device_id", &id, &len);
	if (!found) {
		kind = UNIT_DATE;
		found = path_value(c, rel, "date", &id, &len);
	}
	/* an empty value is not Hive's null (__HIVE_DEFAULT_PARTITION__):
	 * taken as "", it would give a second row for one device; a NUL
	 * byte would cut the value short, merging two devices */
	if (found && id && (!*id || strlen(id) != len)) {
		c->rc = iot_error_set(c->err, IOT_ERR_FORMAT,
				      "%s: %s %s= value (Hive writes a null one as "
				      "__HIVE_DEFAULT_PARTITION__; Spark refuses an empty one)",
				      e->uri, *id ? "a NUL byte (%00) in its" : "an empty",
				      kind == UNIT_DEVICE ? "device_id" : "date");
		free(id);
		return 1;
	}
	if (!found) {
		c->rc = iot_error_set(c->err, IOT_ERR_FORMAT,
				      "%s: not under a device_id=<id> or date=<yyyy-MM-dd> directory "
				      "(expected <root>/device_id=<id>/<file>.parquet, or "
				      "<root>/date=<yyyy-MM-dd>/<file>.parquet with a device_id column)",
				      e->uri);
		return 1;
	}
	if (!id && kind == UNIT_DATE) {
		c->rc = iot_error_set(c->err, IOT_ERR_FORMAT, "%s: a null date= directory",
				      e->uri);
		return 1;
	}
	c->kinds |= kind;
	if (!c->first_uri[kind])
		c->first_uri[kind] = xstrdup(e->uri);
	if (c->kinds == (UNIT_DEVICE | UNIT_DATE)) {
		c->rc = iot_error_set(c->err, IOT_ERR_FORMAT,
				      "two layouts in one dataset: %s is under device_id=, %s under "
				      "date= without device_id=; give percentile one of them",
				      c->first_uri[UNIT_DEVICE], c->first_uri[UNIT_DATE]);
		free(id);
		return 1;
	}
	ALLOC_GROW(c->pairs, c->n + 1, c->alloc);
	c->pairs[c->n].id = id;
	c->pairs[c->n].uri = xstrdup(e->uri);
	c->pairs[c->n].size = e->st.size;
	c->n++;
	return 0;
}

static int cmp_id(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int cmp_pair(const void *pa, const void *pb)
{
	const struct pair *a = pa, *b = pb;
	int c = cmp_id(a->id, b->id);
	return c ? c : strcmp(a->uri, b->uri);
}

enum iot_err dataset_scan(struct store *st, const char *root,
			  struct dataset *ds, struct iot_error *err)
{
	struct scan_ctx c;
	struct store_uri u;
	char *key, *last;
	enum iot_err rc;

	memset(ds, 0, sizeof(*ds));
	memset(&c, 0, sizeof(c));
	if ((rc = store_uri_parse(root, &u, err)) != IOT_OK)
		return rc;
	/* a prefix always ends with '/': s3://b/raw must not match raw2/ */
	key = ends_with(u.key, "/") || !u.key[0] ? xstrdup(u.key)
						  : xasprintf("%s/", u.key);
	c.root_key = key;
	c.root_len = strlen(key);
	last = xstrndup(key, c.root_len ? c.root_len - 1 : 0);
	c.root_dir = strrchr(last, '/') ? strrchr(last, '/') + 1 : last;
	c.err = err;
	{
		/* list with the '/'-terminated form for S3; local lists a
		 * directory the same with or without it */
		char *list_uri;
		if (u.scheme == STORE_SCHEME_S3)
			list_uri = xasprintf("s3://%s/%s", u.bucket, key);
		else
			list_uri = xstrdup(u.key);
		rc = store_list(st, list_uri, on_entry, &c, err);
		free(list_uri);
	}
	if (rc == IOT_OK && c.rc != IOT_OK)
		rc = c.rc;
	if (rc == IOT_OK) {
		if (c.n)
			qsort(c.pairs, c.n, sizeof(*c.pairs), cmp_pair);
		for (size_t i = 0; i < c.n; i++) {
			struct dataset_device *d;
			struct dataset_file *f;
			if (!ds->ndevices ||
			    cmp_id(ds->devices[ds->ndevices - 1].id, c.pairs[i].id)) {
				ALLOC_GROW(ds->devices, ds->ndevices + 1, ds->alloc);
				d = &ds->devices[ds->ndevices++];
				memset(d, 0, sizeof(*d));
				d->id = c.pairs[i].id;
			} else {
				d = &ds->devices[ds->ndevices - 1];
				free(c.pairs[i].id);
			}
			c.pairs[i].id = NULL;
			ALLOC_GROW(d->files, d->nfiles + 1, d->alloc);
			f = &d->files[d->nfiles++];
			f->uri = c.pairs[i].uri;
			f->size = c.pairs[i].size;
			c.pairs[i].uri = NULL;
			d->bytes += f->size;
			ds->bytes += f->size;
			ds->nfiles++;
			if (d->nfiles == 1)
				d->first = ds->nfiles - 1;
		}
		ds->by_date = c.kinds == UNIT_DATE;
		if (c.skipped)
			log_debug("percentile", "skipped %zu hidden or non-Parquet objects",
				  c.skipped);
	}
	for (size_t i = 0; i < c.n; i++) {
		free(c.pairs[i].id);
		free(c.pairs[i].uri);
	}
	free(c.pairs);
	free(c.first_uri[UNIT_DEVICE]);
	free(c.first_uri[UNIT_DATE]);
	free(last);
	free(key);
	store_uri_release(&u);
	if (rc != IOT_OK)
		dataset_release(ds);
	return rc;
}

uint64_t dataset_device_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)(id ? id : ""); *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void dataset_keep_shard(struct dataset *ds, uint64_t i, uint64_t n)
{
	size_t k = 0;

	if (ds->by_date)
		return; /* every date holds every device: the rows are filtered */
	ds->nfiles = 0;
	ds->bytes = 0;
	for (size_t d = 0; d < ds->ndevices; d++) {
		struct dataset_device *dev = &ds->devices[d];
		if (dataset_device_hash(dev->id) % n == i) {
			dev->first = ds->nfiles;
			ds->nfiles += dev->nfiles;
			ds->bytes += dev->bytes;
			ds->devices[k++] = *dev;
		} else {
			for (size_t f = 0; f < dev->nfiles; f++)
				free(dev->files[f].uri);
			free(dev->files);
			free(dev->id);
		}
	}
	ds->ndevices = k;
}

void dataset_split_dates(struct dataset *ds, const uint32_t *parts)
{
	size_t n = 0, k = 0;
	struct dataset_device *units;

	for (size_t d = 0; d < ds->ndevices; d++)
		n += parts[d] ? parts[d] : 1;
	if (!ds->by_date || n == ds->ndevices)
		return;
	units = xcalloc(n, sizeof(*units));
	ds->nfiles = 0;
	ds->bytes = 0;
	for (size_t d = 0; d < ds->ndevices; d++) {
		const struct dataset_device *dev = &ds->devices[d];
		uint32_t m = parts[d] ? parts[d] : 1;
		for (uint32_t i = 0; i < m; i++) {
			struct dataset_device *u = &units[k++];
			*u = *dev;
			u->part_i = i;
			u->part_n = m;
			u->first = ds->nfiles;
			u->alloc = u->nfiles;
			if (i > 0) { /* the first unit takes the date's own arrays */
				u->id = dev->id ? xstrdup(dev->id) : NULL;
				u->files = xcalloc(u->nfiles ? u->nfiles : 1, sizeof(*u->files));
				for (size_t f = 0; f < u->nfiles; f++)
					u->files[f] = (struct dataset_file){
						xstrdup(dev->files[f].uri), dev->files[f].size };
			}
			ds->nfiles += u->nfiles;
			ds->bytes += u->bytes;
		}
	}
	free(ds->devices);
	ds->devices = units;
	ds->ndevices = n;
	ds->alloc = n;
}

void dataset_files(const struct dataset *ds, const char ***uris, uint64_t **sizes)
{
	size_t n = ds->nfiles ? ds->nfiles : 1;

	*uris = xcalloc(n, sizeof(**uris));
	*sizes = xcalloc(n, sizeof(**sizes));
	for (size_t d = 0; d < ds->ndevices; d++)
		for (size_t f = 0; f < ds->devices[d].nfiles; f++) {
			(*uris)[ds->devices[d].first + f] = ds->devices[d].files[f].uri;
			(*sizes)[ds->devices[d].first + f] = ds->devices[d].files[f].size;
		}
}

void dataset_release(struct dataset *ds)
{
	for (size_t d = 0; d < ds->ndevices; d++) {
		for (size_t f = 0; f < ds->devices[d].nfiles; f++)
			free(ds->devices[d].files[f].uri);
		free(ds->devices[d].files);
		free(ds->devices[d].id);
	}
	free(ds->devices);
	memset(ds, 0, sizeof(*ds));
}
