/*
 * hex.h - the value of a hexadecimal digit, for the decoders that meet
 * them (JSON \uXXXX escapes, Hive %XX path escapes, S3's URL-encoded XML).
 */
#ifndef IOT_HEX_H
#define IOT_HEX_H

/* 0..15, or -1 when c is not a hexadecimal digit. */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
