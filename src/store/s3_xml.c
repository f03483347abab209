/*
 * s3_xml.c - reading S3's XML answers with libxml2: <Error> (Code,
 * Message), ListObjectsV2 pages, and single values such as UploadId; and
 * the server's clock in an answer (its Date header, or <ServerTime>).
 *
 * The XML comes from the network, so it is validated, never asserted on:
 * a malformed document yields IOT_ERR_FORMAT (or empty strings for error
 * bodies, where the HTTP status still says what happened). Parsing never
 * touches the network (XML_PARSE_NONET) and never expands entities into
 * external resources. Elements are matched by local name, ignoring the
 * namespace, because S3-compatible servers differ in whether they send
 * xmlns. libxml2 is initialised once, process-wide; after that any thread
 * may parse.
 */
#include "core/hex.h"
#include "store/s3.h"
#include "core/xalloc.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static xmlDocPtr parse(const char *xml, size_t len)
{
	pthread_once(&xml_once, xml_init);
	if (!xml || !len || len > (size_t)1 << 30)
		return NULL;
	return xmlReadMemory(xml, (int)len, "s3.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR |
				     XML_PARSE_NOWARNING);
}

static bool named(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       !strcmp((const char *)n->name, name);
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
		if (named(n, name))
			return n;
	return NULL;
}

/* Text of a child element; caller frees with xmlFree; NULL when absent. */
static char *child_text(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = child(parent, name);
	return n ? (char *)xmlNodeGetContent(n) : NULL;
}

static void copy_text(xmlNodePtr parent, const char *name, char *out,
		      size_t cap)
{
	char *t = child_text(parent, name);
	size_t n;

	if (!cap)
		return;
	out[0] = '\0';
	if (!t)
		return;
	/* One line: the message goes into a one-line error. */
	n = 0;
	for (const char *p = t; *p && n + 1 < cap; p++)
		out[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	out[n] = '\0';
	xmlFree(t);
}

void s3_xml_error(const char *xml, size_t len, char *code, size_t code_cap,
		  char *msg, size_t msg_cap)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root;

	if (code_cap)
		code[0] = '\0';
	if (msg_cap)
		msg[0] = '\0';
	if (!doc)
		return;
	root = xmlDocGetRootElement(doc);
	if (root && named(root, "Error")) {
		copy_text(root, "Code", code, code_cap);
		copy_text(root, "Message", msg, msg_cap);
	}
	xmlFreeDoc(doc);
}

static xmlNodePtr find_any(xmlNodePtr n, const char *name)
{
	for (; n; n = n->next) {
		xmlNodePtr r;
		if (named(n, name))
			return n;
		if ((r = find_any(n->children, name)))
			return r;
	}
	return NULL;
}

char *s3_xml_find(const char *xml, size_t len, const char *name)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr n;
	char *out = NULL;

	if (!doc)
		return NULL;
	n = find_any(xmlDocGetRootElement(doc), name);
	if (n) {
		xmlChar *t = xmlNodeGetContent(n);
		out = xstrdup(t ? (const char *)t : "");
		xmlFree(t);
	}
	xmlFreeDoc(doc);
	return out;
}

/* In-place URL decoding ("%XX" and '+' as space, as S3's url encoding
 * type produces). */
static void url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
			*o++ = (char)(hex_digit(s[1]) * 16 + hex_digit(s[2]));
			s += 2;
		} else if (*s == '+') {
			*o++ = ' ';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* "2025-01-01T10:00:00.000Z" -> seconds since the epoch (0 if odd). */
static int64_t parse_iso(const char *s)
{
	struct tm tm;
	const char *end;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	return (int64_t)timegm(&tm);
}

enum iot_err s3_xml_list_page(const char *xml, size_t len, s3_list_fn fn,
			      void *opaque, bool *truncated, char **next,
			      bool *stopped, struct iot_error *err)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root;
	char *t;
	bool url = false;

	*truncated = false;
	*next = NULL;
	*stopped = false;
	if (!doc)
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "ListObjectsV2: malformed XML answer");
	root = xmlDocGetRootElement(doc);
	if (root && named(root, "Error")) {
		/* A 200 carrying S3's <Error> (some servers and proxies do):
		 * what it says is the cause. */
		char code[128], msg[256];

		copy_text(root, "Code", code, sizeof(code));
		copy_text(root, "Message", msg, sizeof(msg));
		xmlFreeDoc(doc);
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "ListObjectsV2: the server answered 200 "
				     "with an error: %s%s%s",
				     *code ? code : "(no Code)",
				     *msg ? ": " : "", msg);
	}
	if (!root || !named(root, "ListBucketResult")) {
		xmlFreeDoc(doc);
		return iot_error_set(err, IOT_ERR_FORMAT,
				     "ListObjectsV2: answer is not a "
				     "ListBucketResult");
	}
	if ((t = child_text(root, "EncodingType"))) {
		url = !strcmp(t, "url");
		xmlFree(t);
	}
	if ((t = child_text(root, "IsTruncated"))) {
		*truncated = !strcmp(t, "true");
		xmlFree(t);
	}
	if ((t = child_text(root, "NextContinuationToken"))) {
		*next = xstrdup(t);
		xmlFree(t);
	}
	for (xmlNodePtr n = root->children; n; n = n->next) {
		struct store_stat st;
		char *key, *v;

		if (!named(n, "Contents"))
			continue;
		key = child_text(n, "Key");
		if (!key)
			continue;
		memset(&st, 0, sizeof(st));
		if ((v = child_text(n, "Size"))) {
			st.size = strtoull(v, NULL, 10);
			xmlFree(v);
		}
		if ((v = child_text(n, "LastModified"))) {
			st.mtime = parse_iso(v);
			xmlFree(v);
		}
		copy_text(n, "ETag", st.etag, sizeof(st.etag));
		if (st.etag[0] == '"') {
			size_t l = strlen(st.etag);
			memmove(st.etag, st.etag + 1, l);
			l--;
			if (l && st.etag[l - 1] == '"')
				st.etag[l - 1] = '\0';
		}
		if (url)
			url_decode(key);
		if (fn(opaque, key, &st)) {
			*stopped = true;
			xmlFree(key);
			break;
		}
		xmlFree(key);
	}
	xmlFreeDoc(doc);
	return IOT_OK;
}

bool s3_server_time(const char *date, const char *xml, size_t len, int64_t *out)
{
	char *st;
	int64_t t = 0;

	if (date && *date) {
		time_t d = curl_getdate(date, NULL);
		if (d > 0) {
			*out = (int64_t)d;
			return true;
		}
	}
	st = s3_xml_find(xml, len, "ServerTime");
	if (st)
		t = parse_iso(st);
	free(st);
	if (t <= 0)
		return false;
	*out = t;
	return true;
}
