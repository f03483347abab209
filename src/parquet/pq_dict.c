/*
 * pq_dict.c - the writer's dictionary of a BYTE_ARRAY column chunk: an
 * open-addressing hash table over the distinct values, kept directly in
 * the PLAIN encoding the dictionary page needs (a u32 length, then the
 * bytes, per entry), so writing the page is one compression of d->data.
 *
 * Entry e's bytes are d->data.data[off[e] .. off[e] + len[e]); a slot holds
 * e + 1 (0 is empty), and tags[e] keeps the high 32 bits of e's hash, so
 * most probes that miss cost no byte compare. The table doubles when half
 * full (1024 slots at first), so probe chains stay short; entries are
 * never removed, only all at once by pq_dict_reset() at the end of a chunk.
 * Entry indices are therefore stable, and are what the data pages store.
 *
 * The writer decides when a dictionary is too big (pq_writer.c); this
 * file only stores and finds. One thread per dictionary, like its writer.
 */
#include <stdlib.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"

#include "core/banned.h"

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	/* the tail byte by byte: a variable-length memcpy is a libc call,
	 * and short strings (status values) are the hot case */
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h;
}

void pq_dict_reset(struct pq_dict *d)
{
	if (d->slots)
		memset(d->slots, 0, (d->mask + 1) * sizeof(*d->slots));
	buf_reset(&d->data);
	d->n = 0;
}

void pq_dict_release(struct pq_dict *d)
{
	free(d->slots);
	free(d->off);
	free(d->len);
	free(d->tags);
	buf_release(&d->data);
}

static void dict_rehash(struct pq_dict *d)
{
	size_t nslots = d->slots ? (d->mask + 1) * 2 : 1024;
	free(d->slots);
	d->slots = xcalloc(nslots, sizeof(*d->slots));
	d->mask = nslots - 1;
	for (size_t e = 0; e < d->n; e++) {
		size_t i = hash_bytes(d->data.data + d->off[e], d->len[e]) & d->mask;
		while (d->slots[i])
			i = (i + 1) & d->mask;
		d->slots[i] = (uint32_t)e + 1;
	}
}

static inline bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n > 16)
		return !memcmp(a, b, n);
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

uint32_t pq_dict_lookup(struct pq_dict *d, const uint8_t *p, size_t n,
			bool *added)
{
	if (!d->slots || d->n * 2 >= d->mask + 1)
		dict_rehash(d);
	uint64_t hv = hash_bytes(p, n);
	size_t i = hv & d->mask;
	uint32_t tag = (uint32_t)(hv >> 32);
	for (;;) {
		uint32_t e = d->slots[i];
		if (!e)
			break;
		e--;
		if (d->tags[e] == tag && d->len[e] == n &&
		    same_bytes(d->data.data + d->off[e], p, n)) {
			*added = false;
			return e;
		}
		i = (i + 1) & d->mask;
	}
	if (d->n >= d->alloc) {
		d->alloc = d->alloc * 2 + 256;
		d->off = xrealloc(d->off, d->alloc * sizeof(*d->off));
		d->len = xrealloc(d->len, d->alloc * sizeof(*d->len));
		d->tags = xrealloc(d->tags, d->alloc * sizeof(*d->tags));
	}
	d->tags[d->n] = tag;
	uint32_t l32 = (uint32_t)n;
	buf_append(&d->data, &l32, 4);
	d->off[d->n] = (uint32_t)d->data.len;
	d->len[d->n] = l32;
	buf_append(&d->data, p, n);
	d->slots[i] = (uint32_t)d->n + 1;
	*added = true;
	return (uint32_t)d->n++;
}
