/*
 * pq_delta.c - DELTA_BINARY_PACKED decoding (the base of the other DELTA_*
 * encodings, which pq_page.c builds on it).
 *
 * Layout (facts §6.3): header = ULEB block size (multiple of 128), ULEB
 * miniblocks per block (block/miniblocks a multiple of 32), ULEB total
 * value count, zigzag first value; then blocks of zigzag min_delta, one
 * width byte per miniblock, and the miniblocks' packed deltas. Arithmetic
 * wraps (done in uint64; 32-bit columns keep the low half, which is the
 * same). Miniblocks after the last value carry no data. The decoder
 * reports where the stream ends (after the last miniblock with values),
 * which DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY need.
 *
 * Only readers need this: our writer emits PLAIN and RLE_DICTIONARY, as
 * the writer recipe recommends.
 */
#include <stdlib.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"

#include "core/banned.h"

/* A sane cap: writers use 128..2048-value blocks. */
#define DELTA_MAX_BLOCK (1u << 16)

static bool uv(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (*p >= end)
			return false;
		uint8_t c = *(*p)++;
		if (shift == 63 && (c & 0x7e))
			return false;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

static uint64_t unzig(uint64_t u)
{
	return (u >> 1) ^ (~(u & 1) + 1);
}

struct dhdr {
	uint64_t block, mbs, total, first;
};

static bool header(const uint8_t **p, const uint8_t *end, struct dhdr *h,
		   const char **why)
{
	uint64_t z;
	if (!uv(p, end, &h->block) || !uv(p, end, &h->mbs) ||
	    !uv(p, end, &h->total) || !uv(p, end, &z)) {
		*why = "truncated DELTA_BINARY_PACKED header";
		return false;
	}
	h->first = unzig(z);
	if (h->block == 0 || h->block % 128 || h->block > DELTA_MAX_BLOCK ||
	    h->mbs == 0 || h->block % h->mbs || (h->block / h->mbs) % 32) {
		*why = "bad DELTA_BINARY_PACKED block layout";
		return false;
	}
	return true;
}

bool pq_delta_count(const uint8_t *p, size_t len, size_t *count)
{
	struct dhdr h;
	const char *why;
	if (!header(&p, p + len, &h, &why) || h.total > SIZE_MAX / 16)
		return false;
	*count = (size_t)h.total;
	return true;
}

bool pq_delta_decode(const uint8_t *p, size_t len, size_t n, int bits,
		     uint64_t *out, size_t *used, const char **why)
{
	const uint8_t *start = p, *end = p + len;
	struct dhdr h;
	uint64_t *tmp = NULL;
	uint8_t *pad = NULL;
	uint32_t *tmp32 = NULL;
	bool ok = false;

	if (!header(&p, end, &h, why))
		return false;
	if (h.total != n) {
		*why = "DELTA_BINARY_PACKED value count differs from the page's";
		return false;
	}
	if (n == 0) {
		*used = (size_t)(p - start);
		return true;
	}
	size_t vpm = (size_t)(h.block / h.mbs);
	size_t mbs = (size_t)h.mbs;
	tmp = xmalloc(vpm * sizeof(*tmp));
	tmp32 = xmalloc(vpm * sizeof(*tmp32));
	pad = xmalloc(vpm * 8 + 8);
	uint64_t prev = h.first;
	out[0] = prev;
	size_t got = 1;
	uint8_t widths[DELTA_MAX_BLOCK / 32];
	while (got < n) {
		uint64_t z;
		if (!uv(&p, end, &z)) {
			*why = "truncated DELTA_BINARY_PACKED block";
			goto out;
		}
		uint64_t min_delta = unzig(z);
		if ((size_t)(end - p) < mbs) {
			*why = "truncated DELTA_BINARY_PACKED widths";
			goto out;
		}
		memcpy(widths, p, mbs);
		p += mbs;
		for (size_t m = 0; m < mbs && got < n; m++) {
			int w = widths[m];
			if (w > bits) {
				*why = "DELTA_BINARY_PACKED width too large";
				goto out;
			}
			size_t full = vpm * (size_t)w / 8;
			size_t want = n - got < vpm ? n - got : vpm;
			size_t need = (want * (size_t)w + 7) / 8;
			size_t have = (size_t)(end - p);
			if (have < need) {
				*why = "truncated DELTA_BINARY_PACKED miniblock";
				goto out;
			}
			size_t take = have < full ? have : full;
			memset(pad, 0, vpm * 8 + 8);
			memcpy(pad, p, take);
			p += take;
			if (w <= 32) {
				pq_unpack32(pad, w, tmp32, vpm);
				for (size_t j = 0; j < want; j++)
					tmp[j] = tmp32[j];
			} else {
				pq_unpack64(pad, w, tmp, want);
			}
			for (size_t j = 0; j < want; j++) {
				prev = prev + min_delta + tmp[j];
				out[got++] = prev;
			}
		}
	}
	*used = (size_t)(p - start);
	ok = true;
out:
	free(tmp);
	free(tmp32);
	free(pad);
	return ok;
}
