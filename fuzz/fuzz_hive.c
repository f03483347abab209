/*
 * fuzz_hive.c - libFuzzer target for the key -> Hive path -> key round
 * trip (core/hive.h).
 *
 * Each input is one Kafka key, any bytes. The property (it aborts on
 * violation, a finding): either hive_key_ok() rejects the key, or the
 * `device_id=<escaped key>/` path the jobs write for it is valid and
 * reads back as the same key:
 *  - every component is 1..HIVE_MAX_COMPONENT bytes, with no '/' or NUL
 *    inside, and none is `.` or `..`;
 *  - hive_hidden() does not hide it (the batch jobs would skip it);
 *  - hive_value() finds the device_id component, not as a null, and
 *    hive_unescape() gives back the key byte for byte, its length
 *    included (a NUL in the key must not shorten it).
 * And hive_unescape(hive_escape(k)) == k for every key, accepted or not.
 * Run with `make fuzz-hive` (mk/fuzz.mk); the committed corpus is
 * replayed by ctest fuzz_replay.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hive.h"

#include "core/banned.h"

#define PREFIX "device_id="

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_hive: %s\n", what);
		abort();
	}
}

static void check_components(const char *p, size_t len)
{
	size_t start = 0;

	check(len > 0 && p[len - 1] == '/', "the path ends with a directory separator");
	check(memchr(p, '\0', len) == NULL, "the path holds no NUL");
	for (size_t i = 0; i < len; i++) {
		size_t n;
		if (p[i] != '/')
			continue;
		n = i - start;
		check(n > 0 && n <= HIVE_MAX_COMPONENT, "a component is 1..255 bytes");
		check(!(n == 1 && p[start] == '.') && !(n == 2 && !memcmp(p + start, "..", 2)),
		      "no component is . or ..");
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *key = (const char *)data;
	struct hive_layout l = { { HIVE_DEVICE_ID }, 1 };
	struct buf path = BUF_INIT, rel = BUF_INIT;
	size_t n = 0;
	char *back, *value = NULL;

	/* escaping is invertible for any bytes */
	hive_escape(&path, key, size);
	back = hive_unescape((const char *)path.data, path.len, &n);
	check(n == size && (size == 0 || !memcmp(back, key, size)),
	      "hive_unescape(hive_escape(k)) == k");
	free(back);
	buf_release(&path);

	if (!hive_key_ok(key, size))
		return 0;
	hive_path(&path, &l, key, size, 0);
	check_components((const char *)path.data, path.len);
	check(path.len > strlen(PREFIX) && !memcmp(path.data, PREFIX, strlen(PREFIX)),
	      "the path is device_id=<value>/");
	back = hive_unescape((const char *)path.data + strlen(PREFIX),
			     path.len - strlen(PREFIX) - 1, &n);
	check(n == size && !memcmp(back, key, size), "the path's value reads back as the key");
	free(back);

	/* as the batch jobs read it: a file under the directory */
	buf_append(&rel, path.data, path.len);
	buf_append(&rel, "part-0.parquet", strlen("part-0.parquet") + 1);
	check(!hive_hidden((const char *)rel.data), "the path is not hidden");
	check(hive_value((const char *)rel.data, "device_id", &value), "hive_value finds the key");
	check(value != NULL, "the key does not read back as a null");
	/* hive_value's result is a C string: a key with NUL reads back shorter,
	 * which is why the decoder rejects control characters first (bad_key) */
	if (!memchr(key, '\0', size))
		check(strlen(value) == size && !memcmp(value, key, size),
		      "hive_value gives back the key");
	free(value);
	buf_release(&path);
	buf_release(&rel);
	return 0;
}
