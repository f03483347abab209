/*
 * yamldoc.c - loads a YAML file into libyaml's document tree (yamldoc.h).
 *
 * Instead of libyaml's own composer (yaml_parser_load) this file builds
 * the tree from the parser's events, so that it can refuse, at the event
 * where they appear, what a config file must not contain: a second
 * document, an alias, a non-scalar mapping key, a key given twice in one
 * mapping, and nesting deeper than YAMLDOC_MAX_DEPTH. The depth limit is
 * what keeps a hostile file cheap: libyaml spends quadratic time on deep
 * flow nesting ("[[[[..."), and stopping at the 65th level means it never
 * gets far. Every error names the file and line. Nodes carry their marks
 * (line numbers) as yaml_parser_load would set them. Any thread; no state
 * outside the struct.
 */
#include "core/yamldoc.h"
#include "core/log.h"
#include "core/strmap.h"
#include "core/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

struct yamldoc {
	char *path;
	yaml_document_t doc;
	bool loaded;
};

/* An open sequence or mapping while composing. */
struct frame {
	int node;          /* its node id */
	int key;           /* mapping: the key waiting for its value, or 0 */
	struct strmap seen; /* mapping: the keys so far */
};

struct composer {
	struct yamldoc *d;
	struct frame st[YAMLDOC_MAX_DEPTH];
	int depth;
	int ndocs;
};

static size_t line_of(yaml_mark_t m) { return m.line + 1; }

static void set_marks(struct composer *c, int id, const yaml_event_t *ev)
{
	yaml_node_t *n = yaml_document_get_node(&c->d->doc, id);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

/* The line of the first key `text` in mapping `map` (for the message). */
static size_t first_key_line(struct composer *c, int map, const char *text)
{
	yaml_node_t *m = yaml_document_get_node(&c->d->doc, map);

	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&c->d->doc, p->key);
		if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, text))
			return line_of(k->start_mark);
	}
	return 0;
}

/* Hangs node `id` under the innermost open collection (or makes it the
 * root: the first node added is the document's root). */
static enum iot_err attach(struct composer *c, int id, const yaml_event_t *ev,
			   struct iot_error *err)
{
	struct frame *f;
	yaml_node_t *n;

	if (c->depth == 0)
		return IOT_OK;
	f = &c->st[c->depth - 1];
	n = yaml_document_get_node(&c->d->doc, f->node);
	if (n->type == YAML_SEQUENCE_NODE) {
		/* fails only when out of memory, which aborts (xalloc.h) */
		IOT_ASSERT(yaml_document_append_sequence_item(&c->d->doc, f->node, id));
		return IOT_OK;
	}
	if (f->key) {
		IOT_ASSERT(yaml_document_append_mapping_pair(&c->d->doc, f->node, f->key, id));
		f->key = 0;
		return IOT_OK;
	}
	/* a key */
	n = yaml_document_get_node(&c->d->doc, id);
	if (n->type != YAML_SCALAR_NODE)
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "%s:%zu: a mapping key must be a plain string, not a %s",
				     c->d->path, line_of(ev->start_mark),
				     n->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
	{
		const char *text = (const char *)n->data.scalar.value;
		size_t len = n->data.scalar.length;
		if (strmap_find(&f->seen, text, len) >= 0)
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s:%zu: duplicate key '%.*s' (first at line %zu)",
					     c->d->path, line_of(ev->start_mark),
					     len > 200 ? 200 : (int)len, text,
					     first_key_line(c, f->node, text));
		strmap_intern(&f->seen, text, len);
	}
	f->key = id;
	return IOT_OK;
}

static enum iot_err on_event(struct composer *c, const yaml_event_t *ev,
			     struct iot_error *err)
{
	yaml_document_t *doc = &c->d->doc;
	const char *path = c->d->path;
	int id;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (c->ndocs++)
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s:%zu: a second YAML document; a config file holds one",
					     path, line_of(ev->start_mark));
		IOT_ASSERT(yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1));
		c->d->loaded = true;
		return IOT_OK;
	case YAML_ALIAS_EVENT:
		return iot_error_set(err, IOT_ERR_CONFIG,
				     "%s:%zu: YAML alias '*%.100s': aliases are not allowed in config files",
				     path, line_of(ev->start_mark), (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		id = yaml_document_add_scalar(doc, ev->data.scalar.tag, ev->data.scalar.value,
					      (int)ev->data.scalar.length, ev->data.scalar.style);
		if (!id)
			return iot_error_set(err, IOT_ERR_CONFIG, "%s:%zu: cannot store this value",
					     path, line_of(ev->start_mark));
		set_marks(c, id, ev);
		return attach(c, id, ev, err);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (c->depth == YAMLDOC_MAX_DEPTH)
			return iot_error_set(err, IOT_ERR_CONFIG,
					     "%s:%zu: nested deeper than %d levels",
					     path, line_of(ev->start_mark), YAMLDOC_MAX_DEPTH);
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			id = yaml_document_add_sequence(doc, ev->data.sequence_start.tag,
							ev->data.sequence_start.style);
		else
			id = yaml_document_add_mapping(doc, ev->data.mapping_start.tag,
						       ev->data.mapping_start.style);
		if (!id)
			return iot_error_set(err, IOT_ERR_CONFIG, "%s:%zu: cannot store this value",
					     path, line_of(ev->start_mark));
		set_marks(c, id, ev);
		if (attach(c, id, ev, err))
			return err->code;
		c->st[c->depth].node = id;
		c->st[c->depth].key = 0;
		strmap_init(&c->st[c->depth].seen);
		c->depth++;
		return IOT_OK;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		c->depth--;
		yaml_document_get_node(doc, c->st[c->depth].node)->end_mark = ev->end_mark;
		strmap_release(&c->st[c->depth].seen);
		return IOT_OK;
	default:
		return IOT_OK;
	}
}

static struct yamldoc *load(struct yamldoc *d, yaml_parser_t *p,
			    struct iot_error *err)
{
	struct composer c;
	bool done = false;

	memset(&c, 0, sizeof(c));
	c.d = d;
	while (!done) {
		yaml_event_t ev;
		enum iot_err rc;

		if (!yaml_parser_parse(p, &ev)) {
			iot_error_set(err, IOT_ERR_CONFIG, "%s:%zu: invalid YAML: %s%s%s",
				      d->path, p->problem_mark.line + 1,
				      p->problem ? p->problem : "parse error",
				      p->context ? " " : "", p->context ? p->context : "");
			goto fail;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = on_event(&c, &ev, err);
		yaml_event_delete(&ev);
		if (rc)
			goto fail;
	}
	/* an empty stream: an empty document, as yaml_parser_load gives */
	if (!d->loaded) {
		IOT_ASSERT(yaml_document_initialize(&d->doc, NULL, NULL, NULL, 1, 1));
		d->loaded = true;
	}
	yaml_parser_delete(p);
	return d;
fail:
	while (c.depth > 0)
		strmap_release(&c.st[--c.depth].seen);
	yaml_parser_delete(p);
	yamldoc_destroy(d);
	return NULL;
}

struct yamldoc *yamldoc_load(const char *path, struct iot_error *err)
{
	struct yamldoc *d;
	yaml_parser_t p;
	FILE *f = fopen(path, "rb");
	struct yamldoc *ret;

	if (!f) {
		iot_error_set(err, IOT_ERR_CONFIG, "%s: cannot open config file: %s",
			      path, strerror(errno));
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(path);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	ret = load(d, &p, err);
	fclose(f);
	return ret;
}

struct yamldoc *yamldoc_load_string(const char *name, const char *text,
				    size_t len, struct iot_error *err)
{
	struct yamldoc *d = xcalloc(1, sizeof(*d));
	yaml_parser_t p;

	d->path = xstrdup(name);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	return load(d, &p, err);
}

void yamldoc_destroy(struct yamldoc *d)
{
	if (!d)
		return;
	if (d->loaded)
		yaml_document_delete(&d->doc);
	free(d->path);
	free(d);
}

const char *yamldoc_path(const struct yamldoc *d) { return d->path; }

yaml_node_t *yamldoc_root(struct yamldoc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

yaml_node_t *yamldoc_node(struct yamldoc *d, int index)
{
	return yaml_document_get_node(&d->doc, index);
}

int yamldoc_line(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

const char *yamldoc_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool yamldoc_is_null(const yaml_node_t *n)
{
	const char *s;
	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = yamldoc_scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

bool yamldoc_map_at(struct yamldoc *d, yaml_node_t *map, size_t i,
		    yaml_node_t **key, yaml_node_t **value)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return false;
	pair = map->data.mapping.pairs.start + i;
	if (pair >= map->data.mapping.pairs.top)
		return false;
	*key = yamldoc_node(d, pair->key);
	*value = yamldoc_node(d, pair->value);
	return true;
}

yaml_node_t *yamldoc_map_get(struct yamldoc *d, yaml_node_t *map,
			     const char *key)
{
	yaml_node_t *k, *v;

	for (size_t i = 0; yamldoc_map_at(d, map, i, &k, &v); i++) {
		const char *s = yamldoc_scalar(k);
		if (s && !strcmp(s, key))
			return v;
	}
	return NULL;
}

size_t yamldoc_seq_len(const yaml_node_t *seq)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(seq->data.sequence.items.top -
			seq->data.sequence.items.start);
}

yaml_node_t *yamldoc_seq_at(struct yamldoc *d, yaml_node_t *seq, size_t i)
{
	if (i >= yamldoc_seq_len(seq))
		return NULL;
	return yamldoc_node(d, seq->data.sequence.items.start[i]);
}
