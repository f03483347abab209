# store.mk - the S3-compatible server for development and benchmarks, and
# the bucket the pipeline writes to (included by the top Makefile, which
# defines BUILD, VENV, IOTPIPE and the build target).
#
#   make s3-fetch    S3Proxy and its runtime jars from Maven Central into
#                    .cache/s3proxy (needs java 17 and mvn; make deps does it)
#   make s3-start    S3Proxy on 127.0.0.1:$(S3_PORT), signature-checking,
#                    objects under .cache/s3proxy/data
#   make s3-stop     stop it;  make s3-status: exit 0 when it answers
#   make bucket      create the configured bucket if missing (the reference's
#                    create_bucket.sh), waiting up to 60 s for the endpoint
#   make bench-s3    1 GB up and down, iotpipe vs boto3 (bench/s3_bench.sh)
#
# Settings come from the environment or s3/.env (make generate_aws_env):
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3, BUCKET_NAME.
# With no credentials and no endpoint at all, `make bucket` targets the
# local S3Proxy that `make s3-start` runs, with its default identity.
S3_SCRIPT := s3/local-s3.sh
S3_PORT ?= 9000
BUCKET_NAME ?= my-parametric-bucket
S3_ENV = set -a; [ -f s3/.env ] && . s3/.env; set +a; \
	if [ -z "$${AWS_ACCESS_KEY_ID:-}" ] && [ -z "$${AWS_ENDPOINT_URL_S3:-}$${AWS_ENDPOINT_URL:-}$${ENDPOINT_URL:-}" ]; then \
	  export AWS_ACCESS_KEY_ID=iotpipe AWS_SECRET_ACCESS_KEY=iotpipe-secret \
	         AWS_ENDPOINT_URL_S3=http://127.0.0.1:$(S3_PORT); fi

.PHONY: s3-fetch s3-start s3-stop s3-status bucket bench-s3

s3-fetch:
	bash $(S3_SCRIPT) fetch

s3-start:
	S3PROXY_PORT=$(S3_PORT) bash $(S3_SCRIPT) start

s3-stop:
	bash $(S3_SCRIPT) stop

s3-status:
	S3PROXY_PORT=$(S3_PORT) bash $(S3_SCRIPT) status

bucket: build
	@$(S3_ENV); $(IOTPIPE) mb --wait 60 "s3://$${BUCKET_NAME:-$(BUCKET_NAME)}"

bench-s3: build
	bash bench/s3_bench.sh
