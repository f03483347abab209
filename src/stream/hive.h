/*
 * hive.h - Hive-style partition paths, as Spark writes them:
 * `device_id=device_id_3/window_start=2025-01-01 10_00/`. Values are
 * escaped the way Spark's ExternalCatalogUtils.escapePathName does
 * (%XX for '/', '=', '%', ':', '#', '?', '*', '"', '\'', '\\', '[', ']',
 * '^', '{', DEL and control characters), so any key makes a valid path
 * that Spark, DuckDB and our percentile job read back.
 */
#ifndef IOT_STREAM_HIVE_H
#define IOT_STREAM_HIVE_H

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

#endif
