/*
 * codec.h - events as JSON: the validating decoder on the streaming jobs'
 * hot path, and the encoder the producer uses.
 *
 * The decoder reads one Kafka record (key + JSON value) into a struct
 * event laid out by the schema, in one pass, without allocating per event:
 * string values point into the payload, or into the decoder's scratch
 * buffer when they held escapes (valid until the next ev_decode call on the
 * same decoder). Every rejected event gets a reason (for the
 * iotpipe_events_invalid_total{reason} counter and the dead-letter header)
 * and, where it applies, the field at fault.
 *
 * A decoder belongs to one thread; create one per consumer thread.
 *
 *	struct ev_decoder *dec = ev_decoder_create(schema);
 *	struct event ev;
 *	struct ev_result r = ev_decode(dec, key, keylen, val, vallen, &ev);
 *	if (r.status == EV_VALID) ... ev.time_us, ev.v[i].d ...
 *	ev_decoder_destroy(dec);
 */
#ifndef IOT_EVENT_CODEC_H
#define IOT_EVENT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/schema.h"

struct ev_value {
	union {
		int64_t i;   /* int; datetime (microseconds); enum (index) */
		double d;    /* float */
		struct {
			const char *p;
			uint32_t len;
		} s;         /* string (not NUL-terminated) */
	};
};

struct event {
	int64_t time_us;      /* the event-time field, microseconds UTC */
	const char *key;      /* the Kafka key (device id), not NUL-terminated */
	size_t key_len;
	uint64_t present;     /* bit i: field i has a (non-null) value */
	struct ev_value v[EV_MAX_FIELDS];
};

enum ev_status { EV_VALID = 0, EV_FILTERED, EV_INVALID };

enum ev_reason {
	EV_R_NONE = 0,
	EV_R_NOT_JSON,      /* malformed JSON, garbage bytes, trailing data */
	EV_R_NOT_OBJECT,    /* valid JSON but not an object */
	EV_R_MISSING_KEY,   /* no Kafka key, or an empty one */
	EV_R_BAD_KEY,       /* key not UTF-8, too long, or has control chars */
	EV_R_KEY_UNSAFE,    /* key makes no valid output path (hive_key_ok) */
	EV_R_MISSING_FIELD, /* a required field is absent */
	EV_R_NULL_FIELD,    /* a required field is null */
	EV_R_WRONG_TYPE,    /* a field's value has the wrong JSON type */
	EV_R_BAD_ENUM,      /* an enum value not listed in the schema */
	EV_R_BAD_TIMESTAMP, /* unparseable or out-of-range event time */
	EV_R_OUT_OF_RANGE,  /* a number too large for its type */
	EV_R_BAD_UTF8,      /* a string value that is not valid UTF-8 */
	EV_R_FUTURE,        /* event time beyond the horizon ahead of processing
			       time (set by the streaming jobs, not the decoder) */
	EV_R__COUNT
};

/* "not_json", "missing_field", ... (metric label values). */
const char *ev_reason_name(enum ev_reason r);

struct ev_result {
	enum ev_status status;
	enum ev_reason reason; /* for EV_INVALID */
	int field;             /* field at fault, or filtering field; -1 if none */
};

#define EV_MAX_KEY_LEN 256

struct ev_decoder;

struct ev_decoder *ev_decoder_create(const struct event_schema *schema);
void ev_decoder_destroy(struct ev_decoder *dec);

struct ev_result ev_decode(struct ev_decoder *dec, const void *key,
			   size_t key_len, const void *json, size_t len,
			   struct event *out);

/*
 * The strings of the last decoded event that held escapes live in the
 * decoder's own buffer, until the next ev_decode on it: that many bytes
 * (0: every string points into the payload). ev_decoder_move_scratch
 * copies them to dst (ev_decoder_scratch_len bytes) and points ev's
 * strings there, so that ev outlives the next ev_decode (a decoder thread
 * decodes a whole array of records ahead, each decoded once).
 */
size_t ev_decoder_scratch_len(const struct ev_decoder *dec);
void ev_decoder_move_scratch(const struct ev_decoder *dec, struct event *ev, void *dst);

/* Writes a one-line description of a rejection ("missing_field: temperature"). */
size_t ev_result_describe(const struct event_schema *s, struct ev_result r,
			  char *out, size_t cap);

/*
 * Encodes the present fields of ev as a JSON object in schema order into
 * out (appended). Floats with gen.decimals >= 0 are printed with that many
 * decimals; the event time as epoch seconds with microseconds.
 */
void ev_encode(const struct event_schema *s, const struct event *ev,
	       struct buf *out);

/* Shortest "%.17g"-style text that reads back as the same double. */
size_t ev_format_double(double d, char *out, size_t cap);

#endif
