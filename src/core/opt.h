/*
 * opt.h - declarative command-line options (after git's parse-options).
 *
 * A command declares its options once, as an array of struct opt ended by
 * OPT_END(); the same table parses argv and prints --help, so help text
 * cannot drift from the code. Each entry records how often it was seen
 * (`seen`), which the config layer uses for "flag > env > file > default":
 * a command tells "not given" with opt_was_given(), never with a sentinel
 * value a user could type.
 *
 * Every numeric option declares its allowed range (core/range.h) in its
 * row; opt_parse() refuses a value outside it, naming the flag and the
 * range, so commands never see one, and --help shows it. Checks that involve several options
 * (fractions that must sum to at most 1) stay in the command.
 *
 * An option that sets a configuration setting is an OPT_SETTING row naming
 * the setting ("streaming.window.WINDOW_SECONDS"). opt_parse() only
 * records its text (`arg`, `seen`); the configuration layer then applies
 * it with the same setter, checks and messages as a file or an environment
 * variable (config_apply_options() in config/config.h), and fills in the
 * row's range, key and default from the settings table before parsing
 * (config_bind_options()), so --help shows the table's default and range
 * and no command writes them again. opt.c itself knows no settings.
 *
 *	const char *out = NULL; long count = 0;
 *	struct opt opts[] = {
 *		OPT_STRING(0, "output", &out, "URI", "where to write"),
 *		OPT_LONG(0, "count", &count, "N", "events to send", RANGE(0, 1e12)),
 *		OPT_END(),
 *	};
 *	int n = opt_parse(argc, argv, opts, &usage, &err);
 *	// n >= 0: argv[0..n) now holds the positional arguments
 *	// OPT_RC_HELP: help was printed to stdout, exit 0
 *	// OPT_RC_ERROR: err names the bad flag; print usage, exit 2
 */
#ifndef IOT_OPT_H
#define IOT_OPT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/range.h"

enum opt_type {
	OPT_T_END = 0,
	OPT_T_BOOL,   /* --name (no argument); value is bool* */
	OPT_T_STRING, /* --name VALUE; value is const char ** (points into argv) */
	OPT_T_LONG,   /* --name N; value is long* */
	OPT_T_DOUBLE, /* --name X; value is double* */
	OPT_T_LIST,   /* --name VALUE, repeatable; value is struct opt_list* */
	OPT_T_GROUP,  /* a heading in --help */
	OPT_T_SETTING, /* --name VALUE for the setting `setting`; text kept in `arg` */
};

/* The values of a repeatable option, in command-line order. */
struct opt_list {
	const char **items; /* point into argv */
	size_t n, alloc;
};

struct opt {
	enum opt_type type;
	char short_name;
	const char *long_name;
	void *value;
	const char *argh; /* the argument's name in help, e.g. "URI" */
	const char *help;
	int seen;         /* set by opt_parse: times the flag was given */
	struct num_range range; /* OPT_T_LONG, OPT_T_DOUBLE: allowed values;
				   OPT_T_SETTING: the setting's, when numeric */
	/* OPT_T_SETTING only */
	const char *setting;	/* full name: "streaming.window.WINDOW_SECONDS" */
	const char *arg;		/* set by opt_parse: the last value given */
	const char *key;		/* set by binding: the YAML key, for --help */
	const char *def;		/* set by binding: the default, for --help */
	/* OPT_T_LONG, OPT_T_DOUBLE: --help shows the variable's value before
	 * parsing as the default, so it is written once, where it is set */
	bool show_default;
};

#define OPT_BOOL(s, l, v, h)       { OPT_T_BOOL, (s), (l), (v), NULL, (h), 0 }
#define OPT_STRING(s, l, v, a, h)  { OPT_T_STRING, (s), (l), (v), (a), (h), 0 }
/* r: the allowed values, RANGE(lo, hi) or RANGE_ABOVE(lo, hi) */
#define OPT_LONG(s, l, v, a, h, r)   { OPT_T_LONG, (s), (l), (v), (a), (h), 0, r }
#define OPT_DOUBLE(s, l, v, a, h, r) { OPT_T_DOUBLE, (s), (l), (v), (a), (h), 0, r }
/* The same, with "default <the variable's value>" in --help. */
#define OPT_LONG_D(s, l, v, a, h, r)                                           \
	{ OPT_T_LONG, (s), (l), (v), (a), (h), 0, r, .show_default = true }
#define OPT_DOUBLE_D(s, l, v, a, h, r)                                         \
	{ OPT_T_DOUBLE, (s), (l), (v), (a), (h), 0, r, .show_default = true }
#define OPT_LIST(s, l, v, a, h)    { OPT_T_LIST, (s), (l), (v), (a), (h), 0 }
/* n: the setting's full name; the value is checked when it is applied */
#define OPT_SETTING(s, l, n, a, h)											\
	{ .type = OPT_T_SETTING, .short_name = (s), .long_name = (l),		 \
	  .argh = (a), .help = (h), .setting = (n) }
#define OPT_GROUP(h)               { OPT_T_GROUP, 0, NULL, NULL, NULL, (h), 0 }
#define OPT_END()                  { OPT_T_END, 0, NULL, NULL, NULL, NULL, 0 }

/* What a command tells --help besides its options. */
struct opt_usage {
	const char *synopsis;    /* "iotpipe produce [options]" */
	const char *description; /* a paragraph, may be NULL */
};

#define OPT_RC_HELP  (-1)
#define OPT_RC_ERROR (-2)

/*
 * Parses argv[1..argc) (argv[0] is the command name). Options and
 * positional arguments may mix; "--" ends options. Returns the number of
 * positional arguments, moved to argv[0..n), or OPT_RC_HELP / OPT_RC_ERROR.
 */
int opt_parse(int argc, char **argv, struct opt *opts,
	      const struct opt_usage *usage, struct iot_error *err);

/* Prints the generated help to `f` (a FILE*). */
void opt_print_help(void *f, const struct opt *opts,
		    const struct opt_usage *usage);

/* Finds an entry by long name (NULL when absent). */
const struct opt *opt_find(const struct opt *opts, const char *long_name);

/* True when the flag `long_name` was given on the command line. */
bool opt_was_given(const struct opt *opts, const char *long_name);

void opt_list_release(struct opt_list *l);

#endif
