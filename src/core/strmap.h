/*
 * strmap.h - a map from byte strings to dense indexes 0..n-1, in insertion
 * order (open addressing, FNV-1a). The streaming jobs use it to find a
 * device's buffers from a Kafka key without allocating per event: keys are
 * copied into the map's arena once, on first sight.
 *
 *	struct strmap m; strmap_init(&m);
 *	size_t i = strmap_intern(&m, key, len);   // new or existing index
 *	strmap_key(&m, i, &len);                  // the key of index i
 *	strmap_release(&m);
 */
#ifndef IOT_STRMAP_H
#define IOT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap {
	uint32_t *slots;     /* index+1, 0 = empty */
	size_t nslots;
	char **keys;         /* per index */
	uint32_t *lens;
	uint64_t *hashes;
	size_t n, alloc;
};

void strmap_init(struct strmap *m);
void strmap_release(struct strmap *m);
void strmap_clear(struct strmap *m);
/* Index of key, inserting it when absent. */
size_t strmap_intern(struct strmap *m, const void *key, size_t len);
/* Index of key, or -1. */
long strmap_find(const struct strmap *m, const void *key, size_t len);
const char *strmap_key(const struct strmap *m, size_t i, size_t *len);
uint64_t strmap_hash(const void *key, size_t len);

#endif
