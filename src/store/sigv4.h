/*
 * sigv4.h - AWS Signature Version 4, as S3 wants it (private to src/store/).
 *
 * Pure functions over caller-owned strings: no clock, no I/O, no globals,
 * so any thread may call them and the unit tests can check them against
 * AWS's published examples and botocore's signer.
 *
 * Calling sequence (what s3_http.c does for every attempt):
 *
 *	struct buf path = BUF_INIT, query = BUF_INIT, auth = BUF_INIT;
 *	sigv4_uri_encode(&path, "/", 1, true);             // "/bucket/key"
 *	sigv4_uri_encode(&path, key, strlen(key), true);
 *	sigv4_canonical_query(&query, params, nparams);   // sorted, encoded
 *	struct sigv4_input in = { .method = "GET", .canonical_uri = path,
 *		.canonical_query = query, .headers = h, .nheaders = n, ... };
 *	sigv4_authorization(&auth, &in, NULL);
 *	// send "Authorization: <auth>" and exactly the headers in `h`
 */
#ifndef IOT_STORE_SIGV4_H
#define IOT_STORE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* sha256("") in hex: the payload hash of every request without a body. */
#define SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A header to sign. `name` in any case (lowercased for signing); the value
 * is trimmed and inner runs of spaces collapsed for signing. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* A query parameter, unencoded. value NULL means "name=" (e.g. uploads). */
struct sigv4_param {
	const char *name;
	const char *value;
};

struct sigv4_input {
	const char *method;          /* "GET", "PUT", ... */
	const char *canonical_uri;   /* encoded path, e.g. "/b/a%20b" */
	const char *canonical_query; /* from sigv4_canonical_query() */
	const struct sigv4_header *headers; /* must include host, x-amz-date */
	size_t nheaders;
	const char *payload_hash;    /* hex sha256 or UNSIGNED-PAYLOAD */
	const char *amz_date;        /* "20130524T000000Z" */
	const char *region;          /* "us-east-1" */
	const char *service;         /* "s3" */
	const char *access_key;
	const char *secret_key;
};

/*
 * Appends s[0..n) percent-encoded the S3 way: A-Z a-z 0-9 - _ . ~ stay,
 * every other byte becomes %XX with uppercase hex (UTF-8 bytes one by
 * one), and '/' stays only when keep_slash.
 */
void sigv4_uri_encode(struct buf *out, const char *s, size_t n,
		      bool keep_slash);

/* Appends the canonical query string: names and values encoded, sorted by
 * encoded name then value, "name=" for valueless parameters. */
void sigv4_canonical_query(struct buf *out, const struct sigv4_param *p,
			   size_t n);

/* Appends the canonical request (for tests and debugging). */
void sigv4_canonical_request(struct buf *out, const struct sigv4_input *in);

/* Appends the string to sign for a canonical request. */
void sigv4_string_to_sign(struct buf *out, const struct sigv4_input *in,
			  const char *canonical_request);

/*
 * Appends the value of the Authorization header:
 * "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,
 * SignedHeaders=host;range;..., Signature=<64 hex>". When `signature` is
 * not NULL the bare signature is copied there too (65 bytes).
 */
void sigv4_authorization(struct buf *out, const struct sigv4_input *in,
			 char *signature);

/* Hex sha256 of p[0..n) into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *p, size_t n, char out[65]);

#endif
