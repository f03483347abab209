/*
 * opt.c - the option parser of opt.h. Accepts "--name value",
 * "--name=value", "-x value", "-xvalue" and bundled short booleans are not
 * supported on purpose (they are rare and ambiguous with values).
 * Numbers are parsed strictly and checked against the range in their row
 * (core/range.c, shared with the config loader): "10x", "" or a value out
 * of range is an error naming the flag and the allowed range. An
 * OPT_SETTING row's text is kept as given: the settings table checks it.
 */
#include "core/opt.h"
#include "core/log.h"
#include "core/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

const struct opt *opt_find(const struct opt *opts, const char *long_name)
{
	for (; opts->type != OPT_T_END; opts++)
		if (opts->long_name && !strcmp(opts->long_name, long_name))
			return opts;
	return NULL;
}

bool opt_was_given(const struct opt *opts, const char *long_name)
{
	const struct opt *o = opt_find(opts, long_name);
	return o && o->seen > 0;
}

void opt_list_release(struct opt_list *l)
{
	free(l->items);
	l->items = NULL;
	l->n = l->alloc = 0;
}

static enum iot_err set_value(struct opt *o, const char *flag, const char *arg,
			      struct iot_error *err)
{
	char why[256];

	switch (o->type) {
	case OPT_T_STRING:
		*(const char **)o->value = arg;
		break;
	case OPT_T_LIST: {
		struct opt_list *l = o->value;
		ALLOC_GROW(l->items, l->n + 1, l->alloc);
		l->items[l->n++] = arg;
		break;
	}
	case OPT_T_SETTING:
		/* checked by the settings table when applied (opt.h) */
		o->arg = arg;
		break;
	case OPT_T_LONG:
		if (!num_parse_long(arg, &o->range, o->value, why, sizeof(why)))
			return iot_error_set(err, IOT_ERR_USAGE, "option %s: %s",
					     flag, why);
		break;
	case OPT_T_DOUBLE:
		if (!num_parse_double(arg, &o->range, o->value, why, sizeof(why)))
			return iot_error_set(err, IOT_ERR_USAGE, "option %s: %s",
					     flag, why);
		break;
	default:
		break;
	}
	return IOT_OK;
}

static struct opt *find_long(struct opt *opts, const char *name, size_t len)
{
	for (; opts->type != OPT_T_END; opts++)
		if (opts->long_name && strlen(opts->long_name) == len &&
		    !strncmp(opts->long_name, name, len))
			return opts;
	return NULL;
}

static struct opt *find_short(struct opt *opts, char c)
{
	for (; opts->type != OPT_T_END; opts++)
		if (opts->short_name && opts->short_name == c)
			return opts;
	return NULL;
}

int opt_parse(int argc, char **argv, struct opt *opts,
	      const struct opt_usage *usage, struct iot_error *err)
{
	int npos = 0;
	bool only_pos = false;

	/* a numeric row without a range is a bug in the table, not input */
	for (const struct opt *o = opts; o->type != OPT_T_END; o++)
		if (o->type == OPT_T_LONG || o->type == OPT_T_DOUBLE)
			IOT_ASSERT(num_range_valid(&o->range));

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		struct opt *o = NULL;
		const char *inline_val = NULL;
		char flag[128];

		if (only_pos || a[0] != '-' || !a[1]) {
			argv[npos++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = true;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			opt_print_help(stdout, opts, usage);
			return OPT_RC_HELP;
		}
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(opts, name, len);
			if (eq)
				inline_val = eq + 1;
			snprintf(flag, sizeof(flag), "--%.*s", (int)len, name);
		} else {
			o = find_short(opts, a[1]);
			if (a[2])
				inline_val = a + 2;
			snprintf(flag, sizeof(flag), "-%c", a[1]);
		}
		if (!o || o->type == OPT_T_GROUP) {
			iot_error_set(err, IOT_ERR_USAGE, "unknown option '%s'",
				      flag);
			return OPT_RC_ERROR;
		}
		o->seen++;
		if (o->type == OPT_T_BOOL) {
			if (inline_val) {
				iot_error_set(err, IOT_ERR_USAGE,
					      "option %s takes no value", flag);
				return OPT_RC_ERROR;
			}
			*(bool *)o->value = true;
			continue;
		}
		if (!inline_val) {
			if (i + 1 >= argc) {
				iot_error_set(err, IOT_ERR_USAGE,
					      "option %s needs a value (%s)",
					      flag, o->argh ? o->argh : "VALUE");
				return OPT_RC_ERROR;
			}
			inline_val = argv[++i];
		}
		if (set_value(o, flag, inline_val, err) != IOT_OK)
			return OPT_RC_ERROR;
	}
	return npos;
}

void opt_print_help(void *fp, const struct opt *opts,
		    const struct opt_usage *usage)
{
	FILE *f = fp;

	fprintf(f, "usage: %s\n", usage->synopsis);
	if (usage->description)
		fprintf(f, "\n%s\n", usage->description);
	fprintf(f, "\n");
	for (; opts->type != OPT_T_END; opts++) {
		char left[96];
		int n = 0;

		if (opts->type == OPT_T_GROUP) {
			fprintf(f, "\n%s\n", opts->help);
			continue;
		}
		if (opts->short_name)
			n = snprintf(left, sizeof(left), "-%c, ",
				     opts->short_name);
		else
			n = snprintf(left, sizeof(left), "    ");
		n += snprintf(left + n, sizeof(left) - (size_t)n, "--%s",
			      opts->long_name);
		if (opts->type != OPT_T_BOOL && n < (int)sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s",
				 opts->argh ? opts->argh : "VALUE");
		if (strlen(left) > 28)
			fprintf(f, "    %s\n    %-28s  %s", left, "", opts->help);
		else
			fprintf(f, "    %-28s  %s", left, opts->help);
		/* a number's default: its variable, before parsing */
		if (opts->show_default && opts->type == OPT_T_LONG)
			fprintf(f, "; default %ld", *(const long *)opts->value);
		else if (opts->show_default && opts->type == OPT_T_DOUBLE)
			fprintf(f, "; default %g", *(const double *)opts->value);
		/* a setting's key and default, from the settings table */
		if (opts->type == OPT_T_SETTING && opts->key)
			fprintf(f, "; default %s (%s)",
				opts->def && *opts->def ? opts->def : "none", opts->key);
		/* the range the parser enforces, from the same row */
		if (opts->type == OPT_T_LONG || opts->type == OPT_T_DOUBLE ||
			(opts->type == OPT_T_SETTING && num_range_valid(&opts->range))) {
			char range[96];
			num_range_describe(&opts->range, range, sizeof(range));
			fprintf(f, " [%s]", range);
		}
		fputc('\n', f);
	}
	fprintf(f, "    -h, --help                    show this help\n");
}
