/*
 * strmap.c - the string-to-index map of strmap.h. Load factor at most 1/2;
 * the table doubles and rehashes from the stored hashes.
 */
#include "core/strmap.h"
#include "core/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

uint64_t strmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void strmap_init(struct strmap *m) { memset(m, 0, sizeof(*m)); }

void strmap_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->keys[i]);
	m->n = 0;
	if (m->slots)
		memset(m->slots, 0, m->nslots * sizeof(*m->slots));
}

void strmap_release(struct strmap *m)
{
	strmap_clear(m);
	free(m->slots);
	free(m->keys);
	free(m->lens);
	free(m->hashes);
	memset(m, 0, sizeof(*m));
}

static void rehash(struct strmap *m, size_t nslots)
{
	free(m->slots);
	m->slots = xcalloc(nslots, sizeof(*m->slots));
	m->nslots = nslots;
	for (size_t i = 0; i < m->n; i++) {
		size_t s = m->hashes[i] & (nslots - 1);
		while (m->slots[s])
			s = (s + 1) & (nslots - 1);
		m->slots[s] = (uint32_t)(i + 1);
	}
}

long strmap_find(const struct strmap *m, const void *key, size_t len)
{
	uint64_t h;
	size_t s;

	if (!m->nslots)
		return -1;
	h = strmap_hash(key, len);
	for (s = h & (m->nslots - 1); m->slots[s]; s = (s + 1) & (m->nslots - 1)) {
		size_t i = m->slots[s] - 1;
		if (m->hashes[i] == h && m->lens[i] == len && !memcmp(m->keys[i], key, len))
			return (long)i;
	}
	return -1;
}

size_t strmap_intern(struct strmap *m, const void *key, size_t len)
{
	long found = strmap_find(m, key, len);
	size_t i;

	if (found >= 0)
		return (size_t)found;
	if ((m->n + 1) * 2 > m->nslots)
		rehash(m, m->nslots ? m->nslots * 2 : 64);
	i = m->n;
	if (m->n + 1 > m->alloc) {
		size_t a = m->alloc ? m->alloc * 2 : 64;
		m->keys = xrealloc(m->keys, st_mult(a, sizeof(*m->keys)));
		m->lens = xrealloc(m->lens, st_mult(a, sizeof(*m->lens)));
		m->hashes = xrealloc(m->hashes, st_mult(a, sizeof(*m->hashes)));
		m->alloc = a;
	}
	m->keys[i] = xmalloc(len + 1);
	memcpy(m->keys[i], key, len);
	m->keys[i][len] = '\0';
	m->lens[i] = (uint32_t)len;
	m->hashes[i] = strmap_hash(key, len);
	m->n++;
	{
		size_t s = m->hashes[i] & (m->nslots - 1);
		while (m->slots[s])
			s = (s + 1) & (m->nslots - 1);
		m->slots[s] = (uint32_t)(i + 1);
	}
	return i;
}

const char *strmap_key(const struct strmap *m, size_t i, size_t *len)
{
	if (len)
		*len = m->lens[i];
	return m->keys[i];
}
