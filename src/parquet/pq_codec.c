/*
 * pq_codec.c - page compression: SNAPPY (raw block format), GZIP (RFC 1952,
 * concatenated members accepted), ZSTD (frames), LZ4_RAW (bare LZ4 block)
 * and the deprecated LZ4 (Hadoop framing, or a bare block as parquet-cpp
 * 1.5 wrote it: we try Hadoop framing first, as Arrow does).
 *
 * Decompression always produces exactly the page's declared uncompressed
 * size into a caller buffer of that size; any other length is an error
 * (facts §7). A 0-byte input is never handed to a library: it decodes to 0
 * bytes or is an error. LZO and BROTLI are refused (not linked).
 * The compression libraries are Debian's; the Parquet framing around them
 * is ours.
 */
#include <limits.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "parquet/pq_int.h"

#include "core/banned.h"

bool pq_codec_supported(enum pq_codec c)
{
	switch (c) {
	case PQ_CODEC_UNCOMPRESSED:
	case PQ_CODEC_SNAPPY:
	case PQ_CODEC_GZIP:
	case PQ_CODEC_ZSTD:
	case PQ_CODEC_LZ4_RAW:
	case PQ_CODEC_LZ4:
		return true;
	default:
		return false;
	}
}

static bool gzip_compress(int level, const uint8_t *src, size_t n,
			  struct buf *dst)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED,
			 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	uLong bound = deflateBound(&zs, (uLong)n);
	buf_grow(dst, bound);
	zs.next_in = (Bytef *)src;
	zs.avail_in = (uInt)n;
	zs.next_out = dst->data + dst->len;
	zs.avail_out = (uInt)bound;
	int rc = deflate(&zs, Z_FINISH);
	if (rc == Z_STREAM_END)
		dst->len += bound - zs.avail_out;
	deflateEnd(&zs);
	return rc == Z_STREAM_END;
}

bool pq_compress(int codec, int level, const uint8_t *src, size_t n,
		 struct buf *dst)
{
	switch (codec) {
	case PQ_CODEC_UNCOMPRESSED:
		buf_append(dst, src, n);
		return true;
	case PQ_CODEC_SNAPPY: {
		size_t out = snappy_max_compressed_length(n);
		buf_grow(dst, out);
		if (snappy_compress((const char *)src, n,
				    (char *)dst->data + dst->len,
				    &out) != SNAPPY_OK)
			return false;
		dst->len += out;
		return true;
	}
	case PQ_CODEC_ZSTD: {
		size_t bound = ZSTD_compressBound(n);
		buf_grow(dst, bound);
		size_t r = ZSTD_compress(dst->data + dst->len, bound, src, n,
					 level ? level : 1);
		if (ZSTD_isError(r))
			return false;
		dst->len += r;
		return true;
	}
	case PQ_CODEC_GZIP:
		if (n > UINT_MAX / 2)
			return false;
		return gzip_compress(level, src, n, dst);
	case PQ_CODEC_LZ4_RAW: {
		if (n > (size_t)LZ4_MAX_INPUT_SIZE)
			return false;
		int bound = LZ4_compressBound((int)n);
		buf_grow(dst, (size_t)bound);
		int r = LZ4_compress_default((const char *)src,
					     (char *)dst->data + dst->len,
					     (int)n, bound);
		if (r <= 0)
			return false;
		dst->len += (size_t)r;
		return true;
	}
	default:
		return false;
	}
}

static bool gunzip(const uint8_t *src, size_t n, uint8_t *dst, size_t dst_len,
		   const char **why)
{
	z_stream zs;
	size_t out = 0;
	if (n > UINT_MAX || dst_len > UINT_MAX) {
		*why = "gzip page too large";
		return false;
	}
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK) {
		*why = "zlib init failed";
		return false;
	}
	zs.next_in = (Bytef *)src;
	zs.avail_in = (uInt)n;
	for (;;) {
		uint8_t dummy;
		zs.next_out = out < dst_len ? dst + out : &dummy;
		zs.avail_out = out < dst_len ? (uInt)(dst_len - out) : 1;
		size_t before = zs.avail_out;
		int rc = inflate(&zs, Z_NO_FLUSH);
		size_t made = before - zs.avail_out;
		if (out >= dst_len && made) {
			inflateEnd(&zs);
			*why = "gzip data longer than the page's uncompressed size";
			return false;
		}
		out += made;
		if (rc == Z_STREAM_END) {
			/* another member may follow (concatenated gzip) */
			while (zs.avail_in && *zs.next_in == 0) {
				zs.next_in++; /* tolerate zero padding */
				zs.avail_in--;
			}
			if (!zs.avail_in)
				break;
			if (inflateReset(&zs) != Z_OK)
				break;
			continue;
		}
		if (rc != Z_OK) {
			inflateEnd(&zs);
			*why = "corrupt gzip data";
			return false;
		}
		if (!zs.avail_in) {
			inflateEnd(&zs);
			*why = "truncated gzip data";
			return false;
		}
	}
	inflateEnd(&zs);
	if (out != dst_len) {
		*why = "gzip data shorter than the page's uncompressed size";
		return false;
	}
	return true;
}

/* Hadoop framing: repeated [u32 BE raw size][u32 BE compressed size][block]. */
static bool hadoop_lz4(const uint8_t *src, size_t n, uint8_t *dst,
		       size_t dst_len)
{
	size_t in = 0, out = 0;
	while (in < n) {
		if (n - in < 8)
			return false;
		uint32_t raw = (uint32_t)src[in] << 24 | (uint32_t)src[in + 1] << 16 |
			       (uint32_t)src[in + 2] << 8 | src[in + 3];
		uint32_t comp = (uint32_t)src[in + 4] << 24 |
				(uint32_t)src[in + 5] << 16 |
				(uint32_t)src[in + 6] << 8 | src[in + 7];
		in += 8;
		if (comp > n - in || raw > dst_len - out || comp > INT_MAX ||
		    raw > INT_MAX)
			return false;
		int r = LZ4_decompress_safe((const char *)src + in,
					    (char *)dst + out, (int)comp,
					    (int)raw);
		if (r < 0 || (uint32_t)r != raw)
			return false;
		in += comp;
		out += raw;
	}
	return out == dst_len;
}

static bool lz4_block(const uint8_t *src, size_t n, uint8_t *dst,
		      size_t dst_len)
{
	if (n > INT_MAX || dst_len > INT_MAX)
		return false;
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)n,
				    (int)dst_len);
	return r >= 0 && (size_t)r == dst_len;
}

bool pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst,
		   size_t dst_len, const char **why)
{
	if (n == 0) {
		if (dst_len == 0)
			return true;
		*why = "empty compressed page with a non-empty uncompressed size";
		return false;
	}
	switch (codec) {
	case PQ_CODEC_UNCOMPRESSED:
		if (n != dst_len) {
			*why = "uncompressed page size mismatch";
			return false;
		}
		memcpy(dst, src, n);
		return true;
	case PQ_CODEC_SNAPPY: {
		size_t len;
		if (snappy_uncompressed_length((const char *)src, n, &len) !=
			    SNAPPY_OK ||
		    len != dst_len) {
			*why = "snappy length differs from the page's "
			       "uncompressed size";
			return false;
		}
		if (snappy_uncompress((const char *)src, n, (char *)dst,
				      &len) != SNAPPY_OK ||
		    len != dst_len) {
			*why = "corrupt snappy data";
			return false;
		}
		return true;
	}
	case PQ_CODEC_ZSTD: {
		size_t r = ZSTD_decompress(dst, dst_len, src, n);
		if (ZSTD_isError(r)) {
			*why = "corrupt zstd data (or larger than the page's "
			       "uncompressed size)";
			return false;
		}
		if (r != dst_len) {
			*why = "zstd data shorter than the page's uncompressed size";
			return false;
		}
		return true;
	}
	case PQ_CODEC_GZIP:
		return gunzip(src, n, dst, dst_len, why);
	case PQ_CODEC_LZ4_RAW:
		if (!lz4_block(src, n, dst, dst_len)) {
			*why = "corrupt LZ4_RAW data";
			return false;
		}
		return true;
	case PQ_CODEC_LZ4:
		if (hadoop_lz4(src, n, dst, dst_len) ||
		    lz4_block(src, n, dst, dst_len))
			return true;
		*why = "corrupt LZ4 data (neither Hadoop-framed nor a raw block)";
		return false;
	case PQ_CODEC_LZO:
		*why = "LZO compression is not supported";
		return false;
	case PQ_CODEC_BROTLI:
		*why = "BROTLI compression is not supported";
		return false;
	default:
		*why = "unknown compression codec";
		return false;
	}
}
