/*
 * pq_io.c - the byte streams behind the codec: file-descriptor and
 * memory outputs, file and memory inputs.
 *
 * Outputs are sequential and their first error sticks: a failed write is
 * remembered, later writes do nothing and return the same error, and close
 * returns it too, so the writer (and any caller) can check once at the end.
 * The fd output leaves fsync and close to the fd's owner; the pipeline's
 * durable outputs go through the store instead (pq_store.c), which
 * writes to a temporary name, fsyncs and renames. Inputs are random access
 * (pread), like the store's readers (pq_store.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "parquet/pq_int.h"

#include "core/banned.h"

/* ---- fd output -------------------------------------------------------- */

struct fd_output {
	struct pq_output base;
	int fd;
	char *name;
	struct iot_error sticky;
};

static enum iot_err fd_write(struct pq_output *o, const void *data, size_t len,
			     struct iot_error *err)
{
	struct fd_output *f = (struct fd_output *)o;
	const uint8_t *p = data;
	if (f->sticky.code == IOT_OK) {
		while (len) {
			ssize_t r = write(f->fd, p, len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				iot_error_set(&f->sticky, IOT_ERR_IO,
					      "%s: write failed: %s", f->name,
					      r < 0 ? strerror(errno) : "no progress");
				break;
			}
			p += r;
			len -= (size_t)r;
		}
	}
	if (f->sticky.code != IOT_OK && err)
		*err = f->sticky;
	return f->sticky.code;
}

/* The fd is the caller's: it decides whether to fsync and when to close. */
static enum iot_err fd_close(struct pq_output *o, struct iot_error *err)
{
	struct fd_output *f = (struct fd_output *)o;
	if (f->sticky.code != IOT_OK && err)
		*err = f->sticky;
	return f->sticky.code;
}

static void fd_destroy(struct pq_output *o)
{
	struct fd_output *f = (struct fd_output *)o;
	if (!f)
		return;
	free(f->name);
	free(f);
}

struct pq_output *pq_output_fd_create(int fd, const char *name)
{
	struct fd_output *f = xcalloc(1, sizeof(*f));
	f->base.write = fd_write;
	f->base.close = fd_close;
	f->base.destroy = fd_destroy;
	f->fd = fd;
	f->name = xstrdup(name ? name : "(fd)");
	return &f->base;
}

/* ---- memory output ---------------------------------------------------- */

struct mem_output {
	struct pq_output base;
	struct buf b;
};

static enum iot_err mem_write(struct pq_output *o, const void *data,
			      size_t len, struct iot_error *err)
{
	(void)err;
	buf_append(&((struct mem_output *)o)->b, data, len);
	return IOT_OK;
}

static enum iot_err mem_close(struct pq_output *o, struct iot_error *err)
{
	(void)o;
	(void)err;
	return IOT_OK;
}

static void mem_destroy(struct pq_output *o)
{
	struct mem_output *m = (struct mem_output *)o;
	if (!m)
		return;
	buf_release(&m->b);
	free(m);
}

struct pq_output *pq_output_mem_create(void)
{
	struct mem_output *m = xcalloc(1, sizeof(*m));
	m->base.write = mem_write;
	m->base.close = mem_close;
	m->base.destroy = mem_destroy;
	buf_init(&m->b);
	return &m->base;
}

const uint8_t *pq_output_mem_data(struct pq_output *out, size_t *len)
{
	struct mem_output *m = (struct mem_output *)out;
	*len = m->b.len;
	return m->b.data;
}

/* ---- inputs ----------------------------------------------------------- */

struct file_input {
	struct pq_input base;
	int fd;
	char *path;
};

static enum iot_err file_read_at(struct pq_input *in, uint64_t off, size_t len,
				 void *dst, struct iot_error *err)
{
	struct file_input *f = (struct file_input *)in;
	uint8_t *p = dst;
	if (off > in->size || len > in->size - off)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "%s: read of %zu bytes at offset %llu is "
				     "past the end of the file",
				     f->path, len, (unsigned long long)off);
	while (len) {
		ssize_t r = pread(f->fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return iot_error_set(err, IOT_ERR_IO,
					     "%s: read at offset %llu: %s",
					     f->path, (unsigned long long)off,
					     r < 0 ? strerror(errno)
						   : "unexpected end of file");
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return IOT_OK;
}

static void file_destroy(struct pq_input *in)
{
	struct file_input *f = (struct file_input *)in;
	if (!f)
		return;
	close(f->fd);
	free(f->path);
	free(f);
}

enum iot_err pq_input_file_open(struct pq_input **in, const char *path,
				struct iot_error *err)
{
	struct stat st;
	*in = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return iot_error_set(err, errno == ENOENT ? IOT_ERR_NOT_FOUND
							  : IOT_ERR_IO,
				     "%s: cannot open: %s", path,
				     strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return iot_error_set(err, IOT_ERR_IO,
				     "%s: not a regular file", path);
	}
	struct file_input *f = xcalloc(1, sizeof(*f));
	f->fd = fd;
	f->path = xstrdup(path);
	f->base.read_at = file_read_at;
	f->base.destroy = file_destroy;
	f->base.size = (uint64_t)st.st_size;
	f->base.name = f->path;
	*in = &f->base;
	return IOT_OK;
}

struct mem_input {
	struct pq_input base;
	const uint8_t *data;
	char *name;
};

static enum iot_err mem_read_at(struct pq_input *in, uint64_t off, size_t len,
				void *dst, struct iot_error *err)
{
	struct mem_input *m = (struct mem_input *)in;
	if (off > in->size || len > in->size - off)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "%s: read of %zu bytes at offset %llu is "
				     "past the end of the data",
				     m->name, len, (unsigned long long)off);
	if (len)
		memcpy(dst, m->data + off, len);
	return IOT_OK;
}

static void mem_in_destroy(struct pq_input *in)
{
	struct mem_input *m = (struct mem_input *)in;
	if (!m)
		return;
	free(m->name);
	free(m);
}

struct pq_input *pq_input_mem_create(const void *data, size_t len,
				     const char *name)
{
	struct mem_input *m = xcalloc(1, sizeof(*m));
	m->data = data;
	m->name = xstrdup(name ? name : "(memory)");
	m->base.read_at = mem_read_at;
	m->base.destroy = mem_in_destroy;
	m->base.size = len;
	m->base.name = m->name;
	return &m->base;
}
