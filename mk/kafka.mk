# kafka.mk - Kafka for development, tests and benchmarks (included by the
# top Makefile, which defines BUILD, VENV and the build target).
#
#   make kafka-fetch     Apache Kafka jars from Maven Central into .cache/kafka
#   make kafka-start     a real single-node Kafka (KRaft) on 127.0.0.1:9092
#   make kafka-stop      stop it (SIGTERM, controlled shutdown)
#   make kafka-status    exit 0 when it runs and answers
#   make broker          the embedded in-memory broker (iotpipe broker)
#
# KAFKA_VERSION, KAFKA_PORT, KAFKA_DATA_DIR, KAFKA_NUM_PARTITIONS pass
# through to kafka/local-kafka.sh; BROKER_ARGS to `iotpipe broker`, e.g.
#   make broker BROKER_ARGS="--topic iot_events --partitions 8"
KAFKA_SCRIPT := kafka/local-kafka.sh
BROKER_ARGS ?= --bootstrap-file $(BUILD)/broker.bootstrap

.PHONY: kafka-fetch kafka-start kafka-stop kafka-status broker

kafka-fetch:
	bash $(KAFKA_SCRIPT) fetch

kafka-start:
	bash $(KAFKA_SCRIPT) start

kafka-stop:
	bash $(KAFKA_SCRIPT) stop

kafka-status:
	bash $(KAFKA_SCRIPT) status

broker: build
	$(BUILD)/iotpipe broker $(BROKER_ARGS)
