/*
 * windows.h - the open event-time windows of one Kafka partition, for
 * `aggregate`: per device, tumbling windows [start, start+size) aligned
 * to the epoch, each with a count and the sums of the schema's float
 * fields (avg_<field> = sum / count at emission).
 *
 * Also the partition's watermark inputs: the highest event time seen and
 * the time up to which windows were emitted (an event whose window ends
 * at or before that is late). The whole state is saved with every batch
 * commit (ckpt.h) and restored on restart or on a rebalance.
 *
 * Held windows (merge.h): a window that other partitions also hold for
 * the same device can be held back past its emission time, in a group
 * named after the batch that held it, until the other partitions' parts
 * have been handed over; a held window is never emitted, and an event
 * for it is late as for an emitted one.
 *
 * Owned by the job thread; no locking.
 */
#ifndef IOT_STREAM_WINDOWS_H
#define IOT_STREAM_WINDOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/strmap.h"

struct win {
	int64_t start_us;
	int64_t count;
	double *sums;  /* nsums values */
	uint64_t held; /* 0, or the group (struct win_group) holding it */
};

/* A batch (partition `part`, batch `batch`) whose hand-over a group waits for. */
struct win_await {
	int32_t part;
	uint64_t batch;
};

/* Windows held by batch `id` of this partition, until every batch in
 * `aw` has committed (merge.h). */
struct win_group {
	uint64_t id;
	struct win_await *aw;
	size_t n;
};

struct win_device {
	struct win *w;
	size_t n, alloc;
};

struct winstate {
	size_t nsums;
	/* the float fields summed, names %-escaped and comma-separated (not
	 * owned; NULL: not known): saved with the state, and open windows
	 * of other fields are refused on load */
	const char *fields;
	struct strmap keys;        /* device key -> index into dev */
	struct win_device *dev;
	size_t ndev_alloc;
	size_t open;               /* open windows in total */
	bool has_max;
	int64_t max_event_us;      /* highest event time seen (valid, kept) */
	bool has_emitted;
	int64_t emitted_upto_us;   /* windows ending at or before: emitted */
	struct win_group *groups;  /* held windows' groups, by id */
	size_t ngroups, groups_alloc;
};

void winstate_init(struct winstate *ws, size_t nsums);
void winstate_release(struct winstate *ws);
void winstate_clear(struct winstate *ws);

static inline int64_t win_align(int64_t t_us, int64_t size_us)
{
	int64_t q = t_us / size_us;
	if (t_us % size_us != 0 && t_us < 0)
		q--;
	return q * size_us;
}

/* True when the window of t has already been emitted (the event is late). */
static inline bool winstate_is_late(const struct winstate *ws, int64_t t_us,
				    int64_t size_us)
{
	return ws->has_emitted &&
	       win_align(t_us, size_us) + size_us <= ws->emitted_upto_us;
}

/* Adds one event (sums[0..nsums)) to its device's window. */
void winstate_add(struct winstate *ws, const char *key, size_t key_len,
		  int64_t t_us, int64_t size_us, const double *sums);

/* Holds the window (key, start) in group `group`; false when there is no
 * such window. */
bool winstate_hold(struct winstate *ws, const char *key, size_t key_len,
		   int64_t start_us, uint64_t group);

/* The group holding (key, start); 0 when the window is not held or absent. */
uint64_t winstate_held_by(const struct winstate *ws, const char *key, size_t key_len,
			  int64_t start_us);

/* Adds a window's count and sums into (key, start), creating it; the
 * window is held by `group` (0: not held). */
void winstate_merge(struct winstate *ws, const char *key, size_t key_len,
		    int64_t start_us, int64_t count, const double *sums, uint64_t group);

/* Adds group `id` waiting for aw[0..n) (copied). */
void winstate_group_add(struct winstate *ws, uint64_t id, const struct win_await *aw,
			size_t n);

/* Ends group `id`: its windows are no longer held (the next emission
 * takes them); false when there is no such group. */
bool winstate_group_end(struct winstate *ws, uint64_t id);

/* One emitted window; valid during the callback. */
struct win_out {
	const char *key;
	size_t key_len;
	size_t key_off;   /* offset of the key in the list's `keys` buffer */
	int64_t start_us, end_us;
	int64_t count;
	const double *sums;
};

/*
 * Collects every window with end <= upto_us, except held ones, into *out
 * (sorted by key, then start), removes them from the state, and sets emitted_upto = upto_us
 * (never backwards). The caller frees out->items' sums via
 * win_out_list_release.
 */
struct win_out_list {
	struct win_out *items;
	size_t n, alloc;
	struct buf keys; /* the keys' bytes */
};
void winstate_emit(struct winstate *ws, int64_t upto_us, int64_t size_us,
		   struct win_out_list *out);
void win_out_list_release(struct win_out_list *l);

/* Keys in the text forms: hexadecimal, two digits a byte. win_get_key
 * reads up to a space or the end into out[0..cap) and returns where it
 * stopped, or NULL on a bad digit or a key longer than cap. */
void win_put_key(struct buf *out, const char *key, size_t len);
const char *win_get_key(const char *p, char *out, size_t cap, size_t *len);

/* Text serialisation (exact: sums as hexadecimal floats). */
void winstate_save(const struct winstate *ws, struct buf *out);
enum iot_err winstate_load(struct winstate *ws, const char *text, size_t len,
			   const char *name, struct iot_error *err);

/*
 * The watermark of a job from its partitions' windows: the smallest
 * latest event time of the partitions that are not idle, less the delay.
 * A partition is idle after idle_timeout_s (0: never) without records
 * (last_arrival, monotonic seconds, against `now`); when all are, the
 * watermark moves on with processing time from the latest event time.
 * --once passes 0: no clock, so the same topic and flags close the same
 * windows however fast the store commits (docs/exactly-once.md).
 * A partition that saw no event holds the watermark where it is (returns
 * *has, *wm unchanged) until it is at its end (at_end: it read all its
 * log had) or idle, as a Flink split without a watermark yet: the records
 * it has not delivered yet may belong to windows the others would close.
 * At its end or idle it does not count; with no partition counting,
 * false. The watermark never goes backwards: *wm (when *has) only ever
 * grows.
 */
struct wm_part {
	const struct winstate *ws;
	double last_arrival;
	bool at_end;
};
bool watermark_advance(const struct wm_part *v, size_t n, double now, double idle_timeout_s,
		       int64_t delay_us, bool *has, int64_t *wm);

#endif
