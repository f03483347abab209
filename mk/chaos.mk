# chaos.mk - the chaos suite (included by the top Makefile, which defines
# BUILD, IOTPIPE, PYTEST and the build target).
#
#   make chaos    tests/integration/test_chaos.py with CHAOS_EVENTS events
#                 (default 1,000,000; about 10-15 minutes): kill -9 of
#                 archive and aggregate, Kafka broker restarts, 10% failing
#                 S3 requests, a full output disk; prints the summary lines
#                 (chaos: ... lost=0 duplicated=0 ... mismatched=0 ...).
#                 Needs root for the tmpfs (the disk-full case).
# `make test` runs the same scenario with 50,000 events (about 2 minutes).
# CHAOS_SEED picks the kill schedule and the S3 fault sequence.
CHAOS_EVENTS ?= 1000000
CHAOS_SEED ?= 20251125

.PHONY: chaos

chaos: deps build
	IOTPIPE_BIN=$(CURDIR)/$(IOTPIPE) IOTPIPE_CHAOS_EVENTS=$(CHAOS_EVENTS) \
	  IOTPIPE_CHAOS_SEED=$(CHAOS_SEED) \
	  $(PYTEST) tests/integration/test_chaos.py -s -q -ra $(PYTEST_ARGS)
