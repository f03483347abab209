/*
 * s3_parts.h - parallel part uploads for one multipart upload (private to
 * src/store/).
 *
 * The output stream hands full parts to the pool and goes on filling the
 * next one; `workers` threads, each with its own s3_client (connection),
 * send them. At most `workers` parts are in flight: submit blocks while
 * they are, so memory stays at (workers + 1) parts. The first failure
 * sticks: later submits return it at once, and wait reports it.
 *
 * Calling sequence (the stream's thread only):
 *
 *	struct s3_part_pool *p = s3_part_pool_create(cfg, b, k, id, 4);
 *	s3_part_pool_submit(p, 1, buf1, len1, &err);  // takes buf1 (malloc'd)
 *	s3_part_pool_submit(p, 2, buf2, len2, &err);
 *	if (s3_part_pool_wait(p, &err) == IOT_OK)    // all parts done
 *		s3_multipart_complete(c, b, k, id,
 *				      s3_part_pool_etags(p), s3_part_pool_count(p), ...);
 *	s3_part_pool_destroy(p);                      // joins the threads
 */
#ifndef IOT_STORE_S3_PARTS_H
#define IOT_STORE_S3_PARTS_H

#include "store/s3.h"

struct s3_part_pool;

/* Copies what it needs from the arguments. */
struct s3_part_pool *s3_part_pool_create(const struct s3_config *cfg,
					 const char *bucket, const char *key,
					 const char *upload_id, int workers);
/* Queues part `number` (1-based, consecutive); the pool frees `data`. */
enum iot_err s3_part_pool_submit(struct s3_part_pool *p, int number,
				 char *data, size_t len, struct iot_error *err);
/* Waits until every submitted part is sent; the first error, if any. */
enum iot_err s3_part_pool_wait(struct s3_part_pool *p, struct iot_error *err);
/* After a successful wait: the ETags of parts 1..count. */
char (*s3_part_pool_etags(struct s3_part_pool *p))[80];
int s3_part_pool_count(const struct s3_part_pool *p);
/* Stops taking work, drops queued parts, joins the threads. NULL ok. */
void s3_part_pool_destroy(struct s3_part_pool *p);

#endif
