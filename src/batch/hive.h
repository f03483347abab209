/*
 * hive.h - Hive-style partition paths, as Spark, Hive and DuckDB write
 * them: `<root>/device_id=<value>/.../<file>.parquet`.
 *
 * Values in a path are escaped by the writer (Hive's FileUtils escapes
 * characters such as '/', '=', '%', ':' and control bytes as %XX); we
 * undo every %XX with two hex digits and keep anything else as it is.
 * `__HIVE_DEFAULT_PARTITION__` is how Hive and Spark write a null value;
 * hive_value() reports it as a null. Pure functions, any thread.
 */
#ifndef IOT_BATCH_HIVE_H
#define IOT_BATCH_HIVE_H

#include <stdbool.h>
#include <stddef.h>

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
