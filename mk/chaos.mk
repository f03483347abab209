# chaos.mk - the chaos suite (included by the top Makefile, which defines
# BUILD, IOTPIPE, PYTEST and the build target).
#
#   make chaos    tests/integration/test_chaos.py with CHAOS_EVENTS events
#                 (default 1,000,000; about 10-15 minutes): kill -9 of
#                 archive and aggregate, Kafka broker restarts, 10% failing
#                 S3 requests, a full output disk; prints the summary lines
#                 (chaos: ... lost=0 duplicated=0 ... mismatched=0 ...).
#                 Needs root for the tmpfs (the disk-full case).
#                 Then tests/integration/test_cluster_chaos.py with
#                 CLUSTER_CHAOS_EVENTS events (default 1,000,000; about 10
#                 minutes): a three-node KRaft cluster (replication factor
#                 3, min.insync.replicas=2) whose partition leader is killed
#                 with SIGKILL six times while produce, archive and
#                 aggregate run; prints "cluster-chaos: ..." lines.
#   make cluster-chaos   only the cluster part.
# `make test` runs both with 50,000 events (about 2 minutes each).
# CHAOS_SEED picks the kill schedule and the S3 fault sequence;
# CLUSTER_CHAOS_SEED the cluster run's workload.
CHAOS_EVENTS ?= 1000000
CHAOS_SEED ?= 20251125
CLUSTER_CHAOS_EVENTS ?= 1000000
CLUSTER_CHAOS_SEED ?= 20251202

.PHONY: chaos cluster-chaos

chaos: deps build
	IOTPIPE_BIN=$(CURDIR)/$(IOTPIPE) IOTPIPE_CHAOS_EVENTS=$(CHAOS_EVENTS) \
	  IOTPIPE_CHAOS_SEED=$(CHAOS_SEED) \
	  $(PYTEST) tests/integration/test_chaos.py -s -q -ra $(PYTEST_ARGS)
	$(MAKE) cluster-chaos

cluster-chaos: deps build
	IOTPIPE_BIN=$(CURDIR)/$(IOTPIPE) \
	  IOTPIPE_CLUSTER_CHAOS_EVENTS=$(CLUSTER_CHAOS_EVENTS) \
	  IOTPIPE_CLUSTER_CHAOS_SEED=$(CLUSTER_CHAOS_SEED) \
	  $(PYTEST) tests/integration/test_cluster_chaos.py -s -q -ra $(PYTEST_ARGS)
