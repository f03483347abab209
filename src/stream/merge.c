/*
 * merge.c - the text of a batch's merge plan and of hand-over objects
 * (merge.h). The decisions themselves are taken in sink_aggregate.c,
 * which sees every partition of a commit round.
 */
#include "stream/merge.h"
#include "core/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

void merge_plan_release(struct merge_plan *m)
{
	free(m->hold);
	free(m->give);
	free(m->await);
	free(m->end);
	buf_release(&m->keys);
	memset(m, 0, sizeof(*m));
}

static struct merge_win *add_win(struct merge_plan *m, struct merge_win **v, size_t *n,
				 size_t *alloc, const char *key, size_t len, int64_t start_us)
{
	struct merge_win *w;
	ALLOC_GROW(*v, *n + 1, *alloc);
	w = &(*v)[(*n)++];
	memset(w, 0, sizeof(*w));
	w->start_us = start_us;
	w->key_off = m->keys.len;
	w->key_len = len;
	buf_append(&m->keys, key, len);
	return w;
}

void merge_plan_hold(struct merge_plan *m, const char *key, size_t len, int64_t start_us)
{
	add_win(m, &m->hold, &m->nhold, &m->ahold, key, len, start_us);
}

void merge_plan_await(struct merge_plan *m, int32_t part, uint64_t batch)
{
	for (size_t i = 0; i < m->nawait; i++)
		if (m->await[i].part == part && m->await[i].batch == batch)
			return;
	ALLOC_GROW(m->await, m->nawait + 1, m->aawait);
	m->await[m->nawait++] = (struct win_await){ part, batch };
}

void merge_plan_give(struct merge_plan *m, const char *key, size_t len, int64_t start_us,
		     int32_t part, uint64_t group)
{
	struct merge_win *w = add_win(m, &m->give, &m->ngive, &m->agive, key, len, start_us);
	w->part = part;
	w->group = group;
}

void merge_plan_end(struct merge_plan *m, uint64_t group, int32_t part, uint64_t batch,
		    bool present)
{
	ALLOC_GROW(m->end, m->nend + 1, m->aend);
	m->end[m->nend++] = (struct merge_end){ group, part, batch, present };
}

void merge_plan_save(const struct merge_plan *m, struct buf *out)
{
	for (size_t i = 0; i < m->nhold; i++) {
		buf_printf(out, "hold %" PRId64 " ", m->hold[i].start_us);
		win_put_key(out, merge_key(m, &m->hold[i]), m->hold[i].key_len);
		buf_putc(out, '\n');
	}
	for (size_t i = 0; i < m->nawait; i++)
		buf_printf(out, "await %" PRId32 " %" PRIu64 "\n", m->await[i].part,
			   m->await[i].batch);
	for (size_t i = 0; i < m->ngive; i++) {
		buf_printf(out, "give %" PRId32 " %" PRIu64 " %" PRId64 " ", m->give[i].part,
			   m->give[i].group, m->give[i].start_us);
		win_put_key(out, merge_key(m, &m->give[i]), m->give[i].key_len);
		buf_putc(out, '\n');
	}
	for (size_t i = 0; i < m->nend; i++)
		buf_printf(out, "end %" PRIu64 " %" PRId32 " %" PRIu64 " %d\n", m->end[i].group,
			   m->end[i].part, m->end[i].batch, m->end[i].present ? 1 : 0);
}

/* Reads one number followed by a space (or the end when `last`). */
static bool num(const char **p, bool is_signed, bool last, int64_t *v)
{
	char *e;
	errno = 0;
	if (is_signed) {
		*v = strtoll(*p, &e, 10);
	} else {
		unsigned long long u;
		if (**p < '0' || **p > '9')
			return false;
		u = strtoull(*p, &e, 10);
		if (u > INT64_MAX)
			return false;
		*v = (int64_t)u;
	}
	if (errno || e == *p || (last ? *e != '\0' : *e != ' '))
		return false;
	*p = last ? e : e + 1;
	return true;
}

enum iot_err merge_plan_load(struct merge_plan *m, const char *text, size_t len,
			     const char *name, struct iot_error *err)
{
	/* a plan without merge lines has no text at all (NULL, 0) */
	char *copy = xstrndup(text ? text : "", len), *line, *next;
	char key[600];
	int lineno = 0;

	merge_plan_release(m);
	for (line = copy; line && *line; line = next) {
		const char *p;
		int64_t a, b, c, d;
		size_t klen;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!strncmp(line, "hold ", 5)) {
			p = line + 5;
			if (!num(&p, true, false, &a) ||
			    !(p = win_get_key(p, key, sizeof(key), &klen)) || *p)
				goto bad;
			merge_plan_hold(m, key, klen, a);
		} else if (!strncmp(line, "await ", 6)) {
			p = line + 6;
			if (!num(&p, false, false, &a) || !num(&p, false, true, &b) ||
			    a > INT32_MAX || !b)
				goto bad;
			merge_plan_await(m, (int32_t)a, (uint64_t)b);
		} else if (!strncmp(line, "give ", 5)) {
			p = line + 5;
			if (!num(&p, false, false, &a) || !num(&p, false, false, &b) ||
			    !num(&p, true, false, &c) || a > INT32_MAX || !b ||
			    !(p = win_get_key(p, key, sizeof(key), &klen)) || *p)
				goto bad;
			merge_plan_give(m, key, klen, c, (int32_t)a, (uint64_t)b);
		} else if (!strncmp(line, "end ", 4)) {
			p = line + 4;
			if (!num(&p, false, false, &a) || !num(&p, false, false, &b) ||
			    !num(&p, false, false, &c) || !num(&p, false, true, &d) || !a ||
			    b > INT32_MAX || !c || d > 1)
				goto bad;
			merge_plan_end(m, (uint64_t)a, (int32_t)b, (uint64_t)c, d == 1);
		} else if (*line) {
			goto bad;
		}
	}
	free(copy);
	return IOT_OK;
bad:
	free(copy);
	merge_plan_release(m);
	return iot_error_set(err, IOT_ERR_FORMAT, "%s: line %d of the merge plan is corrupt",
			     name, lineno);
}

char *merge_handoff_uri(const char *home_base, uint64_t group, int32_t part,
			uint64_t batch)
{
	return xasprintf("%shandoff-%020" PRIu64 "-%" PRId32 "-%020" PRIu64, home_base, group,
			 part, batch);
}

void merge_handoff_add(struct buf *out, const struct win_out *w, size_t nsums)
{
	buf_printf(out, "w %" PRId64 " %" PRId64 " ", w->start_us, w->count);
	win_put_key(out, w->key, w->key_len);
	for (size_t k = 0; k < nsums; k++)
		buf_printf(out, " %a", w->sums[k]);
	buf_putc(out, '\n');
}
