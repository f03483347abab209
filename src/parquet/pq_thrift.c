/*
 * pq_thrift.c - the Thrift compact protocol, only as much as Parquet uses.
 *
 * Parquet's footer and page headers are Thrift structs in the compact
 * encoding. We write it ourselves (pq.h says why) and keep it small:
 * integers are zigzag varints, binaries are varint-length-prefixed, structs
 * are field headers (id delta + type nibble) closed by a stop byte, lists
 * carry a size/type header.
 *
 * The reader is the hostile-input boundary: every varint is capped at 10
 * bytes, every length and list size is checked against the bytes left
 * before anyone uses it, nesting depth is capped, and the first failure
 * sticks (`failed`), after which every call returns zero values without
 * reading, so callers test once per struct. The writer appends to a buf and
 * always uses the short field header form when the delta allows it.
 */
#include "parquet/pq_int.h"

#include "core/banned.h"

void tc_reader_init(struct tc_reader *t, const void *data, size_t len)
{
	t->p = data;
	t->end = t->p + len;
	t->depth = 0;
	t->failed = false;
	t->msg = NULL;
}

void tc_fail(struct tc_reader *t, const char *msg)
{
	if (!t->failed) {
		t->failed = true;
		t->msg = msg;
	}
	t->p = t->end;
}

uint64_t tc_uvarint(struct tc_reader *t)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (t->p >= t->end) {
			tc_fail(t, "truncated thrift varint");
			return 0;
		}
		uint8_t c = *t->p++;
		if (shift == 63 && (c & 0x7e)) {
			tc_fail(t, "thrift varint overflows 64 bits");
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	tc_fail(t, "thrift varint longer than 10 bytes");
	return 0;
}

int64_t tc_i64(struct tc_reader *t)
{
	uint64_t u = tc_uvarint(t);
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

int32_t tc_i32(struct tc_reader *t)
{
	int64_t v = tc_i64(t);
	if (v < INT32_MIN || v > INT32_MAX) {
		tc_fail(t, "thrift i32 out of range");
		return 0;
	}
	return (int32_t)v;
}

const uint8_t *tc_binary(struct tc_reader *t, size_t *len)
{
	uint64_t n = tc_uvarint(t);
	if (t->failed || n > (uint64_t)(t->end - t->p)) {
		tc_fail(t, "thrift binary longer than the data left");
		*len = 0;
		return NULL;
	}
	const uint8_t *p = t->p;
	t->p += n;
	*len = (size_t)n;
	return p;
}

bool tc_field(struct tc_reader *t, int16_t *last, int16_t *id, int *type)
{
	if (t->failed)
		return false;
	if (t->p >= t->end) {
		tc_fail(t, "truncated thrift struct");
		return false;
	}
	uint8_t c = *t->p++;
	if (c == TC_STOP)
		return false;
	*type = c & 0x0f;
	int delta = c >> 4;
	if (delta) {
		int nid = *last + delta;
		if (nid > INT16_MAX) {
			tc_fail(t, "thrift field id overflow");
			return false;
		}
		*id = (int16_t)nid;
	} else {
		int64_t v = tc_i64(t);
		if (v < INT16_MIN || v > INT16_MAX) {
			tc_fail(t, "thrift field id out of range");
			return false;
		}
		*id = (int16_t)v;
	}
	*last = *id;
	if (*type == TC_STOP || *type > TC_UUID) {
		tc_fail(t, "bad thrift field type");
		return false;
	}
	return !t->failed;
}

size_t tc_list(struct tc_reader *t, int *elem_type)
{
	if (t->p >= t->end) {
		tc_fail(t, "truncated thrift list");
		return 0;
	}
	uint8_t c = *t->p++;
	*elem_type = c & 0x0f;
	uint64_t n = c >> 4;
	if (n == 15)
		n = tc_uvarint(t);
	/* Every element takes at least one byte, except bools in some
	 * writers' lists which also take one; so n <= bytes left. */
	if (t->failed || n > (uint64_t)(t->end - t->p) || n > PQ_MAX_LIST) {
		tc_fail(t, "thrift list larger than the data left");
		return 0;
	}
	return (size_t)n;
}

bool tc_enter(struct tc_reader *t)
{
	if (++t->depth > PQ_MAX_DEPTH) {
		tc_fail(t, "thrift nesting too deep");
		return false;
	}
	return true;
}

static void skip_bytes(struct tc_reader *t, size_t n)
{
	if (n > (size_t)(t->end - t->p)) {
		tc_fail(t, "truncated thrift value");
		return;
	}
	t->p += n;
}

void tc_skip(struct tc_reader *t, int type)
{
	size_t n, len;
	int et;
	int16_t last = 0, id;
	int ft;

	if (t->failed)
		return;
	switch (type) {
	case TC_TRUE:
	case TC_FALSE:
		break; /* value in the type nibble */
	case TC_I8:
		skip_bytes(t, 1);
		break;
	case TC_I16:
	case TC_I32:
	case TC_I64:
		tc_uvarint(t);
		break;
	case TC_DOUBLE:
		skip_bytes(t, 8);
		break;
	case TC_UUID:
		skip_bytes(t, 16);
		break;
	case TC_BINARY:
		tc_binary(t, &len);
		break;
	case TC_LIST:
	case TC_SET:
		if (!tc_enter(t))
			return;
		n = tc_list(t, &et);
		for (size_t i = 0; i < n && !t->failed; i++) {
			if (et == TC_TRUE || et == TC_FALSE)
				skip_bytes(t, 1); /* bool elements: one byte */
			else
				tc_skip(t, et);
		}
		tc_leave(t);
		break;
	case TC_MAP: {
		if (!tc_enter(t))
			return;
		uint64_t m = tc_uvarint(t);
		if (m > (uint64_t)(t->end - t->p)) {
			tc_fail(t, "thrift map larger than the data left");
			return;
		}
		if (m) {
			if (t->p >= t->end) {
				tc_fail(t, "truncated thrift map");
				return;
			}
			uint8_t kv = *t->p++;
			for (uint64_t i = 0; i < m && !t->failed; i++) {
				tc_skip(t, kv >> 4);
				tc_skip(t, kv & 0x0f);
			}
		}
		tc_leave(t);
		break;
	}
	case TC_STRUCT:
		if (!tc_enter(t))
			return;
		while (tc_field(t, &last, &id, &ft))
			tc_skip(t, ft);
		tc_leave(t);
		break;
	default:
		tc_fail(t, "bad thrift type");
	}
}

/* ---- writer ----------------------------------------------------------- */

void tc_writer_init(struct tc_writer *w, struct buf *b)
{
	w->b = b;
	w->depth = 0;
	w->last[0] = 0;
}

void tc_put_uvarint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	buf_append(b, tmp, n);
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void field_header(struct tc_writer *w, int16_t id, int type)
{
	int16_t delta = (int16_t)(id - w->last[w->depth]);
	if (delta > 0 && delta <= 15) {
		buf_putc(w->b, (uint8_t)((delta << 4) | type));
	} else {
		buf_putc(w->b, (uint8_t)type);
		tc_put_uvarint(w->b, zigzag(id));
	}
	w->last[w->depth] = id;
}

void tc_w_i32(struct tc_writer *w, int16_t id, int32_t v)
{
	field_header(w, id, TC_I32);
	tc_put_uvarint(w->b, zigzag(v));
}

void tc_w_i64(struct tc_writer *w, int16_t id, int64_t v)
{
	field_header(w, id, TC_I64);
	tc_put_uvarint(w->b, zigzag(v));
}

void tc_w_i16(struct tc_writer *w, int16_t id, int16_t v)
{
	field_header(w, id, TC_I16);
	tc_put_uvarint(w->b, zigzag(v));
}

void tc_w_i8(struct tc_writer *w, int16_t id, int8_t v)
{
	field_header(w, id, TC_I8);
	buf_putc(w->b, (uint8_t)v);
}

void tc_w_bool(struct tc_writer *w, int16_t id, bool v)
{
	field_header(w, id, v ? TC_TRUE : TC_FALSE);
}

void tc_w_binary(struct tc_writer *w, int16_t id, const void *p, size_t n)
{
	field_header(w, id, TC_BINARY);
	tc_put_uvarint(w->b, n);
	buf_append(w->b, p, n);
}

void tc_w_string(struct tc_writer *w, int16_t id, const char *s)
{
	tc_w_binary(w, id, s, strlen(s));
}

static void push(struct tc_writer *w)
{
	if (w->depth + 1 >= PQ_MAX_DEPTH)
		return; /* our own structures never nest this deep */
	w->last[++w->depth] = 0;
}

void tc_w_struct_begin(struct tc_writer *w, int16_t id)
{
	field_header(w, id, TC_STRUCT);
	push(w);
}

void tc_w_struct_end(struct tc_writer *w)
{
	buf_putc(w->b, TC_STOP);
	if (w->depth > 0)
		w->depth--;
}

void tc_w_list(struct tc_writer *w, int16_t id, int elem_type, size_t n)
{
	field_header(w, id, TC_LIST);
	if (n < 15) {
		buf_putc(w->b, (uint8_t)((n << 4) | (size_t)elem_type));
	} else {
		buf_putc(w->b, (uint8_t)(0xf0 | elem_type));
		tc_put_uvarint(w->b, n);
	}
}

void tc_w_elem_begin(struct tc_writer *w)
{
	push(w);
}

void tc_w_elem_end(struct tc_writer *w)
{
	tc_w_struct_end(w);
}

void tc_w_stop(struct tc_writer *w)
{
	buf_putc(w->b, TC_STOP);
}
