/*
 * s3_ops.c - the S3 operations iotpipe needs, each one s3_request with
 * the right method, query and headers: PutObject, GetObject (whole or a
 * byte range), HeadObject, DeleteObject, CreateBucket, ListObjectsV2 (all
 * pages) and the four multipart calls.
 *
 * Same thread rules as the client (one thread per client). Error messages
 * come from s3_request_perform() and already name the operation, bucket
 * and key; this file adds only what the request layer cannot know (e.g.
 * "bucket already exists and is not ours").
 */
#include "store/s3.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/xalloc.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

enum iot_err s3_put_object(struct s3_client *c, const char *bucket,
			   const char *key, const void *data, size_t len,
			   unsigned flags, struct iot_error *err)
{
	struct sigv4_header h[] = { { "if-none-match", "*" } };
	struct s3_request req = {
		.op = "put", .method = "PUT", .bucket = bucket, .key = key,
		.body = data, .body_len = len,
		.headers = h, .nheaders = (flags & STORE_PUT_IF_ABSENT) ? 1 : 0,
	};

	return s3_request_perform(c, &req, err);
}

/* GET with an optional Range header into dst (cap bytes) or out (at
 * most cap bytes). */
static enum iot_err get_common(struct s3_client *c, const char *bucket,
			       const char *key, const char *range, void *dst,
			       size_t cap, size_t *got, struct buf *out,
			       struct iot_error *err)
{
	struct sigv4_header h[] = { { "range", range } };
	struct s3_request req = {
		.op = "get", .method = "GET", .bucket = bucket, .key = key,
		.dst = dst, .dst_cap = cap, .resp = dst ? NULL : out,
		.resp_max = cap, .headers = h, .nheaders = range ? 1 : 0,
	};
	enum iot_err rc = s3_request_perform(c, &req, err);

	if (rc == IOT_ERR_NET && req.status == 416) {
		/* Range starts at or past the end: an empty read, as pread. */
		if (got)
			*got = 0;
		return IOT_OK;
	}
	if (got)
		*got = req.dst_len;
	return rc;
}

enum iot_err s3_get_object(struct s3_client *c, const char *bucket,
			   const char *key, uint64_t offset, size_t len,
			   void *dst, size_t *got, size_t max, struct buf *out,
			   struct iot_error *err)
{
	char range[64];

	if (len)
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64,
			 offset, offset + len - 1);
	else if (offset)
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", offset);
	return get_common(c, bucket, key, len || offset ? range : NULL, dst,
			  dst ? len : max, got, out, err);
}

enum iot_err s3_get_object_into(struct s3_client *c, const char *bucket,
				const char *key, void *dst, size_t cap,
				size_t *got, struct iot_error *err)
{
	return get_common(c, bucket, key, NULL, dst, cap, got, NULL, err);
}

enum iot_err s3_head_object(struct s3_client *c, const char *bucket,
			    const char *key, struct store_stat *out,
			    struct iot_error *err)
{
	struct s3_request req = {
		.op = "head", .method = "HEAD", .bucket = bucket, .key = key,
	};
	enum iot_err rc = s3_request_perform(c, &req, err);

	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	out->size = req.content_length;
	out->mtime = req.last_modified;
	memcpy(out->etag, req.etag, sizeof(out->etag));
	return IOT_OK;
}

enum iot_err s3_delete_object(struct s3_client *c, const char *bucket,
			      const char *key, struct iot_error *err)
{
	struct s3_request req = {
		.op = "delete", .method = "DELETE", .bucket = bucket,
		.key = key,
	};

	return s3_request_perform(c, &req, err);
}

enum iot_err s3_create_bucket(struct s3_client *c, const char *bucket,
			      struct iot_error *err)
{
	struct buf body = BUF_INIT;
	const char *region = s3_client_config(c)->region;
	struct s3_request req = {
		.op = "create_bucket", .method = "PUT", .bucket = bucket,
	};
	struct iot_error e = IOT_ERROR_INIT;
	enum iot_err rc;

	/* us-east-1 takes no location constraint (and rejects one). */
	if (strcmp(region, "us-east-1")) {
		buf_printf(&body,
			   "<CreateBucketConfiguration xmlns=\"http://s3."
			   "amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
			   "%s</LocationConstraint></CreateBucketConfiguration>",
			   region);
		req.body = body.data;
		req.body_len = body.len;
	}
	rc = s3_request_perform(c, &req, &e);
	buf_release(&body);
	if (rc == IOT_ERR_STATE && strstr(e.msg, "BucketAlreadyOwnedByYou"))
		return IOT_OK;
	if (rc == IOT_ERR_STATE && strstr(e.msg, "BucketAlreadyExists")) {
		/* Some servers say AlreadyExists for our own bucket: ask. */
		struct s3_request head = {
			.op = "head_bucket", .method = "HEAD", .bucket = bucket,
		};
		if (s3_request_perform(c, &head, NULL) == IOT_OK)
			return IOT_OK;
		iot_error_prefix(&e, "bucket exists and is not ours");
	}
	if (rc && err)
		*err = e;
	return rc;
}

/* Remembers the last key listed, for the next page's start-after and to
 * check the order of the keys that follow it. */
struct page_ctx {
	s3_list_fn fn;
	void *opaque;
	const char *bucket, *prefix;
	char *last;
	size_t n;
	enum iot_err rc;      /* the order check's verdict */
	struct iot_error *err;
};

static int page_entry(void *opaque, const char *key, const struct store_stat *st)
{
	struct page_ctx *p = opaque;

	/* ListObjectsV2 lists keys in strictly increasing byte order (UTF-8
	 * binary order, which strcmp is), and each page after the key its
	 * start-after names. A key at or before the last one is a repeat (it
	 * would be read twice) or a server that ignores start-after (the
	 * listing would never end): fail, naming both. */
	if (p->last && strcmp(key, p->last) <= 0) {
		p->rc = iot_error_set(p->err, IOT_ERR_FORMAT,
				      "s3 list s3://%s/%s: the server listed "
				      "key '%.300s' after '%.300s': listing "
				      "out of order or repeated", p->bucket,
				      p->prefix, key, p->last);
		return 1;
	}
	free(p->last);
	p->last = xstrdup(key);
	p->n++;
	return p->fn(p->opaque, key, st);
}

/*
 * Pages are chained with start-after=<last key of the previous page>, not
 * with NextContinuationToken: S3Proxy 3.0 hands out the url-encoded key
 * as the token when encoding-type=url and then does not decode it, so
 * following the token restarts the listing forever. For a listing without
 * a delimiter the two are equivalent on AWS (keys come in strict byte
 * order). A truncated page without keys would loop, so it is an error,
 * and so is a key that does not come after the one before it (page_entry):
 * together they make every page move the listing forward, so it ends.
 * A page's answer is at most S3_XML_MAX bytes.
 */
enum iot_err s3_list_objects(struct s3_client *c, const char *bucket,
			     const char *prefix, s3_list_fn fn, void *opaque,
			     struct iot_error *err)
{
	struct buf page = BUF_INIT;
	struct page_ctx pc = { fn, opaque, bucket, prefix ? prefix : "", NULL,
			       0, IOT_OK, err };
	enum iot_err rc = IOT_OK;

	for (;;) {
		struct sigv4_param q[4] = {
			{ "list-type", "2" },
			{ "encoding-type", "url" },
			{ "prefix", prefix ? prefix : "" },
		};
		size_t nq = 3;
		struct s3_request req = {
			.op = "list", .method = "GET", .bucket = bucket,
			.query = q, .resp = &page, .resp_max = S3_XML_MAX,
		};
		bool truncated, stopped;
		char *next = NULL;

		if (pc.last)
			q[nq++] = (struct sigv4_param){ "start-after", pc.last };
		req.nquery = nq;
		buf_reset(&page);
		rc = s3_request_perform(c, &req, err);
		if (rc)
			break;
		pc.n = 0;
		rc = s3_xml_list_page((const char *)page.data, page.len,
				      page_entry, &pc, &truncated, &next,
				      &stopped, err);
		free(next);
		if (rc) {
			iot_error_prefix(err, "s3 list s3://%s/%s", bucket,
					 prefix ? prefix : "");
			break;
		}
		if (pc.rc) {
			rc = pc.rc;
			break;
		}
		if (stopped || !truncated)
			break;
		if (!pc.n) {
			rc = iot_error_set(err, IOT_ERR_FORMAT,
					   "s3 list s3://%s/%s: truncated page "
					   "without keys", bucket,
					   prefix ? prefix : "");
			break;
		}
	}
	free(pc.last);
	buf_release(&page);
	return rc;
}

enum iot_err s3_multipart_create(struct s3_client *c, const char *bucket,
				 const char *key, char **upload_id,
				 struct iot_error *err)
{
	struct sigv4_param q[] = { { "uploads", NULL } };
	struct buf resp = BUF_INIT;
	struct s3_request req = {
		.op = "create_multipart", .method = "POST", .bucket = bucket,
		.key = key, .query = q, .nquery = 1, .resp = &resp,
		.resp_max = S3_XML_MAX,
	};
	enum iot_err rc = s3_request_perform(c, &req, err);

	*upload_id = NULL;
	if (!rc) {
		*upload_id = s3_xml_find((const char *)resp.data, resp.len,
					 "UploadId");
		if (!*upload_id || !**upload_id) {
			free(*upload_id);
			*upload_id = NULL;
			rc = iot_error_set(err, IOT_ERR_FORMAT,
					   "s3 create_multipart s3://%s/%s: "
					   "answer has no UploadId", bucket, key);
		}
	}
	buf_release(&resp);
	return rc;
}

enum iot_err s3_multipart_upload_part(struct s3_client *c, const char *bucket,
				      const char *key, const char *upload_id,
				      int part_number, const void *data,
				      size_t len, char *etag_out,
				      struct iot_error *err)
{
	char num[16];
	struct sigv4_param q[] = { { "partNumber", num },
				   { "uploadId", upload_id } };
	struct s3_request req = {
		.op = "upload_part", .method = "PUT", .bucket = bucket,
		.key = key, .query = q, .nquery = 2, .body = data,
		.body_len = len,
	};
	enum iot_err rc;

	snprintf(num, sizeof(num), "%d", part_number);
	rc = s3_request_perform(c, &req, err);
	if (!rc && !req.etag[0])
		rc = iot_error_set(err, IOT_ERR_FORMAT,
				   "s3 upload_part s3://%s/%s part %d: answer "
				   "has no ETag", bucket, key, part_number);
	if (!rc)
		memcpy(etag_out, req.etag, 80);
	return rc;
}

/*
 * Whether key is the object that completing these parts makes: a
 * multipart object's ETag is the MD5 of its parts' binary MD5s, then
 * "-<parts>" (AWS, S3Proxy, MinIO). Parts whose ETags are not MD5s (an
 * encrypted bucket) never match, so the caller reports its error.
 */
static bool completed_before(struct s3_client *c, const char *bucket, const char *key,
			     char (*etags)[80], int nparts)
{
	struct store_stat st;
	struct iot_error e = IOT_ERROR_INIT;
	unsigned char *md5s = xmalloc((size_t)nparts * 16 + 1), sum[EVP_MAX_MD_SIZE];
	unsigned int sum_len = 0;
	char want[80];
	bool ok = nparts > 0;

	for (int i = 0; i < nparts && ok; i++) {
		ok = strlen(etags[i]) == 32;
		for (int k = 0; k < 16 && ok; k++) {
			int hi = hex_digit(etags[i][2 * k]), lo = hex_digit(etags[i][2 * k + 1]);
			ok = hi >= 0 && lo >= 0;
			md5s[16 * i + k] = (unsigned char)(hi * 16 + lo);
		}
	}
	if (ok)
		ok = EVP_Digest(md5s, (size_t)nparts * 16, sum, &sum_len, EVP_md5(), NULL) == 1 &&
		     sum_len == 16;
	free(md5s);
	if (!ok || s3_head_object(c, bucket, key, &st, &e))
		return false;
	for (unsigned k = 0; k < 16; k++)
		snprintf(want + 2 * k, 3, "%02x", sum[k]);
	snprintf(want + 32, sizeof(want) - 32, "-%d", nparts);
	log_debug("s3", "complete_multipart s3://%s/%s: the object's ETag is %s, the parts "
			"make %s", bucket, key, st.etag, want);
	return !strcasecmp(st.etag, want);
}

enum iot_err s3_multipart_complete(struct s3_client *c, const char *bucket,
				   const char *key, const char *upload_id,
				   char (*etags)[80], int nparts,
				   unsigned flags, struct iot_error *err)
{
	struct sigv4_param q[] = { { "uploadId", upload_id } };
	struct sigv4_header h[] = { { "if-none-match", "*" } };
	struct buf body = BUF_INIT, resp = BUF_INIT;
	struct s3_request req = {
		.op = "complete_multipart", .method = "POST", .bucket = bucket,
		.key = key, .query = q, .nquery = 1, .resp = &resp,
		.resp_max = S3_XML_MAX, .slow_answer = true,
		.headers = h, .nheaders = (flags & STORE_PUT_IF_ABSENT) ? 1 : 0,
	};
	enum iot_err rc;

	buf_puts(&body, "<CompleteMultipartUpload>");
	for (int i = 0; i < nparts; i++)
		buf_printf(&body,
			   "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag>"
			   "</Part>", i + 1, etags[i]);
	buf_puts(&body, "</CompleteMultipartUpload>");
	req.body = body.data;
	req.body_len = body.len;
	rc = s3_request_perform(c, &req, err);
	if (rc && (req.status == 404 || req.status == 400) &&
	    completed_before(c, bucket, key, etags, nparts)) {
		/* an earlier attempt completed it and its answer was lost
		 * (libcurl itself resends a request whose reused connection
		 * died): the retry finds no upload (NoSuchUpload) or no parts
		 * (InvalidPart), and the object is there with the ETag these
		 * parts make, so it holds exactly their bytes */
		log_info("s3", "complete_multipart s3://%s/%s: completed by an earlier attempt "
			       "whose answer was lost", bucket, key);
		iot_error_clear(err);
		rc = IOT_OK;
	} else if (!rc) {
		/* S3 may answer 200 and put the failure in the body. */
		char code[128], msg[256];
		s3_xml_error((const char *)resp.data, resp.len, code,
			     sizeof(code), msg, sizeof(msg));
		if (*code)
			rc = iot_error_set(err, IOT_ERR_NET,
					   "s3 complete_multipart s3://%s/%s: "
					   "%s: %s", bucket, key, code, msg);
	}
	buf_release(&body);
	buf_release(&resp);
	return rc;
}

enum iot_err s3_multipart_abort(struct s3_client *c, const char *bucket,
				const char *key, const char *upload_id,
				struct iot_error *err)
{
	struct sigv4_param q[] = { { "uploadId", upload_id } };
	struct s3_request req = {
		.op = "abort_multipart", .method = "DELETE", .bucket = bucket,
		.key = key, .query = q, .nquery = 1,
	};

	return s3_request_perform(c, &req, err);
}
