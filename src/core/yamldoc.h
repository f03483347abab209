/*
 * yamldoc.h - a thin, read-only view of a YAML file loaded with libyaml's
 * document API, for the config loaders. Every node carries its line number
 * so errors can say "config/producer_config.yml:7: ...".
 *
 *	struct yamldoc *d = yamldoc_load(path, &err);
 *	yaml_node_t *root = yamldoc_root(d);
 *	... yamldoc_map_get(d, root, "kafka") ...
 *	yamldoc_destroy(d);
 *
 * Node pointers are owned by the document and live until yamldoc_destroy.
 *
 * The loader is stricter than YAML, because a config file that means two
 * things must not be read as one of them: a duplicate key in a mapping, a
 * second document, an alias (config files have no use for them, and they
 * are how a small file becomes a huge or cyclic tree), a mapping key that
 * is not a scalar and nesting deeper than YAMLDOC_MAX_DEPTH are refused
 * with the file and line, while parsing.
 */
#ifndef IOT_YAMLDOC_H
#define IOT_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "core/err.h"

struct yamldoc;

/* Our deepest config path is 5 levels (event_schema.fields[i].generate.*);
 * 64 leaves room for any sane file and refuses a hostile one after a few
 * hundred bytes instead of building its whole tree. */
#define YAMLDOC_MAX_DEPTH 64

struct yamldoc *yamldoc_load(const char *path, struct iot_error *err);
struct yamldoc *yamldoc_load_string(const char *name, const char *text,
				    size_t len, struct iot_error *err);
void yamldoc_destroy(struct yamldoc *d);

const char *yamldoc_path(const struct yamldoc *d);
yaml_node_t *yamldoc_root(struct yamldoc *d);
yaml_node_t *yamldoc_node(struct yamldoc *d, int index);
/* 1-based line of a node, for messages. */
int yamldoc_line(const yaml_node_t *n);

/* Scalar text of a node (NULL unless a scalar). */
const char *yamldoc_scalar(const yaml_node_t *n);
/* True for a plain (unquoted) scalar such as null, ~ or an empty value. */
bool yamldoc_is_null(const yaml_node_t *n);

/* Value under `key` in a mapping node, or NULL. */
yaml_node_t *yamldoc_map_get(struct yamldoc *d, yaml_node_t *map,
			     const char *key);

/* Iterates a mapping: for (i = 0; yamldoc_map_at(d, map, i, &k, &v); i++) */
bool yamldoc_map_at(struct yamldoc *d, yaml_node_t *map, size_t i,
		    yaml_node_t **key, yaml_node_t **value);
/* Iterates a sequence. */
size_t yamldoc_seq_len(const yaml_node_t *seq);
yaml_node_t *yamldoc_seq_at(struct yamldoc *d, yaml_node_t *seq, size_t i);

#endif
