/*
 * generate.c - the device simulator of generate.h.
 *
 * Devices take turns (round-robin), so each of N devices gets 1/N of the
 * events, as the reference's one-thread-per-device producer does on
 * average. Each record's kind is drawn first (invalid, late, duplicate or
 * valid) from the configured fractions; invalid records cycle through the
 * shapes docs/design.md §3 calls invalid, built by splicing a broken member
 * into a correctly encoded event, so every shape is exercised.
 */
#include "event/generate.h"
#include "event/codec.h"
#include "core/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const char *const kind_names[GEN__KINDS] = { "valid", "late", "invalid",
						    "duplicate" };

const char *gen_kind_name(enum gen_kind k) { return kind_names[k]; }

enum bad_shape {
	BAD_TRUNCATED,
	BAD_GARBAGE,
	BAD_NOT_OBJECT,
	BAD_MISSING_FIELD,
	BAD_NULL_FIELD,
	BAD_WRONG_TYPE,
	BAD_ENUM,
	BAD_MISSING_KEY,
	BAD_TIMESTAMP,
	BAD__COUNT
};

struct generator {
	const struct event_schema *schema;
	struct gen_options opt;
	uint64_t s[4];
	long next_device;
	unsigned next_bad;
	struct event ev;
	struct buf key, value, prev_key, prev_value, tmp;
	char strvals[EV_MAX_FIELDS][12];
	bool have_prev;
	bool prev_has_key;
	int64_t prev_time;
	long prev_device;
	double spare_normal;
	bool has_spare;
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(struct generator *g)
{
	uint64_t *s = g->s;
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

double generator_uniform(struct generator *g)
{
	return (double)(next_u64(g) >> 11) * 0x1.0p-53;
}

static double normal(struct generator *g)
{
	double u, v, q;
	if (g->has_spare) {
		g->has_spare = false;
		return g->spare_normal;
	}
	do {
		u = generator_uniform(g) * 2 - 1;
		v = generator_uniform(g) * 2 - 1;
		q = u * u + v * v;
	} while (q >= 1 || q == 0);
	q = sqrt(-2 * log(q) / q);
	g->spare_normal = v * q;
	g->has_spare = true;
	return u * q;
}

struct generator *generator_create(const struct event_schema *s,
				   const struct gen_options *o)
{
	struct generator *g = xcalloc(1, sizeof(*g));
	uint64_t x = o->seed;

	g->schema = s;
	g->opt = *o;
	if (g->opt.devices < 1)
		g->opt.devices = 1;
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&x);
	buf_init(&g->key);
	buf_init(&g->value);
	buf_init(&g->prev_key);
	buf_init(&g->prev_value);
	buf_init(&g->tmp);
	return g;
}

void generator_destroy(struct generator *g)
{
	if (!g)
		return;
	buf_release(&g->key);
	buf_release(&g->value);
	buf_release(&g->prev_key);
	buf_release(&g->prev_value);
	buf_release(&g->tmp);
	free(g);
}

static double round_to(double v, int decimals)
{
	double scale = 1;
	if (decimals < 0)
		return v;
	for (int i = 0; i < decimals; i++)
		scale *= 10;
	/* from 2^53 on a double has no fraction left to round, and past
	 * 2^63 llround() would overflow (1e12 at 9 decimals came out as
	 * -9223372036.854775808) */
	if (!(fabs(v * scale) < 0x1p53))
		return v;
	return (double)llround(v * scale) / scale;
}

static void fill_event(struct generator *g, int64_t t_us)
{
	const struct event_schema *s = g->schema;

	g->ev.present = 0;
	g->ev.time_us = t_us;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct schema_field *f = &s->fields[i];
		struct ev_value *v = &g->ev.v[i];
		switch (f->type) {
		case FIELD_DATETIME:
			v->i = t_us;
			break;
		case FIELD_FLOAT: {
			double x;
			if (f->gen.dist == GEN_NORMAL)
				x = f->gen.a + f->gen.b * normal(g);
			else if (f->gen.dist == GEN_UNIFORM)
				x = f->gen.a + (f->gen.b - f->gen.a) * generator_uniform(g);
			else
				x = generator_uniform(g);
			x = round_to(x, f->gen.decimals);
			/* rounding up may reach an excluded upper bound */
			if (f->gen.dist == GEN_UNIFORM && x >= f->gen.b && f->gen.b > f->gen.a)
				x = round_to(f->gen.b - pow(10, -(f->gen.decimals < 0 ? 9 : f->gen.decimals)),
					     f->gen.decimals);
			v->d = x;
			break;
		}
		case FIELD_INT: {
			int64_t lo = 0, hi = 100;
			if (f->gen.dist == GEN_UNIFORM) {
				lo = (int64_t)ceil(f->gen.a);
				hi = (int64_t)floor(f->gen.b);
			}
			if (f->gen.dist == GEN_NORMAL)
				v->i = (int64_t)llround(f->gen.a + f->gen.b * normal(g));
			else
				v->i = lo + (int64_t)(next_u64(g) % (uint64_t)(hi - lo + 1));
			break;
		}
		case FIELD_STRING: {
			static const char hex[] = "0123456789abcdef";
			uint64_t r = next_u64(g);
			for (int k = 0; k < 8; k++)
				g->strvals[i][k] = hex[(r >> (4 * k)) & 15];
			v->s.p = g->strvals[i];
			v->s.len = 8;
			break;
		}
		case FIELD_ENUM:
			v->i = (int64_t)(next_u64(g) % f->nvalues);
			break;
		}
		g->ev.present |= (uint64_t)1 << i;
	}
}

static void make_key(struct generator *g, long device)
{
	char digits[24];
	int n = 0;
	unsigned long v = (unsigned long)device;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_reset(&g->key);
	buf_puts(&g->key, g->schema->key_prefix);
	while (n)
		buf_putc(&g->key, (uint8_t)digits[--n]);
}

/* Re-encodes the event without field fi and appends "name": raw. */
static void splice(struct generator *g, int fi, const char *raw)
{
	const struct schema_field *f = &g->schema->fields[fi];
	g->ev.present &= ~((uint64_t)1 << fi);
	buf_reset(&g->value);
	ev_encode(g->schema, &g->ev, &g->value);
	g->value.len--; /* drop the closing brace */
	if (g->ev.present)
		buf_append(&g->value, ", ", 2);
	buf_printf(&g->value, "\"%s\": %s}", f->name, raw);
}

static int pick_field(struct generator *g, int want_type, bool required_only)
{
	const struct event_schema *s = g->schema;
	int cand[EV_MAX_FIELDS], n = 0;
	for (size_t i = 0; i < s->nfields; i++) {
		if (required_only && !s->fields[i].required)
			continue;
		if (want_type >= 0 && (int)s->fields[i].type != want_type)
			continue;
		cand[n++] = (int)i;
	}
	return n ? cand[next_u64(g) % (uint64_t)n] : -1;
}

static void make_invalid(struct generator *g, struct gen_record *r)
{
	enum bad_shape shape = (enum bad_shape)(g->next_bad++ % BAD__COUNT);
	int fi;

	buf_reset(&g->value);
	ev_encode(g->schema, &g->ev, &g->value);
	switch (shape) {
	case BAD_TRUNCATED:
		g->value.len = g->value.len / 2;
		break;
	case BAD_GARBAGE:
		buf_reset(&g->value);
		for (int i = 0; i < 24; i++)
			buf_putc(&g->value, (uint8_t)(next_u64(g) | 0x80));
		break;
	case BAD_NOT_OBJECT:
		buf_reset(&g->value);
		buf_puts(&g->value, "[\"not\", \"an\", \"object\"]");
		break;
	case BAD_MISSING_FIELD:
		fi = pick_field(g, -1, true);
		g->ev.present &= ~((uint64_t)1 << fi);
		buf_reset(&g->value);
		ev_encode(g->schema, &g->ev, &g->value);
		break;
	case BAD_NULL_FIELD:
		splice(g, pick_field(g, -1, true), "null");
		break;
	case BAD_WRONG_TYPE:
		fi = pick_field(g, FIELD_FLOAT, true);
		splice(g, fi >= 0 ? fi : g->schema->time_field,
		       fi >= 0 ? "\"not a number\"" : "true");
		break;
	case BAD_ENUM:
		fi = pick_field(g, FIELD_ENUM, false);
		if (fi >= 0)
			splice(g, fi, "\"no_such_value\"");
		else
			splice(g, g->schema->time_field, "\"not a time\"");
		break;
	case BAD_MISSING_KEY:
		r->key = NULL;
		r->key_len = 0;
		break;
	case BAD_TIMESTAMP:
		splice(g, g->schema->time_field, "\"2025-13-45T99:00:00Z\"");
		break;
	case BAD__COUNT:
		break;
	}
}

void generator_next(struct generator *g, int64_t now_us, struct gen_record *r)
{
	double u = generator_uniform(g);
	const struct gen_options *o = &g->opt;
	enum gen_kind kind = GEN_VALID;
	long device;
	int64_t t = now_us;

	if (u < o->invalid_fraction)
		kind = GEN_INVALID;
	else if (u < o->invalid_fraction + o->late_fraction)
		kind = GEN_LATE;
	else if (u < o->invalid_fraction + o->late_fraction + o->duplicate_fraction)
		kind = g->have_prev ? GEN_DUPLICATE : GEN_VALID;

	if (kind == GEN_DUPLICATE) {
		r->kind = GEN_DUPLICATE;
		r->key = g->prev_has_key ? (const char *)g->prev_key.data : NULL;
		r->key_len = g->prev_has_key ? g->prev_key.len : 0;
		r->value = (const char *)g->prev_value.data;
		r->value_len = g->prev_value.len;
		r->time_us = g->prev_time;
		r->device = g->prev_device;
		return;
	}
	device = g->next_device % o->devices + 1;
	g->next_device++;
	if (kind == GEN_LATE)
		t -= (int64_t)((o->late_min_s +
				(o->late_max_s - o->late_min_s) * generator_uniform(g)) * 1e6);
	fill_event(g, t);
	make_key(g, device);
	r->kind = kind;
	r->key = (const char *)g->key.data;
	r->key_len = g->key.len;
	r->time_us = t;
	r->device = device;
	if (kind == GEN_INVALID) {
		make_invalid(g, r);
	} else {
		buf_reset(&g->value);
		ev_encode(g->schema, &g->ev, &g->value);
	}
	r->value = (const char *)g->value.data;
	r->value_len = g->value.len;
	/* remember for a later duplicate (only events, never broken records) */
	if (kind == GEN_INVALID)
		return;
	buf_reset(&g->prev_key);
	buf_append(&g->prev_key, g->key.data, g->key.len);
	buf_reset(&g->prev_value);
	buf_append(&g->prev_value, g->value.data, g->value.len);
	g->prev_has_key = r->key != NULL;
	g->prev_time = t;
	g->prev_device = device;
	g->have_prev = true;
}
