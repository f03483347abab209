/*
 * decode.c - the validating JSON event decoder (codec.h).
 *
 * Why hand-written: the job needs strict JSON syntax, schema-directed field
 * matching, exact decimal-to-microsecond timestamps and a reason for every
 * rejection, in one pass with no allocation. A tokenizer such as jsmn (in
 * Debian) would still leave number conversion, unescaping and matching to
 * us, and costs more than this whole decoder (bench/bench_decode.c
 * measures both on the same events).
 *
 * Data flow: one pass over the payload. Syntax errors end the pass at once
 * (EV_R_NOT_JSON); a semantic error in a field (wrong type, bad enum) is
 * recorded and the pass continues, so that a malformed tail is still
 * reported as malformed. After the pass the checks run in schema order:
 * key (present, length, UTF-8, a valid output path), then per field:
 * error, missing, null; then the filters.
 *
 * Numbers: JSON grammar checked exactly; up to 19 significant digits are
 * accumulated in a u64 with a decimal exponent. Doubles take the exact
 * fast path (Clinger: mantissa < 2^53, |exp| <= 22, one correctly rounded
 * multiply or divide) and fall back to strtod otherwise. Event times are
 * computed from the decimal digits directly in integer microseconds.
 */
#include "core/hex.h"
#include "core/hive.h"
#include "event/codec.h"
#include "event/timeparse.h"
#include "core/xalloc.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define MAX_DEPTH 64

static const char *const reason_names[EV_R__COUNT] = {
	[EV_R_NONE] = "none",
	[EV_R_NOT_JSON] = "not_json",
	[EV_R_NOT_OBJECT] = "not_object",
	[EV_R_MISSING_KEY] = "missing_key",
	[EV_R_BAD_KEY] = "bad_key",
	[EV_R_KEY_UNSAFE] = "key_unsafe",
	[EV_R_MISSING_FIELD] = "missing_field",
	[EV_R_NULL_FIELD] = "null_field",
	[EV_R_WRONG_TYPE] = "wrong_type",
	[EV_R_BAD_ENUM] = "bad_enum",
	[EV_R_BAD_TIMESTAMP] = "bad_timestamp",
	[EV_R_OUT_OF_RANGE] = "out_of_range",
	[EV_R_BAD_UTF8] = "bad_utf8",
	[EV_R_FUTURE] = "future_timestamp",
};

const char *ev_reason_name(enum ev_reason r)
{
	return (unsigned)r < EV_R__COUNT ? reason_names[r] : "unknown";
}

struct ev_decoder {
	const struct event_schema *schema;
	uint8_t *scratch; /* unescaped strings of the current event */
	size_t scratch_cap;
	size_t scratch_len;
	uint8_t field_err[EV_MAX_FIELDS]; /* enum ev_reason per field */
};

struct ev_decoder *ev_decoder_create(const struct event_schema *schema)
{
	struct ev_decoder *d = xcalloc(1, sizeof(*d));
	d->schema = schema;
	d->scratch_cap = 1024;
	d->scratch = xmalloc(d->scratch_cap);
	return d;
}

void ev_decoder_destroy(struct ev_decoder *d)
{
	if (!d)
		return;
	free(d->scratch);
	free(d);
}

/* ---- lexical helpers; `p` walks [p, e) ---- */

struct cur {
	const uint8_t *p, *e;
};

static inline void ws(struct cur *c)
{
	while (c->p < c->e && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' ||
			       *c->p == '\t'))
		c->p++;
}

static inline bool lit(struct cur *c, const char *word, size_t n)
{
	if ((size_t)(c->e - c->p) < n || memcmp(c->p, word, n))
		return false;
	c->p += n;
	return true;
}

/* Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = s[i];
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF) {
			if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
				return false;
			i += 2;
		} else if (b >= 0xE0 && b <= 0xEF) {
			if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 ||
			    (s[i + 2] & 0xC0) != 0x80)
				return false;
			if (b == 0xE0 && s[i + 1] < 0xA0)
				return false;
			if (b == 0xED && s[i + 1] >= 0xA0)
				return false;
			i += 3;
		} else if (b >= 0xF0 && b <= 0xF4) {
			if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 ||
			    (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
				return false;
			if (b == 0xF0 && s[i + 1] < 0x90)
				return false;
			if (b == 0xF4 && s[i + 1] >= 0x90)
				return false;
			i += 4;
		} else {
			return false;
		}
	}
	return true;
}

static bool hex4(const uint8_t *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit(p[i]);
		if (h < 0)
			return false;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return true;
}

enum str_rc { STR_OK, STR_SYNTAX, STR_BAD_UTF8 };

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Skips string bytes that need no attention (not '"', '\\' or a control
 * character), eight at a time: a word is plain when none of its bytes is
 * zero after XOR with '"' or '\\' and none is below 0x20 (the classic
 * "has zero byte" / "has byte less than n" bit tricks, exact as booleans).
 */
static inline const uint8_t *scan_plain(const uint8_t *q, const uint8_t *e)
{
	while (e - q >= 8) {
		uint64_t v, a, b, hit;
		memcpy(&v, q, 8);
		a = v ^ (ONES * '"');
		b = v ^ (ONES * '\\');
		hit = (((a - ONES) & ~a) | ((b - ONES) & ~b) | ((v - ONES * 0x20) & ~v)) & HIGHS;
		if (hit) {
			/* the lowest flagged byte is exact (a borrow only runs
			 * upwards from a byte that is really flagged); bytes are
			 * loaded little-endian on the targets we build for */
			if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
				return q + (__builtin_ctzll(hit) >> 3);
			break;
		}
		q += 8;
	}
	while (q < e && *q != '"' && *q != '\\' && *q >= 0x20)
		q++;
	return q;
}

/*
 * Parses a string at c->p (which is at the opening quote). On success *s
 * and *n hold the content: a slice of the payload when it had no escapes,
 * else the unescaped bytes in the scratch buffer. With `want` false the
 * content is only checked for syntax (skipped values).
 */
static enum str_rc string(struct ev_decoder *d, struct cur *c, bool want,
			  const uint8_t **s, size_t *n)
{
	const uint8_t *start = ++c->p;
	const uint8_t *q = start;
	uint8_t *out;
	bool bad_utf8 = false;

	q = scan_plain(q, c->e);
	if (q >= c->e || *q < 0x20)
		return STR_SYNTAX;
	if (*q == '"') {
		c->p = q + 1;
		if (want) {
			*s = start;
			*n = (size_t)(q - start);
		}
		return STR_OK;
	}
	/* has escapes: decode into scratch (never longer than the source) */
	out = d->scratch + d->scratch_len;
	memcpy(out, start, (size_t)(q - start));
	out += q - start;
	while (q < c->e && *q != '"') {
		if (*q < 0x20)
			return STR_SYNTAX;
		if (*q != '\\') {
			*out++ = *q++;
			continue;
		}
		if (++q >= c->e)
			return STR_SYNTAX;
		switch (*q) {
		case '"': *out++ = '"'; q++; break;
		case '\\': *out++ = '\\'; q++; break;
		case '/': *out++ = '/'; q++; break;
		case 'b': *out++ = '\b'; q++; break;
		case 'f': *out++ = '\f'; q++; break;
		case 'n': *out++ = '\n'; q++; break;
		case 'r': *out++ = '\r'; q++; break;
		case 't': *out++ = '\t'; q++; break;
		case 'u': {
			unsigned cp, lo;
			if (c->e - q < 5 || !hex4(q + 1, &cp))
				return STR_SYNTAX;
			q += 5;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (c->e - q >= 6 && q[0] == '\\' && q[1] == 'u' &&
				    hex4(q + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
					q += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else {
					bad_utf8 = true;
					cp = 0xFFFD;
				}
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				bad_utf8 = true;
				cp = 0xFFFD;
			}
			/* a \uXXXX escape (6 bytes) never encodes to more than 4 */
			if (cp < 0x80) {
				*out++ = (uint8_t)cp;
			} else if (cp < 0x800) {
				*out++ = (uint8_t)(0xC0 | cp >> 6);
				*out++ = (uint8_t)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				*out++ = (uint8_t)(0xE0 | cp >> 12);
				*out++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
				*out++ = (uint8_t)(0x80 | (cp & 0x3F));
			} else {
				*out++ = (uint8_t)(0xF0 | cp >> 18);
				*out++ = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
				*out++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
				*out++ = (uint8_t)(0x80 | (cp & 0x3F));
			}
			break;
		}
		default:
			return STR_SYNTAX;
		}
	}
	if (q >= c->e)
		return STR_SYNTAX;
	c->p = q + 1;
	if (want) {
		*s = d->scratch + d->scratch_len;
		*n = (size_t)(out - *s);
		d->scratch_len += *n;
	}
	return bad_utf8 ? STR_BAD_UTF8 : STR_OK;
}

struct num {
	uint64_t mant;     /* significant digits (at most 19) */
	int exp10;         /* value = mant * 10^exp10 */
	bool neg;
	bool integer;      /* no fraction and no exponent in the text */
	bool inexact;      /* more than 19 significant digits were dropped */
	const uint8_t *start, *end;
};

/* An exponent's digits are read up to EXP10_SATURATED (far more than the
 * digits of any record), and exp10 is kept within +-EXP10_CLAMP: either
 * way far past every double's and every time's range. */
#define EXP10_SATURATED 1000000000000000LL
#define EXP10_CLAMP 1000000000

/* Scans a JSON number with exact grammar. False on a syntax error. */
static bool number(struct cur *c, struct num *n)
{
	const uint8_t *p = c->p, *e = c->e;
	int nd = 0, dropped = 0, frac = 0;
	int64_t ex = 0, e10;

	n->start = p;
	n->mant = 0;
	n->neg = false;
	n->integer = true;
	n->inexact = false;
	if (p < e && *p == '-')
		n->neg = true, p++;
	if (p >= e)
		return false;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < e && *p >= '0' && *p <= '9') {
			if (nd < 19)
				n->mant = n->mant * 10 + (uint64_t)(*p - '0'), nd++;
			else
				dropped++, n->inexact |= *p != '0';
			p++;
		}
	} else {
		return false;
	}
	if (p < e && *p == '.') {
		n->integer = false;
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return false;
		while (p < e && *p >= '0' && *p <= '9') {
			if (n->mant == 0 && *p == '0') {
				frac++; /* a leading zero: not a significant digit */
			} else if (nd < 19) {
				n->mant = n->mant * 10 + (uint64_t)(*p - '0');
				nd++;
				frac++;
			} else {
				n->inexact |= *p != '0';
			}
			p++;
		}
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		n->integer = false;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			eneg = *p == '-', p++;
		if (p >= e || *p < '0' || *p > '9')
			return false;
		/* saturates far above any count of digits a record can
		 * hold (frac, dropped), so a huge exponent stays huge after
		 * they are subtracted: 0.<a million zeros>1e1000010 is 1 */
		while (p < e && *p >= '0' && *p <= '9') {
			if (ex < EXP10_SATURATED)
				ex = ex * 10 + (*p - '0');
			p++;
		}
		if (eneg)
			ex = -ex;
	}
	e10 = ex + dropped - frac;
	n->exp10 = e10 > EXP10_CLAMP ? EXP10_CLAMP : e10 < -EXP10_CLAMP ? -EXP10_CLAMP : (int)e10;
	n->end = p;
	c->p = p;
	return true;
}

static const double pow10_tab[] = {
	1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,	1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool num_double(struct ev_decoder *d, const struct num *n, double *out)
{
	double v;

	if (!n->inexact && n->mant < (1ULL << 53) && n->exp10 >= -22 &&
	    n->exp10 <= 22) {
		v = (double)n->mant;
		v = n->exp10 >= 0 ? v * pow10_tab[n->exp10]
				  : v / pow10_tab[-n->exp10];
		*out = n->neg ? -v : v;
		return true;
	}
	{
		size_t len = (size_t)(n->end - n->start);
		char *tmp = (char *)d->scratch + d->scratch_len;
		/* the scratch holds payload length + 1 free bytes */
		memcpy(tmp, n->start, len);
		tmp[len] = '\0';
		errno = 0;
		v = strtod(tmp, NULL);
		if (!isfinite(v))
			return false;
		*out = v;
		return true;
	}
}

static const int64_t pow10_i[] = {
	1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
	100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
	1000000000000LL, 10000000000000LL, 100000000000000LL,
	1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
	1000000000000000000LL,
};

/* Epoch seconds (as written) to microseconds, exactly from the digits. */
static bool num_epoch_us(struct ev_decoder *d, const struct num *n, int64_t *us)
{
	int sh = n->exp10 + 6;
	int64_t v;

	if (n->mant > (uint64_t)INT64_MAX)
		return false;
	if (n->inexact) {
		double dv;
		if (!num_double(d, n, &dv) || fabs(dv) > 253402300800.0)
			return false;
		v = (int64_t)llround(dv * 1e6);
		/* the same range as the exact path below (a 20-digit time
		 * such as -253402300799.00000000001 passed as year -6000) */
		if (v < TIME_MIN_US || v > TIME_MAX_US)
			return false;
		*us = v;
		return true;
	}
	v = (int64_t)n->mant;
	if (sh >= 0) {
		/* on overflow v holds the wrapped product: only a zero
		 * mantissa (0e30) is a time, 1970-01-01 */
		if (sh > 18 || __builtin_mul_overflow(v, pow10_i[sh], &v))
			return n->mant == 0 && (*us = 0, true);
	} else if (sh >= -18) {
		int64_t div = pow10_i[-sh], q = v / div, r = v % div;
		v = q + (r * 2 >= div); /* half away from zero (on |v|) */
	} else {
		v = 0;
	}
	if (n->neg)
		v = -v;
	if (v < TIME_MIN_US || v > TIME_MAX_US)
		return false;
	*us = v;
	return true;
}

static bool skip_value(struct ev_decoder *d, struct cur *c, int depth);

/* Skips an object or array at c->p: members "key": value, or values,
 * separated by commas up to the matching close. */
static bool skip_container(struct ev_decoder *d, struct cur *c, int depth)
{
	bool object = *c->p == '{';
	uint8_t close = object ? '}' : ']';
	const uint8_t *s;
	size_t len;

	c->p++;
	ws(c);
	if (c->p < c->e && *c->p == close) {
		c->p++;
		return true;
	}
	for (;;) {
		if (object) {
			ws(c);
			if (c->p >= c->e || *c->p != '"' ||
			    string(d, c, false, &s, &len) == STR_SYNTAX)
				return false;
			ws(c);
			if (c->p >= c->e || *c->p++ != ':')
				return false;
		}
		if (!skip_value(d, c, depth + 1))
			return false;
		ws(c);
		if (c->p >= c->e)
			return false;
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		return *c->p++ == close;
	}
}

/* Skips any JSON value (syntax-checked). */
static bool skip_value(struct ev_decoder *d, struct cur *c, int depth)
{
	struct num n;
	const uint8_t *s;
	size_t len;

	if (depth > MAX_DEPTH)
		return false;
	ws(c);
	if (c->p >= c->e)
		return false;
	switch (*c->p) {
	case '"':
		return string(d, c, false, &s, &len) != STR_SYNTAX;
	case '{':
	case '[':
		return skip_container(d, c, depth);
	case 't':
		return lit(c, "true", 4);
	case 'f':
		return lit(c, "false", 5);
	case 'n':
		return lit(c, "null", 4);
	default:
		return number(c, &n);
	}
}

/* `hint`: the field expected next (producers write the fields in one
 * order, so it is nearly always the one). */
static int find_field(const struct event_schema *s, size_t hint, const uint8_t *k, size_t n)
{
	if (hint < s->nfields && s->fields[hint].name_len == n &&
	    !memcmp(s->fields[hint].name, k, n))
		return (int)hint;
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].name_len == n && !memcmp(s->fields[i].name, k, n))
			return (int)i;
	return -1;
}

static struct ev_result result(enum ev_status st, enum ev_reason r, int field)
{
	struct ev_result res = { st, r, field };
	return res;
}

/* Parses one member value for field f; false on a syntax error. */
static bool field_value(struct ev_decoder *d, struct cur *c, int fi,
			struct event *ev, uint64_t *nulls)
{
	const struct schema_field *f = &d->schema->fields[fi];
	uint64_t bit = (uint64_t)1 << fi;
	struct num n;
	const uint8_t *s;
	size_t len;

	ev->present &= ~bit;
	*nulls &= ~bit;
	d->field_err[fi] = EV_R_NONE;
	if (c->p >= c->e)
		return false;
	if (*c->p == 'n') {
		if (!lit(c, "null", 4))
			return false;
		*nulls |= bit;
		return true;
	}
	switch (f->type) {
	case FIELD_DATETIME:
		if (*c->p == '"') {
			enum str_rc rc = string(d, c, true, &s, &len);
			if (rc == STR_SYNTAX)
				return false;
			if (rc != STR_OK ||
			    !time_parse_iso8601((const char *)s, len, &ev->v[fi].i))
				d->field_err[fi] = EV_R_BAD_TIMESTAMP;
			break;
		}
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
			if (!number(c, &n))
				return false;
			if (!num_epoch_us(d, &n, &ev->v[fi].i))
				d->field_err[fi] = EV_R_BAD_TIMESTAMP;
			break;
		}
		d->field_err[fi] = EV_R_WRONG_TYPE;
		return skip_value(d, c, 1);
	case FIELD_FLOAT:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
			if (!number(c, &n))
				return false;
			if (!num_double(d, &n, &ev->v[fi].d))
				d->field_err[fi] = EV_R_OUT_OF_RANGE;
			break;
		}
		d->field_err[fi] = EV_R_WRONG_TYPE;
		return skip_value(d, c, 1);
	case FIELD_INT:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
			if (!number(c, &n))
				return false;
			if (!n.integer) {
				d->field_err[fi] = EV_R_WRONG_TYPE;
			} else if (n.inexact || n.exp10 != 0 ||
				   n.mant > (uint64_t)INT64_MAX + n.neg) {
				d->field_err[fi] = EV_R_OUT_OF_RANGE;
			} else {
				ev->v[fi].i = n.neg ? (int64_t)(0 - n.mant)
						    : (int64_t)n.mant;
			}
			break;
		}
		d->field_err[fi] = EV_R_WRONG_TYPE;
		return skip_value(d, c, 1);
	case FIELD_STRING:
	case FIELD_ENUM: {
		enum str_rc rc;
		if (*c->p != '"') {
			d->field_err[fi] = EV_R_WRONG_TYPE;
			return skip_value(d, c, 1);
		}
		rc = string(d, c, true, &s, &len);
		if (rc == STR_SYNTAX)
			return false;
		if (rc == STR_BAD_UTF8 || !utf8_valid(s, len)) {
			d->field_err[fi] = EV_R_BAD_UTF8;
			break;
		}
		if (f->type == FIELD_ENUM) {
			size_t j;
			for (j = 0; j < f->nvalues; j++)
				if (f->value_lens[j] == len &&
				    !memcmp(f->values[j], s, len))
					break;
			if (j == f->nvalues) {
				d->field_err[fi] = EV_R_BAD_ENUM;
				break;
			}
			ev->v[fi].i = (int64_t)j;
		} else {
			if (len > UINT32_MAX) {
				d->field_err[fi] = EV_R_OUT_OF_RANGE;
				break;
			}
			ev->v[fi].s.p = (const char *)s;
			ev->v[fi].s.len = (uint32_t)len;
		}
		break;
	}
	}
	if (d->field_err[fi] == EV_R_NONE)
		ev->present |= bit;
	return true;
}

static bool string_filtered(const struct schema_field *f, const struct ev_value *v)
{
	for (size_t i = 0; i < f->nfilter_out; i++)
		if (strlen(f->filter_out[i]) == v->s.len &&
		    !memcmp(f->filter_out[i], v->s.p, v->s.len))
			return true;
	return false;
}

struct ev_result ev_decode(struct ev_decoder *d, const void *key,
			   size_t key_len, const void *json, size_t len,
			   struct event *ev)
{
	const struct event_schema *sc = d->schema;
	struct cur c = { json, (const uint8_t *)json + len };
	uint64_t nulls = 0, seen_err = 0;
	const uint8_t *k;
	size_t kn, hint = 0;

	/* scratch never needs more than the payload (+1 for strtod's NUL) */
	if (len + 1 > d->scratch_cap) {
		free(d->scratch);
		d->scratch_cap = st_add(len, 1);
		d->scratch = xmalloc(d->scratch_cap);
	}
	d->scratch_len = 0;
	ev->present = 0;
	ev->key = key;
	ev->key_len = key_len;

	ws(&c);
	if (c.p >= c.e)
		return result(EV_INVALID, EV_R_NOT_JSON, -1);
	if (*c.p != '{') {
		if (skip_value(d, &c, 0)) {
			ws(&c);
			if (c.p == c.e)
				return result(EV_INVALID, EV_R_NOT_OBJECT, -1);
		}
		return result(EV_INVALID, EV_R_NOT_JSON, -1);
	}
	c.p++;
	ws(&c);
	if (c.p < c.e && *c.p == '}') {
		c.p++;
	} else {
		for (;;) {
			int fi;
			ws(&c);
			if (c.p >= c.e || *c.p != '"')
				return result(EV_INVALID, EV_R_NOT_JSON, -1);
			{
				size_t mark = d->scratch_len;
				if (string(d, &c, true, &k, &kn) == STR_SYNTAX)
					return result(EV_INVALID, EV_R_NOT_JSON, -1);
				fi = find_field(sc, hint, k, kn);
				hint = (size_t)fi + 1;
				d->scratch_len = mark; /* key text no longer needed */
			}
			ws(&c);
			if (c.p >= c.e || *c.p++ != ':')
				return result(EV_INVALID, EV_R_NOT_JSON, -1);
			ws(&c);
			if (fi < 0) {
				if (!skip_value(d, &c, 1))
					return result(EV_INVALID, EV_R_NOT_JSON, -1);
			} else {
				if (!field_value(d, &c, fi, ev, &nulls))
					return result(EV_INVALID, EV_R_NOT_JSON, -1);
				if (d->field_err[fi])
					seen_err |= (uint64_t)1 << fi;
				else
					seen_err &= ~((uint64_t)1 << fi);
			}
			ws(&c);
			if (c.p >= c.e)
				return result(EV_INVALID, EV_R_NOT_JSON, -1);
			if (*c.p == ',') {
				c.p++;
				continue;
			}
			if (*c.p++ == '}')
				break;
			return result(EV_INVALID, EV_R_NOT_JSON, -1);
		}
	}
	ws(&c);
	if (c.p != c.e)
		return result(EV_INVALID, EV_R_NOT_JSON, -1);

	if (!key || !key_len)
		return result(EV_INVALID, EV_R_MISSING_KEY, -1);
	if (key_len > EV_MAX_KEY_LEN)
		return result(EV_INVALID, EV_R_BAD_KEY, -1);
	{
		const uint8_t *kb = key;
		bool ascii = true;
		for (size_t i = 0; i < key_len; i++) {
			if (kb[i] < 0x20 || kb[i] == 0x7f)
				return result(EV_INVALID, EV_R_BAD_KEY, -1);
			ascii &= kb[i] < 0x80;
		}
		if (!ascii && !utf8_valid(kb, key_len))
			return result(EV_INVALID, EV_R_BAD_KEY, -1);
	}
	/* the key names a directory of the output; one it cannot name would
	 * fail its batch on every replay (for any layout: a pure function of
	 * the key, so the verdict never depends on the job's options) */
	if (!hive_key_ok(key, key_len))
		return result(EV_INVALID, EV_R_KEY_UNSAFE, -1);

	for (size_t i = 0; i < sc->nfields; i++) {
		const struct schema_field *f = &sc->fields[i];
		uint64_t bit = (uint64_t)1 << i;
		if (seen_err & bit)
			return result(EV_INVALID, (enum ev_reason)d->field_err[i], (int)i);
		if (!(ev->present & bit) && f->required)
			return result(EV_INVALID,
				      (nulls & bit) ? EV_R_NULL_FIELD : EV_R_MISSING_FIELD,
				      (int)i);
	}
	ev->time_us = ev->v[sc->time_field].i;
	for (size_t i = 0; i < sc->nfields; i++) {
		const struct schema_field *f = &sc->fields[i];
		uint64_t bit = (uint64_t)1 << i;
		if (!(ev->present & bit)) {
			if (f->filter_out_missing)
				return result(EV_FILTERED, EV_R_NONE, (int)i);
			continue;
		}
		if (f->type == FIELD_ENUM && (f->filter_mask >> ev->v[i].i & 1))
			return result(EV_FILTERED, EV_R_NONE, (int)i);
		if (f->type == FIELD_STRING && f->nfilter_out &&
		    string_filtered(f, &ev->v[i]))
			return result(EV_FILTERED, EV_R_NONE, (int)i);
	}
	return result(EV_VALID, EV_R_NONE, -1);
}

size_t ev_decoder_scratch_len(const struct ev_decoder *d)
{
	return d->scratch_len;
}

void ev_decoder_move_scratch(const struct ev_decoder *d, struct event *ev, void *dst)
{
	const struct event_schema *sc = d->schema;
	const char *lo = (const char *)d->scratch, *hi = lo + d->scratch_len;

	if (!d->scratch_len)
		return;
	memcpy(dst, d->scratch, d->scratch_len);
	for (size_t i = 0; i < sc->nfields; i++) {
		struct ev_value *v = &ev->v[i];
		if (sc->fields[i].type != FIELD_STRING || !(ev->present >> i & 1))
			continue;
		/* compared as addresses: a payload slice lies elsewhere */
		if ((uintptr_t)v->s.p >= (uintptr_t)lo && (uintptr_t)v->s.p < (uintptr_t)hi)
			v->s.p = (const char *)dst + ((uintptr_t)v->s.p - (uintptr_t)lo);
	}
}

size_t ev_result_describe(const struct event_schema *s, struct ev_result r,
			  char *out, size_t cap)
{
	int n;
	const char *what = r.status == EV_FILTERED ? "filtered" : ev_reason_name(r.reason);

	if (r.field >= 0 && (size_t)r.field < s->nfields)
		n = snprintf(out, cap, "%s: %s", what, s->fields[r.field].name);
	else
		n = snprintf(out, cap, "%s", what);
	return n < 0 ? 0 : (size_t)n;
}
