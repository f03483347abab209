/*
 * local.c - the local-file back-end: atomic writes, pread-based readers,
 * recursive sorted listing.
 *
 * A write goes through a 1 MiB buffer (the Parquet writer appends in small
 * pieces). An object that fits in it (the common case: one file per device
 * and window) is written at commit to an unnamed file in the destination's
 * directory (open O_TMPFILE), which link(2) then names: atomically, and
 * failing when the name exists, which is put-if-absent; a plain put over
 * an existing name (a replayed batch) links a temporary name and renames
 * it over. That is one system call and one name fewer per object than a
 * temporary name, and a crash leaves no temporary file behind. A larger
 * object, or a file system without O_TMPFILE, goes to
 * ".<name>.iotpipe-tmp-<pid>-<n>" in the destination's own directory (same
 * file system, so rename is atomic; the leading '.' makes DuckDB, Spark
 * and Hive skip it), then rename(tmp, final) -- or link(tmp, final) +
 * unlink(tmp) for put-if-absent. Either way fsync(file) comes before the
 * name and fsync(directory) after it, so that after close returns the
 * object survives a crash and no reader ever saw a partial file; with
 * STORE_PUT_DEFER_SYNC both wait for local_sync. An aborted or failed write
 * unlinks its temporary file.
 * Missing parent directories are created (mkdir -p, each fsynced into its
 * parent is not attempted: the final directory fsync covers the entry
 * that matters). One thread at a time per stream.
 */
#include "store/store_int.h"
#include "core/strmap.h"
#include "core/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/banned.h"

#define WBUF_SIZE (1u << 20)

static _Atomic uint64_t tmp_seq; /* temporary file names, unique per process */

/* How an unnamed (O_TMPFILE) file gets its name, found at the first use. */
enum link_how { LINK_UNKNOWN, LINK_EMPTY_PATH, LINK_PROC, LINK_NONE };

struct local_be {
	struct store_backend be; /* first: the store holds this */
	long pid;                /* for temporary names */
	enum link_how link_how;
};

/* --- helpers ---------------------------------------------------------- */

static enum iot_err errno_err(struct iot_error *err, int e, const char *op,
			      const char *path)
{
	enum iot_err code = e == ENOENT ? IOT_ERR_NOT_FOUND : IOT_ERR_IO;

	return iot_error_set(err, code, "%s %s: %s", op, path, strerror(e));
}

/*
 * mkdir -p of `dir` (which may be "" or "."). The leaf is tried first, so
 * the common case (it exists, or only it is missing) costs one system
 * call; a missing parent is created recursively, on ENOENT only.
 */
static enum iot_err mkdirs(const char *dir, struct iot_error *err)
{
	char *parent;
	const char *slash;
	enum iot_err rc;

	if (!*dir || !strcmp(dir, ".") || !strcmp(dir, "/"))
		return IOT_OK;
	if (mkdir(dir, 0777) == 0 || errno == EEXIST)
		return IOT_OK;
	if (errno != ENOENT)
		return errno_err(err, errno, "mkdir", dir);
	slash = strrchr(dir, '/');
	if (!slash)
		return errno_err(err, ENOENT, "mkdir", dir);
	parent = xstrndup(dir, slash == dir ? 1 : (size_t)(slash - dir));
	rc = mkdirs(parent, err);
	free(parent);
	if (rc)
		return rc;
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return errno_err(err, errno, "mkdir", dir);
	return IOT_OK;
}

/* Splits path into a malloc'd directory ("." when none) and base name. */
static char *dir_of(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = path;
		return xstrdup(".");
	}
	*base = slash + 1;
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* --- writing ---------------------------------------------------------- */

struct lwriter {
	struct local_be *lb;
	int fd;       /* the named temporary file, once opened */
	char *path;   /* final name */
	const char *base; /* in path */
	char *tmp;    /* temporary name */
	char *dir;
	unsigned flags;
	char *buf;
	size_t len;
};

/*
 * Opens a temporary name beside the destination. Not mkstemp: it creates
 * 0600, so every file cost an fchmod, and it draws random bytes; with one
 * file per device and window both were a measurable share of the system
 * time. The name is unique in this process (pid, counter); O_EXCL skips
 * one left by a crashed process that had the same pid. 0644 minus the
 * umask, as any tool creates. With fd_src >= 0 the name is given to that
 * unnamed file instead (link_fd, which fails on an existing name as
 * O_EXCL does) and w->fd stays closed.
 */
static int link_fd(struct local_be *lb, int fd, const char *path);

static enum iot_err open_tmp(struct lwriter *w, int fd_src, struct iot_error *err)
{
	for (int tries = 0;; tries++) {
		uint64_t n = atomic_fetch_add_explicit(&tmp_seq, 1, memory_order_relaxed);
		free(w->tmp);
		w->tmp = xasprintf("%s/.%s" STORE_TMP_MARK "%ld-%llu", w->dir, w->base, w->lb->pid,
				   (unsigned long long)n);
		if (fd_src >= 0) {
			if (link_fd(w->lb, fd_src, w->tmp) == 0)
				return IOT_OK;
		} else {
			w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (w->fd >= 0)
				return IOT_OK;
		}
		if (errno != EEXIST || tries == 100) {
			enum iot_err rc = errno_err(err, errno, "create", w->tmp);
			free(w->tmp);
			w->tmp = NULL;
			return rc;
		}
	}
}

static void lw_free(struct lwriter *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->tmp);
	free(w->dir);
	free(w->buf);
	free(w);
}

static enum iot_err lw_flush(struct lwriter *w, struct iot_error *err)
{
	enum iot_err rc;

	if (w->fd < 0 && (rc = open_tmp(w, -1, err)))
		return rc;
	if (w->len && write_all(w->fd, w->buf, w->len) != 0)
		return errno_err(err, errno, "write", w->tmp);
	w->len = 0;
	return IOT_OK;
}

static enum iot_err lw_write(void *impl, const void *p, size_t n,
			     struct iot_error *err)
{
	struct lwriter *w = impl;
	enum iot_err rc;

	if (n >= WBUF_SIZE) {
		if ((rc = lw_flush(w, err)))
			return rc;
		if (write_all(w->fd, p, n) != 0)
			return errno_err(err, errno, "write", w->tmp);
		return IOT_OK;
	}
	if (w->len + n > WBUF_SIZE && (rc = lw_flush(w, err)))
		return rc;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return IOT_OK;
}

static void lw_abort(void *impl)
{
	struct lwriter *w = impl;

	if (w->tmp)
		unlink(w->tmp);
	lw_free(w);
}

/*
 * Names the unnamed file `fd` as `path` (fails with EEXIST when it
 * exists). linkat with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it
 * the /proc/self/fd link does the same. -1 with errno ENOTSUP when
 * neither works here (no /proc): the caller writes a named file instead.
 */
static int link_fd(struct local_be *lb, int fd, const char *path)
{
	char proc[40];

	if (lb->link_how == LINK_UNKNOWN || lb->link_how == LINK_EMPTY_PATH) {
		if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0) {
			lb->link_how = LINK_EMPTY_PATH;
			return 0;
		}
		if (lb->link_how == LINK_EMPTY_PATH || (errno != ENOENT && errno != EPERM &&
							 errno != EINVAL))
			return -1;
	}
	if (lb->link_how == LINK_NONE) {
		errno = ENOTSUP;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) {
		lb->link_how = LINK_PROC;
		return 0;
	}
	if (lb->link_how == LINK_UNKNOWN && errno == ENOENT && access(proc, F_OK) != 0) {
		lb->link_how = LINK_NONE;
		errno = ENOTSUP;
	}
	return -1;
}

/*
 * Commits an object that never left the buffer through an unnamed file.
 * *done false (and IOT_OK): not possible here, the caller goes the named
 * way. On failure nothing is left behind.
 */
static enum iot_err commit_unnamed(struct lwriter *w, bool *done, struct iot_error *err)
{
	int fd = w->lb->link_how == LINK_NONE ? -1
					       : open(w->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	enum iot_err rc = IOT_OK;

	*done = false;
	if (fd < 0)
		return IOT_OK; /* no O_TMPFILE here (or the directory is gone:
				  the named way reports it) */
	if (write_all(fd, w->buf, w->len) != 0) {
		rc = errno_err(err, errno, "write", w->path);
		goto out;
	}
	if (!(w->flags & STORE_PUT_DEFER_SYNC) && fsync(fd) != 0) {
		rc = errno_err(err, errno, "fsync", w->path);
		goto out;
	}
	if (link_fd(w->lb, fd, w->path) == 0) {
		*done = true;
	} else if (errno == EEXIST && (w->flags & STORE_PUT_IF_ABSENT)) {
		rc = iot_error_set(err, IOT_ERR_STATE, "put %s: already exists", w->path);
	} else if (errno == EEXIST) {
		/* a replace: name it beside, then rename over (atomic) */
		if (!(rc = open_tmp(w, fd, err))) {
			if (rename(w->tmp, w->path) == 0)
				*done = true;
			else
				rc = errno_err(err, errno, "rename to", w->path);
		}
	} else if (errno != ENOTSUP) {
		rc = errno_err(err, errno, "link", w->path);
	}
out:
	close(fd);
	return rc;
}

static enum iot_err lw_commit(void *impl, struct iot_error *err)
{
	struct lwriter *w = impl;
	enum iot_err rc;

	if (w->fd < 0) {
		bool done;
		if ((rc = commit_unnamed(w, &done, err)))
			goto fail;
		if (done)
			goto in_place;
	}
	if ((rc = lw_flush(w, err)))
		goto fail;
	if (!(w->flags & STORE_PUT_DEFER_SYNC) && fsync(w->fd) != 0) {
		rc = errno_err(err, errno, "fsync", w->tmp);
		goto fail;
	}
	if (close(w->fd) != 0) {
		w->fd = -1;
		rc = errno_err(err, errno, "close", w->tmp);
		goto fail;
	}
	w->fd = -1;
	if (w->flags & STORE_PUT_IF_ABSENT) {
		if (link(w->tmp, w->path) != 0) {
			if (errno == EEXIST)
				rc = iot_error_set(err, IOT_ERR_STATE,
						   "put %s: already exists",
						   w->path);
			else
				rc = errno_err(err, errno, "link", w->path);
			goto fail;
		}
		unlink(w->tmp);
	} else if (rename(w->tmp, w->path) != 0) {
		rc = errno_err(err, errno, "rename to", w->path);
		goto fail;
	}
in_place: /* the object has its name */
	if (!(w->flags & STORE_PUT_DEFER_SYNC) && fsync_dir(w->dir) != 0) {
		/* The file is in place; only its durability is in doubt. */
		rc = errno_err(err, errno, "fsync directory", w->dir);
		lw_free(w);
		return rc;
	}
	lw_free(w);
	return IOT_OK;
fail:
	lw_abort(w);
	return rc;
}

static const struct store_ostream_ops lw_ops = { lw_write, lw_commit,
						 lw_abort };

static enum iot_err local_open_write(struct store_backend *be,
				     const struct store_uri *u, unsigned flags,
				     struct store_ostream *os,
				     struct iot_error *err)
{
	struct lwriter *w;
	const char *base;
	enum iot_err rc;
	char *dir;

	(void)be;
	dir = dir_of(u->key, &base);
	if (!*base) {
		free(dir);
		return iot_error_set(err, IOT_ERR_USAGE,
				     "put %s: the path names a directory",
				     u->key);
	}
	if ((rc = mkdirs(dir, err))) {
		free(dir);
		return rc;
	}
	w = xcalloc(1, sizeof(*w));
	w->lb = (struct local_be *)be;
	w->fd = -1; /* opened when the buffer first fills, else unnamed at commit */
	w->dir = dir;
	w->path = xstrdup(u->key);
	w->base = w->path + (base - u->key);
	w->flags = flags;
	w->buf = xmalloc(WBUF_SIZE);
	os->ops = &lw_ops;
	os->impl = w;
	return IOT_OK;
}

/* --- reading ---------------------------------------------------------- */

struct lreader {
	int fd;
	char *path;
};

static enum iot_err pread_all(int fd, const char *path, uint64_t off,
			      size_t len, void *dst, size_t *got,
			      struct iot_error *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)dst + done, len - done,
				  (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno_err(err, errno, "read", path);
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return IOT_OK;
}

static enum iot_err lr_read_at(void *impl, uint64_t off, size_t len,
			       void *dst, size_t *got, struct iot_error *err)
{
	struct lreader *r = impl;
	return pread_all(r->fd, r->path, off, len, dst, got, err);
}

static void lr_close(void *impl)
{
	struct lreader *r = impl;

	close(r->fd);
	free(r->path);
	free(r);
}

static const struct store_reader_ops lr_ops = { lr_read_at, lr_close };

static enum iot_err open_file(const char *path, int *fd, struct stat *st,
			      struct iot_error *err)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return errno_err(err, errno, "open", path);
	if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
		int e = S_ISDIR(st->st_mode) ? EISDIR : errno;
		close(*fd);
		return errno_err(err, e, "open", path);
	}
	return IOT_OK;
}

static enum iot_err local_open_read(struct store_backend *be,
				    const struct store_uri *u,
				    struct store_reader *r,
				    struct iot_error *err)
{
	struct lreader *lr;
	struct stat st;
	enum iot_err rc;
	int fd;

	(void)be;
	if ((rc = open_file(u->key, &fd, &st, err)))
		return rc;
	lr = xcalloc(1, sizeof(*lr));
	lr->fd = fd;
	lr->path = xstrdup(u->key);
	r->ops = &lr_ops;
	r->impl = lr;
	r->size = (uint64_t)st.st_size;
	return IOT_OK;
}

static enum iot_err local_get_range(struct store_backend *be,
				    const struct store_uri *u, uint64_t off,
				    size_t len, size_t max, struct buf *out,
				    struct iot_error *err)
{
	struct stat st;
	enum iot_err rc;
	size_t got = 0;
	int fd;

	(void)be;
	if ((rc = open_file(u->key, &fd, &st, err)))
		return rc;
	if (!len && off < (uint64_t)st.st_size &&
	    (uint64_t)st.st_size - off > max) {
		close(fd);
		return iot_error_set(err, IOT_ERR_LIMIT,
				     "%s: %" PRIu64 " bytes, more than the %zu "
				     "its reader takes", u->key,
				     (uint64_t)st.st_size - off, max);
	}
	if (off >= (uint64_t)st.st_size)
		len = 0;
	else if (!len || len > (uint64_t)st.st_size - off)
		len = (size_t)((uint64_t)st.st_size - off);
	buf_grow(out, len);
	rc = pread_all(fd, u->key, off, len, out->data + out->len, &got, err);
	if (!rc) {
		out->len += got;
		out->data[out->len] = '\0';
	}
	close(fd);
	return rc;
}

static enum iot_err local_head(struct store_backend *be,
			       const struct store_uri *u,
			       struct store_stat *out, struct iot_error *err)
{
	struct stat st;

	(void)be;
	if (stat(u->key, &st) != 0)
		return errno_err(err, errno, "stat", u->key);
	if (!S_ISREG(st.st_mode))
		return iot_error_set(err, IOT_ERR_NOT_FOUND,
				     "stat %s: not a regular file", u->key);
	memset(out, 0, sizeof(*out));
	out->size = (uint64_t)st.st_size;
	out->mtime = (int64_t)st.st_mtime;
	return IOT_OK;
}

/* --- listing ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_tmp(const char *name)
{
	return name[0] == '.' && strstr(name, STORE_TMP_MARK);
}

/* Lists `dir` recursively; when `prefix` is set, only top-level names that
 * start with it. Returns IOT_OK, an error, or -1 when fn asked to stop. */
/*
 * A listing follows symbolic links (a dataset may be assembled from
 * links), so it keeps the directories it entered, by device and inode: a
 * link back to an ancestor would list forever, and a second way into one
 * directory would list its files twice (a batch job would read them
 * twice). Both are errors naming the two paths, as is a link that leads
 * nowhere or an entry that cannot be examined: never a silent skip. An
 * entry that vanished between readdir and stat (a writer's temporary
 * file, a clean-up) is skipped, as an S3 listing taken a moment later
 * would not show it.
 */
struct walk {
	struct strmap seen;  /* (st_dev, st_ino) of the directories entered */
	char **paths;        /* the path each was entered by, same index */
	size_t alloc;
};

static int walk_enter(struct walk *w, const char *path, const struct stat *st,
		      struct iot_error *err)
{
	uint64_t id[2] = { (uint64_t)st->st_dev, (uint64_t)st->st_ino };
	size_t before = w->seen.n, i = strmap_intern(&w->seen, id, sizeof(id));

	if (i < before)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "%s: the same directory as %s (a symbolic link): its files "
				     "would be listed %s",
				     path, w->paths[i],
				     strncmp(path, w->paths[i], strlen(w->paths[i])) ? "twice"
											: "forever");
	ALLOC_GROW(w->paths, i + 1, w->alloc);
	w->paths[i] = xstrdup(path);
	return IOT_OK;
}

static void walk_release(struct walk *w)
{
	for (size_t i = 0; i < w->seen.n; i++)
		free(w->paths[i]);
	free(w->paths);
	strmap_release(&w->seen);
}

static int list_dir(struct walk *w, const char *dir, const char *prefix, store_list_fn fn,
		    void *opaque, struct iot_error *err)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	int rc = IOT_OK;

	if (!d)
		return errno_err(err, errno, "list", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    is_tmp(de->d_name))
			continue;
		if (prefix && strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		ALLOC_GROW(names, n + 1, alloc);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *path;
		struct stat st;

		if (rc)
			goto next;
		path = !strcmp(dir, ".") ? xstrdup(names[i])
		       : dir[strlen(dir) - 1] == '/'
			       ? xasprintf("%s%s", dir, names[i])
			       : xasprintf("%s/%s", dir, names[i]);
		if (stat(path, &st) != 0) {
			int e = errno;
			struct stat lst;
			if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
				rc = iot_error_set(err, IOT_ERR_FORMAT,
						   "%s: a symbolic link that leads nowhere (%s)", path,
						   strerror(e));
			else if (e != ENOENT)
				rc = errno_err(err, e, "list", path);
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk_enter(w, path, &st, err);
			if (!rc)
				rc = list_dir(w, path, NULL, fn, opaque, err);
		} else if (S_ISREG(st.st_mode)) {
			struct store_entry e = { path, path, { 0 } };
			e.st.size = (uint64_t)st.st_size;
			e.st.mtime = (int64_t)st.st_mtime;
			if (fn(opaque, &e))
				rc = -1;
		}
		free(path);
next:
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Lists dir (entered as itself) and below. */
static int list_tree(const char *dir, const char *prefix, const struct stat *st,
		     store_list_fn fn, void *opaque, struct iot_error *err)
{
	struct walk w = { .alloc = 0 };
	int rc;

	strmap_init(&w.seen);
	rc = walk_enter(&w, dir, st, err);
	if (!rc)
		rc = list_dir(&w, dir, prefix, fn, opaque, err);
	walk_release(&w);
	return rc;
}

static enum iot_err local_list(struct store_backend *be,
			       const struct store_uri *u, store_list_fn fn,
			       void *opaque, struct iot_error *err)
{
	struct stat st;
	const char *base;
	char *dir;
	int rc;

	(void)be;
	if (stat(u->key, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = list_tree(u->key, NULL, &st, fn, opaque, err);
	} else if (stat(u->key, &st) == 0 && S_ISREG(st.st_mode)) {
		struct store_entry e = { u->key, u->key, { 0 } };
		e.st.size = (uint64_t)st.st_size;
		e.st.mtime = (int64_t)st.st_mtime;
		fn(opaque, &e);
		rc = IOT_OK;
	} else {
		dir = dir_of(u->key, &base);
		if (stat(dir, &st) != 0) {
			/* Nothing there: an empty listing, as on S3. */
			free(dir);
			return IOT_OK;
		}
		rc = list_tree(dir, base, &st, fn, opaque, err);
		free(dir);
	}
	return rc < 0 ? IOT_OK : (enum iot_err)rc;
}

static enum iot_err local_remove(struct store_backend *be,
				 const struct store_uri *u,
				 struct iot_error *err)
{
	(void)be;
	if (unlink(u->key) != 0 && errno != ENOENT)
		return errno_err(err, errno, "delete", u->key);
	return IOT_OK;
}

static enum iot_err local_create_bucket(struct store_backend *be,
					const struct store_uri *u,
					struct iot_error *err)
{
	(void)be;
	return mkdirs(u->key, err);
}

static void local_destroy(struct store_backend *be)
{
	free((struct local_be *)be);
}

/* syncfs(2): one call flushes every file and directory written with
 * STORE_PUT_DEFER_SYNC on the file system that holds `u`. */
static enum iot_err local_sync(struct store_backend *be, const struct store_uri *u,
			       struct iot_error *err)
{
	int fd;
	(void)be;

	fd = open(*u->key ? u->key : ".", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno_err(err, errno, "open for sync", u->key);
	if (syncfs(fd) != 0) {
		int e = errno;
		close(fd);
		return errno_err(err, e, "syncfs", u->key);
	}
	close(fd);
	return IOT_OK;
}

static const struct store_backend_ops local_ops = {
	local_open_write, local_open_read, local_get_range, local_head,
	local_list, local_remove, local_create_bucket, local_destroy, local_sync,
};

struct store_backend *store_local_create(void)
{
	struct local_be *lb = xcalloc(1, sizeof(*lb));

	lb->be.ops = &local_ops;
	lb->pid = (long)getpid();
	return &lb->be;
}
