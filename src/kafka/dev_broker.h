/*
 * dev_broker.h - the development broker behind `iotpipe broker`: the
 * embedded mock cluster (mock_broker.h) with the topics asked for, and
 * its bootstrap list published to a file for scripts that poll for it.
 * src/cmd/broker.c parses the options, calls this, announces the address
 * and waits for a signal.
 *
 *	struct dev_broker_options o = { 1, 4, topics, ntopics, "bootstrap.txt" };
 *	struct dev_broker *b = dev_broker_start(&o, &err);
 *	if (!b)
 *		... err names what failed ...
 *	printf("bootstrap.servers=%s\n", dev_broker_bootstrap(b));
 *	... until asked to stop ...
 *	dev_broker_stop(b);   // removes the file, then the cluster
 *
 * The file is written atomically (temporary name, fsync, rename), so a
 * reader polling for it never sees half of it, and removed on stop, so a
 * stale address never outlives the broker. Threads: the cluster runs on
 * librdkafka's mock thread; these functions on one thread at a time.
 */
#ifndef IOT_KAFKA_DEV_BROKER_H
#define IOT_KAFKA_DEV_BROKER_H

#include <stddef.h>

#include "core/err.h"

struct dev_broker_options {
	int brokers;                   /* 1..MOCK_BROKER_MAX_BROKERS */
	int partitions;                /* of the topics below, 1..MOCK_BROKER_MAX_PARTITIONS */
	const char *const *topics;     /* created at start; distinct names */
	size_t ntopics;
	const char *bootstrap_file;    /* NULL: none */
};

struct dev_broker;

/* Starts the cluster, creates the topics, writes the bootstrap file.
 * Returns NULL and fills err on failure (nothing is left behind). */
struct dev_broker *dev_broker_start(const struct dev_broker_options *o,
				    struct iot_error *err);

/* "127.0.0.1:PORT[,...]", owned by b, valid until dev_broker_stop(). */
const char *dev_broker_bootstrap(const struct dev_broker *b);

/* Removes the bootstrap file and stops the cluster; NULL is fine. */
void dev_broker_stop(struct dev_broker *b);

#endif
