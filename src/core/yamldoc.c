/*
 * yamldoc.c - loads a YAML file into libyaml's document tree (yamldoc.h).
 * Parse errors are reported with the file, line and libyaml's reason. Only
 * the first document of a stream is read; config files hold one.
 */
#include "core/yamldoc.h"
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

static struct yamldoc *load(struct yamldoc *d, yaml_parser_t *p,
			    struct iot_error *err)
{
	if (!yaml_parser_load(p, &d->doc)) {
		iot_error_set(err, IOT_ERR_CONFIG, "%s:%zu: invalid YAML: %s%s%s",
			      d->path, p->problem_mark.line + 1,
			      p->problem ? p->problem : "parse error",
			      p->context ? " " : "", p->context ? p->context : "");
		yaml_parser_delete(p);
		free(d->path);
		free(d);
		return NULL;
	}
	d->loaded = true;
	yaml_parser_delete(p);
	return d;
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
