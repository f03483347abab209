# mk/memcheck.mk - valgrind memcheck (included by the top Makefile).
#   make memcheck   every unit test and a short end-to-end run of the real
#                   binary (broker, produce, archive --once, aggregate
#                   --once, percentile, validate, inspect) under valgrind:
#                   zero errors and zero leaks, or it fails. Debug build
#                   without sanitizers in $(BUILD_MEMCHECK). See
#                   valgrind/memcheck.sh; suppressions (third-party
#                   internals only) in valgrind/iotpipe.supp.
BUILD_MEMCHECK ?= build-memcheck

.PHONY: memcheck

## memcheck: unit tests and an end-to-end run under valgrind (0 errors, 0 leaks)
memcheck:
	bash valgrind/memcheck.sh $(BUILD_MEMCHECK)
