/*
 * hive.h - Hive-style partition paths, written by the streaming jobs and
 * read by the batch jobs, as Spark writes them:
 * `device_id=device_id_3/window_start=2025-01-01 10_00/`. Values are
 * escaped the way Spark's ExternalCatalogUtils.escapePathName does
 * (%XX for '/', '=', '%', ':', '#', '?', '*', '"', '\'', '\\', '[', ']',
 * '^', '{', DEL and control characters, and NUL, which Spark leaves alone
 * but no file system or object store takes), so any key escapes to one
 * path component that Spark, DuckDB and our percentile job read back.
 * A component must also fit the file-name limit: hive_key_ok() says
 * whether a key does, and the decoder rejects the keys that do not.
 */
#ifndef IOT_CORE_HIVE_H
#define IOT_CORE_HIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Appends the escaped form of value[0..len) to out. */
void hive_escape(struct buf *out, const char *value, size_t len);

/* The longest path component (file or directory name) we write: NAME_MAX
 * on Linux file systems; S3 has no such limit, but a dataset must move
 * between the two. */
#define HIVE_MAX_COMPONENT 255

/*
 * True when key[0..len) makes a `device_id=<escaped key>` directory that
 * every reader takes back to exactly this key: not empty, at most
 * HIVE_MAX_COMPONENT bytes once escaped, and not Hive's null marker
 * (which readers take as a null). The escaping leaves no '/' and no NUL,
 * and the `device_id=` prefix keeps the component from being `.`, `..`
 * or hidden (hive_hidden). A pure function of the key; any thread.
 */
bool hive_key_ok(const char *key, size_t len);
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
/* Appends the layout as hive_layout_parse reads it ("none" for none). */
void hive_layout_text(struct buf *out, const struct hive_layout *l);

/* Appends "col=value/" for each layout column. */
void hive_path(struct buf *out, const struct hive_layout *l, const char *key,
	       size_t key_len, int64_t time_us);

/* ---- reading paths (the percentile job, validate) ------------------
 * Values in a path are escaped by the writer (as above); we undo every
 * %XX with two hex digits and keep anything else as it is.
 * `__HIVE_DEFAULT_PARTITION__` is how Hive and Spark write a null value;
 * hive_value() reports it as a null. */

/*
 * Decodes %XX sequences of s[0..len) into a new NUL-terminated string
 * (caller frees); *out_len (when not NULL) is its length, which counts
 * a decoded %00. The exact inverse of hive_escape: for every byte string
 * v, hive_unescape(hive_escape(v)) == v.
 */
char *hive_unescape(const char *s, size_t len, size_t *out_len);

/*
 * Finds the directory component `<name>=<value>` in rel (a path relative to
 * the dataset root, '/'-separated; the last component is the file name and
 * is not searched). The deepest match wins. Returns false when absent;
 * otherwise *value is the unescaped value (caller frees), or NULL when the
 * path holds Hive's null marker.
 */
bool hive_value(const char *rel, const char *name, char **value);
/* The same, with the value's length in *len (0 for a null): a value may
 * hold a NUL byte (%00), which a C string would cut short. */
bool hive_value_n(const char *rel, const char *name, char **value, size_t *len);

/*
 * True when a reader should skip rel: some component starts with '.' or
 * '_' (Spark's and Hive's rule: _SUCCESS, _temporary/, .crc files, our own
 * temporary files), or an empty component.
 */
bool hive_hidden(const char *rel);

#endif
