/*
 * mock_broker.h - the embedded development broker: librdkafka's mock
 * cluster (rdkafka_mock.h) serving the Kafka protocol on 127.0.0.1 from
 * inside this process, so that `iotpipe broker`, `iotpipe run` and tests
 * get a Kafka without a JVM.
 *
 * It is for development and demos only: data lives in memory (each
 * partition keeps only its last ~5 MiB), transactions write no markers (so
 * read_committed is not honoured), there is no admin API (CreateTopics,
 * DeleteTopics), no TLS and no SASL. Production uses a real Kafka cluster.
 *
 * Calling sequence:
 *
 *	struct iot_error err = IOT_ERROR_INIT;
 *	struct mock_broker *mb = mock_broker_create(1, 4, &err);
 *	if (!mb)
 *		... err.msg says why ...
 *	mock_broker_create_topic(mb, "iot_events", 0, &err);  // optional
 *	printf("bootstrap.servers=%s\n", mock_broker_bootstrap(mb));
 *	... serve until asked to stop; the cluster runs on its own thread ...
 *	mock_broker_destroy(mb);
 *
 * Topics: a topic named with mock_broker_create_topic() gets the requested
 * partition count (0 means the `partitions` given at create). A topic that
 * a client uses without creating it is auto-created by librdkafka's mock
 * with its own fixed default of MOCK_BROKER_AUTO_PARTITIONS partitions:
 * librdkafka 2.0.2 has no way to change that default, which is why the
 * default `partitions` equals it.
 *
 * Threads: the mock cluster runs on a thread of its own that librdkafka
 * starts; the functions here may be called from any one thread at a time.
 */
#ifndef IOT_MOCK_BROKER_H
#define IOT_MOCK_BROKER_H

#include <stddef.h>

#include "core/err.h"

/* librdkafka 2.0.2's mock auto-creates topics with this many partitions. */
#define MOCK_BROKER_AUTO_PARTITIONS 4
/* Limits accepted by mock_broker_create (sanity, not mock limits). */
#define MOCK_BROKER_MAX_BROKERS 16
#define MOCK_BROKER_MAX_PARTITIONS 1024

struct mock_broker;

/*
 * Starts a mock cluster of `nbrokers` brokers (1..MOCK_BROKER_MAX_BROKERS)
 * listening on 127.0.0.1 on ports the system picks. `partitions`
 * (1..MOCK_BROKER_MAX_PARTITIONS) is the default partition count for
 * mock_broker_create_topic(). Returns NULL and fills err on failure.
 * The caller owns the handle and releases it with mock_broker_destroy().
 */
struct mock_broker *mock_broker_create(int nbrokers, int partitions,
				       struct iot_error *err);

/*
 * The comma-separated bootstrap list "127.0.0.1:PORT[,...]". Owned by mb,
 * valid until mock_broker_destroy().
 */
const char *mock_broker_bootstrap(const struct mock_broker *mb);

/* Number of brokers in the cluster. */
int mock_broker_count(const struct mock_broker *mb);

/*
 * Creates `topic` with `partitions` partitions (0 = the create-time
 * default) and replication min(3, brokers). Creating a topic that already
 * exists is an error (IOT_ERR_STATE), as on a real cluster.
 */
enum iot_err mock_broker_create_topic(struct mock_broker *mb, const char *topic,
				      int partitions, struct iot_error *err);

/* Stops the cluster, closes its listeners and frees everything. NULL is ok. */
void mock_broker_destroy(struct mock_broker *mb);

/*
 * Fault injection, for tests and drills: the next `n` requests of the
 * Kafka API `api_key` (0 is Produce) that reach the cluster are answered
 * with the error `code` (a librdkafka error code), in the order sent.
 */
void mock_broker_fail_requests(struct mock_broker *mb, int api_key, size_t n, int code);

#endif
