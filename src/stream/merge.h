/*
 * merge.h - one aggregate row per (device, window) when a device's events
 * come through several partitions of the topic (a second producer with
 * another partitioner, a partition count that grew).
 *
 * Each partition keeps its own windows and commits on its own (ckpt.h);
 * what is shared is decided when a commit round is planned, among the
 * partitions the round commits. A window (key, start) that several of
 * them would emit has a home, the lowest partition among them:
 *
 *	- the home's batch b holds the window (windows.h: held windows, group
 *	  b) and waits for the others' batches of the same round;
 *	- each other partition's batch gives its part away: instead of a row,
 *	  it writes the window's count and sums into a hand-over object in the
 *	  home's checkpoint, handoff-<b>-<giver>-<giver batch>, as part of its
 *	  output (before its state commits);
 *	- once every batch the group waits for has committed, a later batch of
 *	  the home ends the group: it adds the hand-overs that exist into its
 *	  windows and emits them, one row each.
 *
 * Every decision is written in the batch's plan (its wal, before any
 * output): what it holds and waits for, what it gives to whom, which
 * groups it ends and which hand-overs it found. A replay follows the plan
 * and reads the same hand-overs (deleted only after the batch that read
 * them committed), so the output stays a pure function of the plan and
 * the previous state. Plans are written in partition order and a
 * partition gives only to homes whose plan was written, so a part is
 * either given to a home that waits for it or written as its own row:
 * a crash, a rebalance or a second instance can split a row in two, never
 * lose or count a part twice.
 *
 * The plan's text, after the wal header (ckpt.h):
 *	hold <start_us> <hexkey>                 a window held by this batch
 *	await <part> <batch>                     what its group waits for
 *	give <part> <group> <start_us> <hexkey>  a window given to <part>
 *	end <group> <part> <batch> <0|1>         a hand-over of a group ended
 *	                                         by this batch, and whether
 *	                                         it was there
 */
#ifndef IOT_STREAM_MERGE_H
#define IOT_STREAM_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "stream/windows.h"

struct merge_win {
	int64_t start_us;
	size_t key_off, key_len; /* in the plan's `keys` */
	int32_t part;            /* give: the home */
	uint64_t group;          /* give: the home's batch */
	bool fresh;              /* give: to a home planned in the same round
				    (not saved) */
};

struct merge_end {
	uint64_t group;
	int32_t part;
	uint64_t batch;
	bool present;
};

struct merge_plan {
	struct merge_win *hold, *give;
	size_t nhold, ahold, ngive, agive;
	struct win_await *await;
	size_t nawait, aawait;
	struct merge_end *end;
	size_t nend, aend;
	struct buf keys;
};

void merge_plan_release(struct merge_plan *m);
static inline bool merge_plan_empty(const struct merge_plan *m)
{
	return !m->nhold && !m->ngive && !m->nend;
}

void merge_plan_hold(struct merge_plan *m, const char *key, size_t len, int64_t start_us);
/* Adds (part, batch) to the awaits unless it is there. */
void merge_plan_await(struct merge_plan *m, int32_t part, uint64_t batch);
void merge_plan_give(struct merge_plan *m, const char *key, size_t len, int64_t start_us,
		     int32_t part, uint64_t group);
void merge_plan_end(struct merge_plan *m, uint64_t group, int32_t part, uint64_t batch,
		    bool present);
static inline const char *merge_key(const struct merge_plan *m, const struct merge_win *w)
{
	return (const char *)m->keys.data + w->key_off;
}

/* Text form (appended to `out`) and back; `name` names the source in
 * errors. */
void merge_plan_save(const struct merge_plan *m, struct buf *out);
enum iot_err merge_plan_load(struct merge_plan *m, const char *text, size_t len,
			     const char *name, struct iot_error *err);

/* The hand-over object of giver (part, batch) to group `group` of the
 * partition whose checkpoint is `home_base` (ckpt_partition_uri). */
char *merge_handoff_uri(const char *home_base, uint64_t group, int32_t part,
			uint64_t batch);

/* A hand-over's content: the given windows, in the window state's text
 * form (winstate_load reads it). */
void merge_handoff_add(struct buf *out, const struct win_out *w, size_t nsums);

#endif
