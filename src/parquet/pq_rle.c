/*
 * pq_rle.c - the RLE / bit-packing hybrid and LSB-first bit packing.
 *
 * Parquet stores definition levels, dictionary indices and RLE booleans as
 * a sequence of runs: a ULEB128 header whose low bit says "bit-packed"
 * (count = (header >> 1) * 8 values, packed LSB first at the given width)
 * or "RLE" (count = header >> 1 copies of one value stored in
 * ceil(width/8) little-endian bytes). See facts §6.2.
 *
 * Decoding is the hostile-input path: it produces exactly the n values the
 * caller expects or fails; it never reads past len (a final bit-packed run
 * may be cut short by writers, as long as it still covers the values we
 * need), ignores padding and extra runs, and handles width 0. Every header
 * consumes at least one byte, so a stream of zero-length runs ends.
 *
 * Encoding is greedy: runs of 8 or more equal values become RLE runs,
 * everything else goes into bit-packed groups of 8 (the last group padded
 * with zeros, which readers ignore because they know the count).
 */
#include "parquet/pq_int.h"

#include "core/banned.h"

static bool read_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return false;
		uint8_t c = *p++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*pp = p;
			*v = x;
			return true;
		}
	}
	return false;
}

/* Unpacks 8 values of width bw (<= 32) from exactly bw bytes. */
static inline void unpack8(const uint8_t *in, int bw, uint32_t *out)
{
	uint8_t tmp[48] = { 0 };
	memcpy(tmp, in, (size_t)bw);
	uint64_t mask = bw == 32 ? 0xffffffffu : ((1u << bw) - 1);
	for (int j = 0; j < 8; j++) {
		unsigned bit = (unsigned)(j * bw);
		uint64_t w;
		memcpy(&w, tmp + bit / 8, 8);
		out[j] = (uint32_t)((w >> (bit % 8)) & mask);
	}
}

void pq_unpack32(const uint8_t *in, int bw, uint32_t *out, size_t n)
{
	if (bw == 0) {
		memset(out, 0, n * sizeof(*out));
		return;
	}
	if (bw == 1) {
		for (size_t g = 0; g < n / 8; g++) {
			uint8_t c = in[g];
			for (int j = 0; j < 8; j++)
				out[g * 8 + j] = (c >> j) & 1;
		}
		return;
	}
	for (size_t g = 0; g < n / 8; g++)
		unpack8(in + g * (size_t)bw, bw, out + g * 8);
}

void pq_unpack64(const uint8_t *in, int bw, uint64_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0;
		size_t bit = i * (size_t)bw;
		for (int b = 0; b < bw; b++, bit++)
			v |= (uint64_t)((in[bit / 8] >> (bit % 8)) & 1) << b;
		out[i] = v;
	}
}

#define RLE_DECODE(NAME, T)                                                  \
	bool NAME(const uint8_t *p, size_t len, int bw, T *out, size_t n)    \
	{                                                                    \
		const uint8_t *end = p + len;                                \
		size_t got = 0;                                              \
		size_t vbytes = ((size_t)bw + 7) / 8;                        \
		uint32_t tmp[8];                                             \
		if (bw < 0 || bw > 32)                                       \
			return false;                                        \
		while (got < n) {                                            \
			uint64_t h;                                          \
			if (!read_uvarint(&p, end, &h))                      \
				return false;                                \
			if (h & 1) {                                         \
				uint64_t groups = h >> 1;                    \
				size_t avail = (size_t)(end - p);            \
				size_t full = bw ? avail / (size_t)bw : SIZE_MAX; \
				if (groups > full)                           \
					groups = full; /* cut-short last run */ \
				if (groups == 0 && (h >> 1) != 0)            \
					return false;                        \
				for (uint64_t g = 0; g < groups && got < n; g++) { \
					unpack8(p, bw, tmp);                 \
					size_t k = n - got < 8 ? n - got : 8; \
					for (size_t j = 0; j < k; j++)       \
						out[got + j] = (T)tmp[j];    \
					got += k;                            \
					p += bw;                             \
				}                                            \
				if ((h >> 1) > groups && got < n)            \
					return false;                        \
				if (got >= n)                                \
					break;                               \
			} else {                                             \
				uint64_t count = h >> 1;                     \
				uint32_t v = 0;                              \
				if ((size_t)(end - p) < vbytes)              \
					return false;                        \
				for (size_t b = 0; b < vbytes; b++)          \
					v |= (uint32_t)p[b] << (8 * b);      \
				p += vbytes;                                 \
				if (bw < 32 && (v >> bw))                    \
					return false;                        \
				if (count > n - got)                         \
					count = n - got;                     \
				for (uint64_t j = 0; j < count; j++)         \
					out[got + j] = (T)v;                 \
				got += count;                                \
			}                                                    \
		}                                                            \
		return true;                                                 \
	}

RLE_DECODE(pq_rle_decode_u32, uint32_t)
RLE_DECODE(pq_rle_decode_u8, uint8_t)

static void put_uvarint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_putc(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	buf_putc(b, (uint8_t)v);
}

static void pack_groups(struct buf *b, const uint32_t *vals, size_t n, int bw)
{
	/* n values (padded with zeros to a multiple of 8) at width bw */
	uint64_t acc = 0;
	int nbits = 0;
	size_t padded = (n + 7) / 8 * 8;
	buf_grow(b, padded / 8 * (size_t)bw + 8);
	for (size_t i = 0; i < padded; i++) {
		uint64_t v = i < n ? vals[i] : 0;
		acc |= v << nbits;
		nbits += bw;
		while (nbits >= 8) {
			b->data[b->len++] = (uint8_t)acc;
			acc >>= 8;
			nbits -= 8;
		}
	}
	if (b->cap > b->len)
		b->data[b->len] = 0;
}

#define RLE_ENCODE(NAME, T)                                                  \
	void NAME(struct buf *b, const T *vals, size_t n, int bw)            \
	{                                                                    \
		size_t vbytes = ((size_t)bw + 7) / 8;                        \
		uint32_t lit[512];                                           \
		size_t i = 0;                                                \
		while (i < n) {                                              \
			size_t r = 1;                                        \
			while (i + r < n && vals[i + r] == vals[i])          \
				r++;                                         \
			if (r >= 8) {                                        \
				put_uvarint(b, (uint64_t)r << 1);            \
				uint32_t v = vals[i];                        \
				for (size_t k = 0; k < vbytes; k++)          \
					buf_putc(b, (uint8_t)(v >> (8 * k)));\
				i += r;                                      \
				continue;                                    \
			}                                                    \
			/* literal groups of 8 until a long run starts */    \
			size_t m = 0;                                        \
			while (i < n && m + 8 <= 512) {                      \
				size_t k = n - i < 8 ? n - i : 8;            \
				for (size_t j = 0; j < k; j++)               \
					lit[m + j] = vals[i + j];            \
				m += 8;                                      \
				i += k;                                      \
				if (k < 8) {                                 \
					for (size_t j = k; j < 8; j++)       \
						lit[m - 8 + j] = 0;          \
					break;                               \
				}                                            \
				size_t rr = 1;                               \
				while (i + rr < n && rr < 8 &&               \
				       vals[i + rr] == vals[i])              \
					rr++;                                \
				if (rr >= 8)                                 \
					break;                               \
			}                                                    \
			put_uvarint(b, ((uint64_t)(m / 8) << 1) | 1);        \
			pack_groups(b, lit, m, bw);                          \
		}                                                            \
	}

RLE_ENCODE(pq_rle_encode_u32, uint32_t)
RLE_ENCODE(pq_rle_encode_u8, uint8_t)
