/*
 * sigv4.c - AWS Signature Version 4 for S3, written by hand on OpenSSL's
 * SHA-256 and HMAC.
 *
 * Why not libcurl's CURLOPT_AWS_SIGV4: Debian 12's libcurl 7.88.1 signs the
 * request it is given verbatim (no x-amz-content-sha256, no query sorting
 * or encoding, `?uploads` without '='), so we would have to pre-chew every
 * request into the one shape it gets right, and a later libcurl changes
 * that shape again. The algorithm itself is small and fully specified:
 *
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n HASH
 *   string to sign    = "AWS4-HMAC-SHA256" \n DATE \n SCOPE \n hex(sha256(CR))
 *   signing key       = HMAC chain over date, region, service, "aws4_request"
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * S3 differs from the other services in two ways that matter here: the
 * path is encoded once (not twice) and is not normalised ("a//b" and "./"
 * in keys are significant). Everything is a pure function of its input;
 * any thread may call it. Secrets only pass through HMAC: nothing here
 * logs or keeps them.
 */
#include "store/sigv4.h"
#include "core/xalloc.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const char hexdig[] = "0123456789abcdef";
static const char hexup[] = "0123456789ABCDEF";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(p, n, md);
	to_hex(md, sizeof(md), out);
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

void sigv4_uri_encode(struct buf *out, const char *s, size_t n,
		      bool keep_slash)
{
	buf_grow(out, n * 3);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			buf_putc(out, c);
		} else {
			char e[3] = { '%', hexup[c >> 4], hexup[c & 15] };
			buf_append(out, e, 3);
		}
	}
}

struct enc_param {
	char *name;
	char *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

void sigv4_canonical_query(struct buf *out, const struct sigv4_param *p,
			   size_t n)
{
	struct enc_param *e;
	struct buf tmp = BUF_INIT;

	if (!n)
		return;
	e = xcalloc(n, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		buf_reset(&tmp);
		sigv4_uri_encode(&tmp, p[i].name, strlen(p[i].name), false);
		e[i].name = xstrdup(buf_str(&tmp));
		buf_reset(&tmp);
		if (p[i].value)
			sigv4_uri_encode(&tmp, p[i].value, strlen(p[i].value),
					 false);
		e[i].value = xstrdup(buf_str(&tmp));
	}
	qsort(e, n, sizeof(*e), cmp_param);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, '&');
		buf_puts(out, e[i].name);
		buf_putc(out, '=');
		buf_puts(out, e[i].value);
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
	buf_release(&tmp);
}

struct canon_header {
	char *name;         /* lowercased */
	const char *value;
};

static int cmp_header(const void *a, const void *b)
{
	return strcmp(((const struct canon_header *)a)->name,
		      ((const struct canon_header *)b)->name);
}

/* Value trimmed, inner whitespace runs collapsed to one space. */
static void put_trimmed(struct buf *out, const char *v)
{
	int pending_space = 0, started = 0;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			pending_space = started;
			continue;
		}
		if (pending_space)
			buf_putc(out, ' ');
		pending_space = 0;
		started = 1;
		buf_putc(out, (unsigned char)*v);
	}
}

/* Sorted, lowercased copy of the headers; caller frees names and array. */
static struct canon_header *sorted_headers(const struct sigv4_input *in)
{
	struct canon_header *h = xcalloc(in->nheaders ? in->nheaders : 1,
					 sizeof(*h));

	for (size_t i = 0; i < in->nheaders; i++) {
		h[i].name = xstrdup(in->headers[i].name);
		for (char *c = h[i].name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		h[i].value = in->headers[i].value;
	}
	qsort(h, in->nheaders, sizeof(*h), cmp_header);
	return h;
}

static void free_headers(struct canon_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

static void put_signed_headers(struct buf *out, const struct canon_header *h,
			       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ';');
		buf_puts(out, h[i].name);
	}
}

void sigv4_canonical_request(struct buf *out, const struct sigv4_input *in)
{
	struct canon_header *h = sorted_headers(in);

	buf_printf(out, "%s\n%s\n%s\n", in->method, in->canonical_uri,
		   in->canonical_query ? in->canonical_query : "");
	for (size_t i = 0; i < in->nheaders; i++) {
		buf_puts(out, h[i].name);
		buf_putc(out, ':');
		put_trimmed(out, h[i].value);
		buf_putc(out, '\n');
	}
	buf_putc(out, '\n');
	put_signed_headers(out, h, in->nheaders);
	buf_putc(out, '\n');
	buf_puts(out, in->payload_hash);
	free_headers(h, in->nheaders);
}

static void put_scope(struct buf *out, const struct sigv4_input *in)
{
	buf_printf(out, "%.8s/%s/%s/aws4_request", in->amz_date, in->region,
		   in->service);
}

void sigv4_string_to_sign(struct buf *out, const struct sigv4_input *in,
			  const char *canonical_request)
{
	char hash[65];

	sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
	buf_printf(out, "AWS4-HMAC-SHA256\n%s\n", in->amz_date);
	put_scope(out, in);
	buf_printf(out, "\n%s", hash);
}

static void hmac(const void *key, size_t klen, const char *msg,
		 unsigned char out[32])
{
	unsigned int olen = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
	     strlen(msg), out, &olen);
}

void sigv4_authorization(struct buf *out, const struct sigv4_input *in,
			 char *signature)
{
	struct buf cr = BUF_INIT, sts = BUF_INIT, k = BUF_INIT;
	unsigned char kdate[32], kregion[32], kservice[32], ksign[32], sig[32];
	char date[9], hexsig[65];
	struct canon_header *h;

	sigv4_canonical_request(&cr, in);
	sigv4_string_to_sign(&sts, in, buf_str(&cr));

	buf_printf(&k, "AWS4%s", in->secret_key);
	memcpy(date, in->amz_date, 8);
	date[8] = '\0';
	hmac(k.data, k.len, date, kdate);
	hmac(kdate, 32, in->region, kregion);
	hmac(kregion, 32, in->service, kservice);
	hmac(kservice, 32, "aws4_request", ksign);
	hmac(ksign, 32, buf_str(&sts), sig);
	to_hex(sig, 32, hexsig);

	buf_printf(out, "AWS4-HMAC-SHA256 Credential=%s/", in->access_key);
	put_scope(out, in);
	buf_puts(out, ", SignedHeaders=");
	h = sorted_headers(in);
	put_signed_headers(out, h, in->nheaders);
	free_headers(h, in->nheaders);
	buf_printf(out, ", Signature=%s", hexsig);
	if (signature)
		memcpy(signature, hexsig, 65);

	/* The derived keys are secrets too: do not leave them on the stack. */
	OPENSSL_cleanse(k.data, k.len);
	OPENSSL_cleanse(kdate, sizeof(kdate));
	OPENSSL_cleanse(kregion, sizeof(kregion));
	OPENSSL_cleanse(kservice, sizeof(kservice));
	OPENSSL_cleanse(ksign, sizeof(ksign));
	buf_release(&k);
	buf_release(&cr);
	buf_release(&sts);
}
