/*
 * windows.c - per-partition window state (windows.h).
 *
 * A device keeps its open windows in a small array (typically one or two:
 * the current window and one held back by the watermark), so adding an
 * event is a hash lookup and a short scan. Emission sorts what it removes
 * by (key, start) so that the output order never depends on the order in
 * which devices were first seen: a replayed batch writes the same bytes.
 *
 * The saved form is line-oriented text:
 *	max <us>|-            highest event time
 *	emitted <us>|-        emitted-up-to time
 *	w <start_us> <count> <hexkey> <sum0 %a> <sum1 %a> ...
 *	h <group> <start_us> <count> <hexkey> <sums...>    a held window
 *	g <group> <part>:<batch> ...                        a group's awaits
 * A state without held windows reads and writes as before they existed.
 */
#include "core/hex.h"
#include "stream/windows.h"
#include "core/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

void winstate_init(struct winstate *ws, size_t nsums)
{
	memset(ws, 0, sizeof(*ws));
	ws->nsums = nsums;
	strmap_init(&ws->keys);
}

static void groups_clear(struct winstate *ws)
{
	for (size_t i = 0; i < ws->ngroups; i++)
		free(ws->groups[i].aw);
	free(ws->groups);
	ws->groups = NULL;
	ws->ngroups = ws->groups_alloc = 0;
}

void winstate_clear(struct winstate *ws)
{
	groups_clear(ws);
	for (size_t i = 0; i < ws->keys.n; i++) {
		for (size_t j = 0; j < ws->dev[i].n; j++)
			free(ws->dev[i].w[j].sums);
		free(ws->dev[i].w);
	}
	free(ws->dev);
	ws->dev = NULL;
	ws->ndev_alloc = 0;
	strmap_clear(&ws->keys);
	ws->open = 0;
	ws->has_max = ws->has_emitted = false;
	ws->max_event_us = ws->emitted_upto_us = 0;
}

void winstate_release(struct winstate *ws)
{
	winstate_clear(ws);
	strmap_release(&ws->keys);
}

static struct win_device *device(struct winstate *ws, const char *key, size_t len)
{
	size_t i = strmap_intern(&ws->keys, key, len);
	if (i >= ws->ndev_alloc) {
		size_t old = ws->ndev_alloc, a = old ? old * 2 : 64;
		while (a <= i)
			a *= 2;
		ws->dev = xrealloc(ws->dev, st_mult(a, sizeof(*ws->dev)));
		memset(ws->dev + old, 0, (a - old) * sizeof(*ws->dev));
		ws->ndev_alloc = a;
	}
	return &ws->dev[i];
}

static struct win *window(struct winstate *ws, struct win_device *d, int64_t start)
{
	for (size_t j = 0; j < d->n; j++)
		if (d->w[j].start_us == start)
			return &d->w[j];
	ALLOC_GROW(d->w, d->n + 1, d->alloc);
	d->w[d->n].start_us = start;
	d->w[d->n].count = 0;
	d->w[d->n].sums = xcalloc(ws->nsums ? ws->nsums : 1, sizeof(double));
	d->w[d->n].held = 0;
	ws->open++;
	return &d->w[d->n++];
}

void winstate_add(struct winstate *ws, const char *key, size_t key_len,
		  int64_t t_us, int64_t size_us, const double *sums)
{
	struct win *w = window(ws, device(ws, key, key_len), win_align(t_us, size_us));
	w->count++;
	for (size_t k = 0; k < ws->nsums; k++)
		w->sums[k] += sums[k];
	if (!ws->has_max || t_us > ws->max_event_us) {
		ws->max_event_us = t_us;
		ws->has_max = true;
	}
}

static struct win *find(const struct winstate *ws, const char *key, size_t len,
			int64_t start)
{
	long f = strmap_find(&ws->keys, key, len);
	size_t i = (size_t)f;
	if (f < 0)
		return NULL;
	for (size_t j = 0; j < ws->dev[i].n; j++)
		if (ws->dev[i].w[j].start_us == start)
			return &ws->dev[i].w[j];
	return NULL;
}

uint64_t winstate_held_by(const struct winstate *ws, const char *key, size_t key_len,
			  int64_t start_us)
{
	const struct win *w = find(ws, key, key_len, start_us);
	return w ? w->held : 0;
}

bool winstate_hold(struct winstate *ws, const char *key, size_t key_len,
		   int64_t start_us, uint64_t group)
{
	struct win *w = find(ws, key, key_len, start_us);
	if (!w)
		return false;
	w->held = group;
	return true;
}

void winstate_merge(struct winstate *ws, const char *key, size_t key_len,
		    int64_t start_us, int64_t count, const double *sums, uint64_t group)
{
	struct win *w = window(ws, device(ws, key, key_len), start_us);
	w->count += count;
	for (size_t k = 0; k < ws->nsums; k++)
		w->sums[k] += sums[k];
	if (!w->held)
		w->held = group;
}

void winstate_group_add(struct winstate *ws, uint64_t id, const struct win_await *aw,
			size_t n)
{
	struct win_group *g;
	ALLOC_GROW(ws->groups, ws->ngroups + 1, ws->groups_alloc);
	g = &ws->groups[ws->ngroups++];
	g->id = id;
	g->n = n;
	g->aw = xcalloc(n ? n : 1, sizeof(*aw));
	if (n)
		memcpy(g->aw, aw, n * sizeof(*aw));
}

bool winstate_group_end(struct winstate *ws, uint64_t id)
{
	size_t gi;
	for (gi = 0; gi < ws->ngroups && ws->groups[gi].id != id; gi++)
		;
	if (gi == ws->ngroups)
		return false;
	free(ws->groups[gi].aw);
	memmove(ws->groups + gi, ws->groups + gi + 1,
		(ws->ngroups - gi - 1) * sizeof(*ws->groups));
	ws->ngroups--;
	for (size_t i = 0; i < ws->keys.n; i++)
		for (size_t j = 0; j < ws->dev[i].n; j++)
			if (ws->dev[i].w[j].held == id)
				ws->dev[i].w[j].held = 0;
	return true;
}

static int cmp_out(const void *a, const void *b)
{
	const struct win_out *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->start_us < y->start_us ? -1 : x->start_us > y->start_us;
}

void winstate_emit(struct winstate *ws, int64_t upto_us, int64_t size_us,
		   struct win_out_list *out)
{
	size_t first = out->n;

	for (size_t i = 0; i < ws->keys.n; i++) {
		struct win_device *d = &ws->dev[i];
		size_t keep = 0, klen;
		const char *key = strmap_key(&ws->keys, i, &klen);
		for (size_t j = 0; j < d->n; j++) {
			struct win *w = &d->w[j];
			if (!w->held && w->start_us + size_us <= upto_us) {
				struct win_out *o;
				ALLOC_GROW(out->items, out->n + 1, out->alloc);
				o = &out->items[out->n++];
				o->key_off = out->keys.len;
				o->key_len = klen;
				buf_append(&out->keys, key, klen);
				o->start_us = w->start_us;
				o->end_us = w->start_us + size_us;
				o->count = w->count;
				o->sums = w->sums; /* ownership moves to the list */
				ws->open--;
			} else {
				d->w[keep++] = *w;
			}
		}
		d->n = keep;
	}
	/* the key buffer may have moved while growing: point into it now */
	for (size_t k = 0; k < out->n; k++)
		out->items[k].key = (const char *)out->keys.data + out->items[k].key_off;
	if (out->n - first > 1)
		qsort(out->items + first, out->n - first, sizeof(*out->items), cmp_out);
	if (!ws->has_emitted || upto_us > ws->emitted_upto_us) {
		ws->emitted_upto_us = upto_us;
		ws->has_emitted = true;
	}
}

void win_out_list_release(struct win_out_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((void *)l->items[i].sums);
	free(l->items);
	buf_release(&l->keys);
	memset(l, 0, sizeof(*l));
}

static void put_opt(struct buf *out, const char *name, bool has, int64_t v)
{
	if (has)
		buf_printf(out, "%s %" PRId64 "\n", name, v);
	else
		buf_printf(out, "%s -\n", name);
}

void win_put_key(struct buf *out, const char *key, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t k = 0; k < len; k++) {
		buf_putc(out, (uint8_t)hex[(unsigned char)key[k] >> 4]);
		buf_putc(out, (uint8_t)hex[(unsigned char)key[k] & 15]);
	}
}

const char *win_get_key(const char *p, char *out, size_t cap, size_t *len)
{
	*len = 0;
	while (*p && *p != ' ') {
		int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
		if (lo < 0 || *len >= cap)
			return NULL;
		out[(*len)++] = (char)(hi << 4 | lo);
		p += 2;
	}
	return p;
}

void winstate_save(const struct winstate *ws, struct buf *out)
{
	if (ws->fields)
		buf_printf(out, "fields %s\n", ws->fields);
	put_opt(out, "max", ws->has_max, ws->max_event_us);
	put_opt(out, "emitted", ws->has_emitted, ws->emitted_upto_us);
	for (size_t i = 0; i < ws->keys.n; i++) {
		size_t klen;
		const char *key = strmap_key(&ws->keys, i, &klen);
		for (size_t j = 0; j < ws->dev[i].n; j++) {
			const struct win *w = &ws->dev[i].w[j];
			if (w->held)
				buf_printf(out, "h %" PRIu64 " ", w->held);
			else
				buf_puts(out, "w ");
			buf_printf(out, "%" PRId64 " %" PRId64 " ", w->start_us, w->count);
			win_put_key(out, key, klen);
			for (size_t k = 0; k < ws->nsums; k++)
				buf_printf(out, " %a", w->sums[k]);
			buf_putc(out, '\n');
		}
	}
	for (size_t i = 0; i < ws->ngroups; i++) {
		buf_printf(out, "g %" PRIu64, ws->groups[i].id);
		for (size_t k = 0; k < ws->groups[i].n; k++)
			buf_printf(out, " %" PRId32 ":%" PRIu64, ws->groups[i].aw[k].part,
				   ws->groups[i].aw[k].batch);
		buf_putc(out, '\n');
	}
}

/*
 * perm[k] = where the schema's float field k is in the writer's list
 * `was` (both comma-joined, escaped names): true when both name the same
 * fields, in any order. A schema whose float fields were only reordered
 * keeps its windows.
 */
static bool fields_perm(const char *was, const char *now, size_t n, size_t *perm)
{
	size_t nw = 0;
	const char *w[64];
	size_t wl[64];

	for (const char *p = was; *p; nw++) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (nw == 64)
			return false;
		w[nw] = p;
		wl[nw] = l;
		p += l + (c != NULL);
	}
	if (nw != n)
		return false;
	for (size_t k = 0; k < n; k++) {
		const char *c = strchr(now, ',');
		size_t l = c ? (size_t)(c - now) : strlen(now), i;
		for (i = 0; i < nw; i++)
			if (wl[i] == l && !memcmp(w[i], now, l))
				break;
		if (i == nw)
			return false;
		perm[k] = i;
		now += l + (c != NULL);
	}
	/* a name twice would leave another out */
	for (size_t k = 0; k < n; k++)
		for (size_t m = k + 1; m < n; m++)
			if (perm[k] == perm[m])
				return false;
	return true;
}

enum iot_err winstate_load(struct winstate *ws, const char *text, size_t len,
			   const char *name, struct iot_error *err)
{
	char *copy = xstrndup(text, len), *line = copy, *next;
	char keybuf[600];
	const char *fields = NULL; /* the writer's, when it said */
	bool sums_checked = false, reordered = false;
	size_t perm[64];
	int lineno = 0;
	enum iot_err rc = IOT_OK;

	winstate_clear(ws);
	for (; line && *line; line = next) {
		char *p, *end;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!*line)
			continue;
		if (!strncmp(line, "fields ", 7)) {
			fields = line + 7;
		} else if (!strncmp(line, "max ", 4) || !strncmp(line, "emitted ", 8)) {
			bool is_max = line[0] == 'm';
			p = line + (is_max ? 4 : 8);
			if (!strcmp(p, "-"))
				continue;
			errno = 0;
			int64_t v = strtoll(p, &end, 10);
			if (errno || *end)
				goto bad;
			if (is_max)
				ws->has_max = true, ws->max_event_us = v;
			else
				ws->has_emitted = true, ws->emitted_upto_us = v;
		} else if (!strncmp(line, "g ", 2)) {
			struct win_await aw[64];
			size_t n = 0;
			uint64_t id;
			errno = 0;
			id = strtoull(line + 2, &end, 10);
			if (errno || !id || (*end && *end != ' '))
				goto bad;
			for (p = end; *p; p = end) {
				long part;
				if (*p != ' ' || n >= sizeof(aw) / sizeof(aw[0]))
					goto bad;
				part = strtol(p + 1, &end, 10);
				if (errno || *end != ':' || part < 0 || part > INT32_MAX)
					goto bad;
				aw[n].part = (int32_t)part;
				aw[n].batch = strtoull(end + 1, &end, 10);
				if (errno || !aw[n].batch)
					goto bad;
				n++;
			}
			winstate_group_add(ws, id, aw, n);
		} else if (!strncmp(line, "w ", 2) || !strncmp(line, "h ", 2)) {
			int64_t start, count;
			uint64_t held = 0;
			size_t klen;
			double sums[64];
			struct win *w;
			p = line + 2;
			errno = 0;
			if (line[0] == 'h') {
				held = strtoull(p, &end, 10);
				if (errno || !held || *end != ' ')
					goto bad;
				p = end + 1;
			}
			start = strtoll(p, &end, 10);
			if (errno || *end != ' ')
				goto bad;
			count = strtoll(end + 1, &end, 10);
			if (errno || *end != ' ' || count < 0)
				goto bad;
			{
				const char *ke = win_get_key(end + 1, keybuf, sizeof(keybuf), &klen);
				if (!ke)
					goto bad;
				p = end + 1 + (ke - (end + 1));
			}
			if (ws->nsums > 64)
				goto bad;
			if (!sums_checked) {
				/* the first window: are its sums this schema's? One
				 * " %a" per float field of the schema that wrote it */
				size_t have = 0;
				for (const char *q = p; *q; q++)
					have += *q == ' ';
				sums_checked = true;
				if (fields && ws->fields && strcmp(fields, ws->fields) != 0 &&
				    ws->nsums <= 64 && fields_perm(fields, ws->fields, ws->nsums, perm))
					reordered = true; /* the same fields, in another order */
				else if (fields && ws->fields ? strcmp(fields, ws->fields) != 0
							      : have != ws->nsums) {
					struct buf was = BUF_INIT, now = BUF_INIT;
					if (fields && ws->fields) {
						buf_printf(&was, "the float fields %s", fields);
						buf_puts(&now, *ws->fields ? ws->fields : "none");
					} else {
						buf_printf(&was, "%zu float fields", have);
						buf_printf(&now, "%zu", ws->nsums);
					}
					rc = iot_error_set(
						err, IOT_ERR_CONFIG,
						"%s: its open windows keep sums of %s, and the schema now has "
						"%s: windows cannot be carried across a change of the schema's "
						"float fields; emit them with the old schema first (stop the "
						"producers and let --idle-timeout close them), or give a new "
						"--output and --checkpoint",
						name, buf_str(&was), buf_str(&now));
					buf_release(&was);
					buf_release(&now);
					free(copy);
					winstate_clear(ws);
					return rc;
				}
			}
			for (size_t k = 0; k < ws->nsums; k++) {
				if (*p != ' ')
					goto bad;
				sums[k] = strtod(p + 1, &end);
				if (end == p + 1)
					goto bad;
				p = end;
			}
			if (*p)
				goto bad;
			if (reordered) {
				double was[64];
				memcpy(was, sums, ws->nsums * sizeof(double));
				for (size_t k = 0; k < ws->nsums; k++)
					sums[k] = was[perm[k]];
			}
			w = window(ws, device(ws, keybuf, klen), start);
			w->count = count;
			w->held = held;
			memcpy(w->sums, sums, ws->nsums * sizeof(double));
		} else {
			goto bad;
		}
	}
	/* a held window whose group is missing would be held for ever */
	for (size_t i = 0; i < ws->keys.n; i++)
		for (size_t j = 0; j < ws->dev[i].n; j++) {
			size_t g;
			for (g = 0; g < ws->ngroups && ws->groups[g].id != ws->dev[i].w[j].held; g++)
				;
			if (ws->dev[i].w[j].held && g == ws->ngroups) {
				uint64_t held = ws->dev[i].w[j].held;
				free(copy);
				winstate_clear(ws);
				return iot_error_set(err, IOT_ERR_FORMAT,
						     "%s: corrupt window state: a window held by group %" PRIu64
						     " that is not listed", name, held);
			}
		}
	free(copy);
	return rc;
bad:
	free(copy);
	winstate_clear(ws);
	return iot_error_set(err, IOT_ERR_FORMAT, "%s: line %d: corrupt window state",
			     name, lineno);
}

bool watermark_advance(const struct wm_part *v, size_t n, double now, double idle_timeout_s,
		       int64_t delay_us, bool *has, int64_t *wm)
{
	bool any_active = false, any = false;
	int64_t min_active = 0, max_all = 0, cand;
	double last_any = 0;

	for (size_t i = 0; i < n; i++) {
		const struct winstate *ws = v[i].ws;
		bool idle = idle_timeout_s > 0 && now - v[i].last_arrival >= idle_timeout_s;
		if (!ws->has_max) {
			/* no event yet: it holds the watermark where it is until
			 * it reaches its end or goes idle, or the others would
			 * close windows that its unread records belong to */
			if (!v[i].at_end && !idle)
				return *has;
			continue;
		}
		if (!any || ws->max_event_us > max_all)
			max_all = ws->max_event_us;
		if (!any || v[i].last_arrival > last_any)
			last_any = v[i].last_arrival;
		any = true;
		if (!idle && (!any_active || ws->max_event_us < min_active)) {
			min_active = ws->max_event_us;
			any_active = true;
		}
	}
	if (!any)
		return false;
	if (any_active)
		cand = min_active - delay_us;
	else /* everything idle: advance with processing time */
		cand = max_all - delay_us + (int64_t)((now - last_any) * 1e6);
	if (!*has || cand > *wm) {
		*wm = cand;
		*has = true;
	}
	return true;
}
