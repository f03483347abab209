/*
 * hive.h - Hive-style partition paths, written by the streaming jobs and
 * read by the batch jobs, as Spark writes them:
 * `device_id=device_id_3/window_start=2025-01-01 10_00/`. Values are
 * escaped the way Spark's ExternalCatalogUtils.escapePathName does
 * (%XX for '/', '=', '%', ':', '#', '?', '*', '"', '\'', '\\', '[', ']',
 * '^', '{', DEL and control characters), so any key makes a valid path
 * that Spark, DuckDB and our percentile job read back.
 */
#ifndef IOT_CORE_HIVE_H
#define IOT_CORE_HIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Appends the escaped form of value[0..len) to out. */
void hive_escape(struct buf *out, const char *value, size_t len);
/* Appends "yyyy-MM-dd HH_mm" (UTC) of a microsecond time. */
void hive_window_start(struct buf *out, int64_t us);
/* Appends "yyyy-MM-dd" (UTC). */
void hive_date(struct buf *out, int64_t us);

/* The partition columns a job may put in its paths. */
enum hive_col { HIVE_DEVICE_ID, HIVE_WINDOW_START, HIVE_DATE, HIVE__COUNT };

#define HIVE_MAX_COLS 3

struct hive_layout {
	enum hive_col cols[HIVE_MAX_COLS];
	size_t n;
};

/*
 * Parses "device_id,window_start" (or "" for none). `allowed` is a bit
 * mask of enum hive_col. Returns 0, or -1 with a message in why.
 */
int hive_layout_parse(const char *spec, unsigned allowed, struct hive_layout *out,
		      char *why, size_t whylen);
int hive_layout_has(const struct hive_layout *l, enum hive_col c);

/* Appends "col=value/" for each layout column. */
void hive_path(struct buf *out, const struct hive_layout *l, const char *key,
	       size_t key_len, int64_t time_us);

/* ---- reading paths (the percentile job, validate) ------------------
 * Values in a path are escaped by the writer (as above); we undo every
 * %XX with two hex digits and keep anything else as it is.
 * `__HIVE_DEFAULT_PARTITION__` is how Hive and Spark write a null value;
 * hive_value() reports it as a null. */

/* Decodes %XX sequences of s[0..len) into a new string (caller frees). */
char *hive_unescape(const char *s, size_t len);

/*
 * Finds the directory component `<name>=<value>` in rel (a path relative to
 * the dataset root, '/'-separated; the last component is the file name and
 * is not searched). The deepest match wins. Returns false when absent;
 * otherwise *value is the unescaped value (caller frees), or NULL when the
 * path holds Hive's null marker.
 */
bool hive_value(const char *rel, const char *name, char **value);

/*
 * True when a reader should skip rel: some component starts with '.' or
 * '_' (Spark's and Hive's rule: _SUCCESS, _temporary/, .crc files, our own
 * temporary files), or an empty component.
 */
bool hive_hidden(const char *rel);

#endif
