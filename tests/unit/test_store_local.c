/*
 * test_store_local.c - the local-file back-end through store.h: atomic
 * writes (no temporary file left, nothing visible before close, abort
 * leaves nothing, stale temporary names skipped, mode 0644), put-if-absent, parent directories, whole and ranged
 * reads, the random-access reader's bounds, recursive sorted listing that
 * skips in-flight temporary files, delete, and file:// URIs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/xalloc.h"
#include "store/store.h"

static char root[64];
static struct store *st;

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/iotpipe-store-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	st = store_create();
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	(void)state;
	store_destroy(st);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	free(cmd);
	return 0;
}

static char *path(const char *rel)
{
	return xasprintf("%s/%s", root, rel);
}

static bool exists(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0;
}

struct names {
	int n;
	char *v[32];
};

static int collect(void *opaque, const struct store_entry *e)
{
	struct names *ns = opaque;
	if (ns->n < 32)
		ns->v[ns->n++] = xstrdup(e->key + strlen(root) + 1);
	return 0;
}

static void names_free(struct names *ns)
{
	for (int i = 0; i < ns->n; i++)
		free(ns->v[i]);
	ns->n = 0;
}

static void test_put_get_range_head(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct buf b = BUF_INIT;
	struct store_stat s;
	char *p = path("a/b=1/c d.txt");
	(void)state;

	assert_int_equal(store_put(st, p, "hello world", 11, 0, &err), IOT_OK);
	assert_int_equal(store_get(st, p, 1 << 20, &b, &err), IOT_OK);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, "hello world", 11);
	buf_reset(&b);
	/* a whole read takes at most what its caller says */
	assert_int_equal(store_get(st, p, 11, &b, &err), IOT_OK);
	assert_int_equal(b.len, 11);
	buf_reset(&b);
	assert_int_equal(store_get(st, p, 10, &b, &err), IOT_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "c d.txt: 11 bytes, more than the 10 its reader takes"));
	assert_int_equal(b.len, 0);
	assert_int_equal(store_get_range(st, p, 6, 5, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "world");
	buf_reset(&b);
	assert_int_equal(store_get_range(st, p, 6, 100, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "world");
	assert_int_equal(store_head(st, p, &s, &err), IOT_OK);
	assert_int_equal(s.size, 11);
	buf_release(&b);
	free(p);
}

/*
 * A temporary name is the pid and a counter; a process killed with the same
 * pid earlier may have left files by those names. The write must pass over
 * them (O_EXCL) without touching them, and create its file 0644 minus the
 * umask. Runs first, so that this process's counter starts at 0 and every
 * stale name below is really in its way.
 */
static void test_stale_temporary_names_are_skipped(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct buf b = BUF_INIT;
	struct stat sb;
	char *p = path("stale/x.bin");
	char *dir = path("stale");
	mode_t old = umask(022);
	(void)state;

	assert_int_equal(mkdir(dir, 0755), 0);
	for (int k = 0; k < 64; k++) {
		char *t = xasprintf("%s/.x.bin.iotpipe-tmp-%ld-%d", dir, (long)getpid(), k);
		FILE *f = fopen(t, "w");
		assert_non_null(f);
		fputs("old", f);
		fclose(f);
		free(t);
	}
	/* a small object is written unnamed and linked in; replacing it
	 * links a temporary name first and renames it over */
	assert_int_equal(store_put(st, p, "new", 3, 0, &err), IOT_OK);
	assert_int_equal(store_get(st, p, 1 << 20, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "new");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(store_put(st, p, "newer", 5, 0, &err), IOT_OK);
	buf_reset(&b);
	assert_int_equal(store_get(st, p, 1 << 20, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "newer");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	/* and an object past the buffer is written under a temporary name */
	{
		size_t big = (1u << 20) + 10;
		char *data = xmalloc(big);
		memset(data, 'b', big);
		assert_int_equal(store_put(st, p, data, big, 0, &err), IOT_OK);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_size, (off_t)big);
		assert_int_equal(sb.st_mode & 0777, 0644);
		free(data);
	}
	for (int k = 0; k < 64; k++) {
		char *t = xasprintf("%s/.x.bin.iotpipe-tmp-%ld-%d", dir, (long)getpid(), k);
		buf_reset(&b);
		assert_int_equal(store_get(st, t, 1 << 20, &b, &err), IOT_OK);
		assert_string_equal(buf_str(&b), "old");
		free(t);
	}
	umask(old);
	buf_release(&b);
	free(dir);
	free(p);
}

static void test_stream_is_atomic(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_ostream *os;
	struct names ns = { 0 };
	char *p = path("atomic/out.parquet");
	char *d = path("atomic");
	char chunk[4096];
	(void)state;

	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(store_open_write(st, p, 0, &os, &err), IOT_OK);
	for (int i = 0; i < 1000; i++) /* 4 MB: past the 1 MiB buffer */
		assert_int_equal(store_ostream_write(os, chunk, sizeof(chunk)),
				 IOT_OK);
	assert_false(exists(p));
	/* The temporary file exists but listing does not show it. */
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_OK);
	assert_int_equal(ns.n, 0);
	assert_int_equal(store_ostream_size(os), 4096000);
	assert_int_equal(store_ostream_close(os, &err), IOT_OK);
	assert_true(exists(p));
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_OK);
	assert_int_equal(ns.n, 1);
	names_free(&ns);
	free(p);
	free(d);
}

static void test_abort_leaves_nothing(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_ostream *os;
	char *p = path("aborted/x.bin");
	char *cmd = xasprintf("test -z \"$(ls -A '%s/aborted')\"", root);
	(void)state;

	assert_int_equal(store_open_write(st, p, 0, &os, &err), IOT_OK);
	store_ostream_write(os, "abc", 3);
	store_ostream_abort(os);
	assert_false(exists(p));
	assert_int_equal(system(cmd), 0); /* no temporary file either */
	free(cmd);
	free(p);
}

static void test_put_if_absent(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct buf b = BUF_INIT;
	char *p = path("once.txt");
	char *cmd = xasprintf("test \"$(ls -A '%s' | grep -c iotpipe-tmp)\" = 0", root);
	(void)state;

	assert_int_equal(store_put(st, p, "one", 3, STORE_PUT_IF_ABSENT, &err),
			 IOT_OK);
	assert_int_equal(store_put(st, p, "two", 3, STORE_PUT_IF_ABSENT, &err),
			 IOT_ERR_STATE);
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(store_get(st, p, 1 << 20, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "one");
	/* Without the flag it replaces. */
	assert_int_equal(store_put(st, p, "two", 3, 0, &err), IOT_OK);
	buf_reset(&b);
	assert_int_equal(store_get(st, p, 1 << 20, &b, &err), IOT_OK);
	assert_string_equal(buf_str(&b), "two");
	assert_int_equal(system(cmd), 0); /* no temporary name left */
	buf_release(&b);
	free(cmd);
	free(p);
}

static void test_reader(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_reader *r;
	char *p = path("reader.bin");
	char *uri = xasprintf("file://%s", p);
	char out[8];
	(void)state;

	assert_int_equal(store_put(st, uri, "0123456789PAR1", 14, 0, &err),
			 IOT_OK);
	assert_int_equal(store_open_read(st, uri, &r, &err), IOT_OK);
	assert_int_equal(store_reader_size(r), 14);
	assert_int_equal(store_reader_read_at(r, 10, 4, out, &err), IOT_OK);
	assert_memory_equal(out, "PAR1", 4);
	assert_int_equal(store_reader_read_at(r, 12, 4, out, &err),
			 IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "past the end"));
	store_reader_destroy(r);
	free(uri);
	free(p);
}

static void test_list_sorted_recursive_and_prefix(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct names ns = { 0 };
	const char *files[] = { "l/b/2.txt", "l/a.txt", "l/b/1.txt",
				"l/c/d/e.txt", "l/ab.txt" };
	char *d = path("l"), *pre = path("l/a");
	(void)state;

	for (size_t i = 0; i < 5; i++) {
		char *p = path(files[i]);
		assert_int_equal(store_put(st, p, "x", 1, 0, &err), IOT_OK);
		free(p);
	}
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_OK);
	assert_int_equal(ns.n, 5);
	assert_string_equal(ns.v[0], "l/a.txt");
	assert_string_equal(ns.v[1], "l/ab.txt");
	assert_string_equal(ns.v[2], "l/b/1.txt");
	assert_string_equal(ns.v[3], "l/b/2.txt");
	assert_string_equal(ns.v[4], "l/c/d/e.txt");
	names_free(&ns);
	assert_int_equal(store_list(st, pre, collect, &ns, &err), IOT_OK);
	assert_int_equal(ns.n, 2);
	names_free(&ns);
	free(d);
	free(pre);
}

/* Symbolic links are followed, once: a link to another directory of the
 * tree (its files would be listed twice), back to an ancestor (forever)
 * or to nowhere is an error naming the path, never a silent skip. */
static void test_list_links(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct names ns = { 0 };
	char *d = path("k"), *f = path("k/a/1.txt"), *g = path("k/b/2.txt");
	char *loop = path("k/a/up"), *twice = path("k/c"), *dangling = path("k/b/x.txt");
	char *out = path("outside"), *h = path("outside/3.txt"), *in = path("k/d");
	(void)state;

	assert_int_equal(store_put(st, f, "x", 1, 0, &err), IOT_OK);
	assert_int_equal(store_put(st, g, "x", 1, 0, &err), IOT_OK);
	assert_int_equal(store_put(st, h, "x", 1, 0, &err), IOT_OK);
	/* a link to a directory outside the tree is listed as its own */
	assert_int_equal(symlink(out, in), 0);
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_OK);
	assert_int_equal(ns.n, 3);
	assert_string_equal(ns.v[2], "k/d/3.txt");
	names_free(&ns);
	/* a second way into k/b */
	assert_int_equal(symlink("b", twice), 0);
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "k/c: the same directory as"));
	assert_non_null(strstr(err.msg, "k/b (a symbolic link): its files would be listed twice"));
	names_free(&ns);
	assert_int_equal(unlink(twice), 0);
	/* back to the root */
	iot_error_clear(&err);
	assert_int_equal(symlink("..", loop), 0);
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "k/a/up: the same directory as"));
	assert_non_null(strstr(err.msg, "listed forever"));
	names_free(&ns);
	assert_int_equal(unlink(loop), 0);
	/* to nowhere */
	iot_error_clear(&err);
	assert_int_equal(symlink("no-such-file", dangling), 0);
	assert_int_equal(store_list(st, d, collect, &ns, &err), IOT_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "k/b/x.txt: a symbolic link that leads nowhere"));
	names_free(&ns);
	free(d), free(f), free(g), free(loop), free(twice), free(dangling), free(out), free(h);
	free(in);
}

static void test_missing_and_delete(void **state)
{
	struct iot_error err = IOT_ERROR_INIT;
	struct store_stat s;
	struct buf b = BUF_INIT;
	struct names ns = { 0 };
	char *p = path("gone.txt"), *nowhere = path("no/such/dir/");
	(void)state;

	assert_int_equal(store_get(st, p, 1 << 20, &b, &err), IOT_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "gone.txt"));
	assert_int_equal(store_head(st, p, &s, &err), IOT_ERR_NOT_FOUND);
	assert_int_equal(store_put(st, p, "x", 1, 0, &err), IOT_OK);
	assert_int_equal(store_delete(st, p, &err), IOT_OK);
	assert_false(exists(p));
	assert_int_equal(store_delete(st, p, &err), IOT_OK);
	assert_int_equal(store_list(st, nowhere, collect, &ns, &err), IOT_OK);
	assert_int_equal(ns.n, 0);
	buf_release(&b);
	free(p);
	free(nowhere);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_temporary_names_are_skipped),
		cmocka_unit_test(test_put_get_range_head),
		cmocka_unit_test(test_stream_is_atomic),
		cmocka_unit_test(test_abort_leaves_nothing),
		cmocka_unit_test(test_put_if_absent),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_list_sorted_recursive_and_prefix),
		cmocka_unit_test(test_list_links),
		cmocka_unit_test(test_missing_and_delete),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
