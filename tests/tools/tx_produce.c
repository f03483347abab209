/*
 * tx_produce - a transactional Kafka producer for the integration tests
 * (test_stream_gaps.py): logs that end in control records (a transaction's
 * commit or abort marker) or in aborted records, which a read_committed
 * consumer never receives. kafka-python has no transactions; librdkafka's
 * are the ones the Java client and Kafka Streams also write.
 *
 *   tx_produce BOOTSTRAP TOPIC PARTITION TRANSACTIONAL_ID PLAN COUNT BASE_S
 *
 * PLAN: one transaction per character, 'c' committed or 'a' aborted, each
 * of COUNT valid events with key "tx" on PARTITION, event times BASE_S,
 * BASE_S + 1, ... (continuing across transactions). Exit 0 when every
 * transaction ended as planned and the log ends after the last marker
 * (COUNT + 1 offsets per transaction on an empty partition).
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, rd_kafka_error_t *e)
{
	fprintf(stderr, "tx_produce: %s: %s\n", what, rd_kafka_error_string(e));
	rd_kafka_error_destroy(e);
	return 1;
}

int main(int argc, char **argv)
{
	char errstr[512], value[256];
	rd_kafka_conf_t *conf;
	rd_kafka_error_t *e;
	rd_kafka_t *rk;
	long count, base, t;
	int partition, rc = 0;

	if (argc != 8) {
		fprintf(stderr, "usage: tx_produce BOOTSTRAP TOPIC PARTITION TRANSACTIONAL_ID "
				"PLAN COUNT BASE_S\n");
		return 2;
	}
	partition = (int)strtol(argv[3], NULL, 10);
	count = strtol(argv[6], NULL, 10);
	base = strtol(argv[7], NULL, 10);
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
	    rd_kafka_conf_set(conf, "transactional.id", argv[4], errstr, sizeof(errstr))) {
		fprintf(stderr, "tx_produce: %s\n", errstr);
		return 2;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "tx_produce: %s\n", errstr);
		return 1;
	}
	if ((e = rd_kafka_init_transactions(rk, 60000))) {
		rc = fail("init", e);
		goto out;
	}
	t = base;
	for (const char *p = argv[5]; *p && !rc; p++) {
		if ((e = rd_kafka_begin_transaction(rk))) {
			rc = fail("begin", e);
			break;
		}
		for (long i = 0; i < count; i++, t++) {
			int n = snprintf(value, sizeof(value),
					 "{\"timestamp\": %ld, \"temperature\": %ld.5, "
					 "\"event_duration\": 1.0, \"status\": \"ok\"}", t, 20 + i % 5);
			rd_kafka_resp_err_t err = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(partition),
				RD_KAFKA_V_KEY("tx", 2), RD_KAFKA_V_VALUE(value, (size_t)n),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (err) {
				fprintf(stderr, "tx_produce: produce: %s\n", rd_kafka_err2str(err));
				rc = 1;
				break;
			}
		}
		if (rc)
			break;
		rd_kafka_flush(rk, 60000);
		e = *p == 'a' ? rd_kafka_abort_transaction(rk, 60000)
			      : rd_kafka_commit_transaction(rk, 60000);
		if (e)
			rc = fail(*p == 'a' ? "abort" : "commit", e);
	}
	/* the coordinator writes the last marker after the commit returned:
	 * wait for it, so the log ends where the test expects */
	for (int tries = 0; !rc; tries++) {
		int64_t lo, hi, want = (int64_t)(count + 1) * (int64_t)strlen(argv[5]);
		rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, argv[2], partition,
									   &lo, &hi, 10000);
		if (!err && hi >= want)
			break;
		if (tries == 600) {
			fprintf(stderr, "tx_produce: the log ends at %" PRId64 ", not %" PRId64 "\n",
				hi, want);
			rc = 1;
		}
		rd_kafka_poll(rk, 100);
	}
out:
	rd_kafka_destroy(rk);
	return rc;
}
