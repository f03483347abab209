/*
 * dev_broker.c - the development broker of dev_broker.h: a mock cluster
 * (mock_broker.c), its start-up topics, and the bootstrap file written
 * atomically: a temporary name in the same directory, write, fsync,
 * rename(2), so a reader sees either no file or the whole list. Runs on
 * the caller's thread; the cluster itself on librdkafka's mock thread.
 */
#include "kafka/dev_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "kafka/mock_broker.h"

#include "core/banned.h"

struct dev_broker {
	struct mock_broker *mb;
	const char *bootstrap_file; /* the caller's; NULL: none written */
};

/*
 * Writes "list\n" to path through a temporary file in the same directory
 * and rename(2), so readers see either no file or the whole list.
 */
static enum iot_err write_file_atomic(const char *path, const char *list,
				      struct iot_error *err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char *body = xasprintf("%s\n", list);
	size_t len = strlen(body), off = 0;
	enum iot_err rc = IOT_OK;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: %s", tmp,
				   strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, body + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: %s",
					   tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (!rc && fsync(fd) != 0)
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: fsync: %s",
				   tmp, strerror(errno));
	if (close(fd) != 0 && !rc)
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: close: %s",
				   tmp, strerror(errno));
	if (!rc && rename(tmp, path) != 0)
		rc = iot_error_set(err, IOT_ERR_IO, "bootstrap file %s: rename: %s",
				   path, strerror(errno));
	if (rc)
		unlink(tmp);
out:
	free(tmp);
	free(body);
	return rc;
}

struct dev_broker *dev_broker_start(const struct dev_broker_options *o,
				    struct iot_error *err)
{
	struct dev_broker *b = xcalloc(1, sizeof(*b));

	b->mb = mock_broker_create(o->brokers, o->partitions, err);
	if (!b->mb)
		goto fail;
	for (size_t i = 0; i < o->ntopics; i++)
		if (mock_broker_create_topic(b->mb, o->topics[i], 0, err))
			goto fail;
	if (o->bootstrap_file) {
		if (write_file_atomic(o->bootstrap_file, mock_broker_bootstrap(b->mb), err))
			goto fail;
		b->bootstrap_file = o->bootstrap_file;
	}
	return b;
fail:
	dev_broker_stop(b);
	return NULL;
}

const char *dev_broker_bootstrap(const struct dev_broker *b)
{
	return mock_broker_bootstrap(b->mb);
}

void dev_broker_stop(struct dev_broker *b)
{
	if (!b)
		return;
	if (b->bootstrap_file)
		unlink(b->bootstrap_file);
	mock_broker_destroy(b->mb);
	free(b);
}
