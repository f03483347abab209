/*
 * dataset.h - the raw dataset as a list of devices, each with its files.
 *
 * dataset_scan() lists every object under the root URI (recursively, local
 * or S3), skips hidden paths (a component starting with '.' or '_', as
 * Spark does: _SUCCESS, _temporary/, .crc) and names not ending in
 * ".parquet", reads the device from the `device_id=<value>` directory
 * (Hive escaping undone, hive.h), and groups the files per device. Devices
 * come sorted by id (bytewise; the null device first), files by URI, so
 * every run processes rows in the same order. Only the listing is read
 * here, no file.
 *
 * A dataset without device_id= in its paths but with date=<yyyy-MM-dd>
 * (`archive --partition-by date`) is grouped by date instead: each
 * "device" below is then one date directory, `id` its date, and the
 * files carry the device in their device_id column (by_date). Every
 * device-day lies in one date directory either way. One dataset with
 * both layouts is an error.
 *
 *	struct dataset ds;
 *	if (dataset_scan(st, uri, &ds, &err)) ...
 *	dataset_keep_shard(&ds, i, n);     // optional: --shard i/n
 *	for (size_t d = 0; d < ds.ndevices; d++) ... ds.devices[d].files ...
 *	dataset_release(&ds);
 */
#ifndef IOT_BATCH_DATASET_H
#define IOT_BATCH_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

struct dataset_file {
	char *uri;     /* full URI or local path, for store/pq and messages */
	uint64_t size; /* bytes */
};

struct dataset_device {
	char *id;      /* unescaped device_id; NULL for Hive's null marker */
	size_t first;  /* index of files[0] among all the dataset's files,
			  in device then file order (dataset_files()) */
	struct dataset_file *files;
	size_t nfiles, alloc;
	uint64_t bytes;
	/* by_date: this unit keeps the devices of sub-shard part_i of
	 * part_n of its date (dataset_split_dates); part_n 0 or 1: all */
	uint32_t part_i, part_n;
};

struct dataset {
	bool by_date;  /* units are date= directories (see above) */
	struct dataset_device *devices;
	size_t ndevices, alloc;
	size_t nfiles;
	uint64_t bytes;
};

/*
 * Scans root (a directory or prefix URI). A file outside any device_id=
 * directory is an error (IOT_ERR_FORMAT naming it), like Spark's refusal
 * of mixed layouts. An empty or missing root gives an empty dataset.
 */
enum iot_err dataset_scan(struct store *st, const char *root,
		  struct dataset *ds, struct iot_error *err);

/* FNV-1a (64-bit) of a device id ("" for the null device): the stable
 * hash that --shard uses, the same on every machine and every run. */
uint64_t dataset_device_hash(const char *id);

/* Keeps the devices with dataset_device_hash(id) % n == i (0 <= i < n).
 * A by_date dataset keeps every date: its rows are filtered by device as
 * they are read (struct device_job's shard). */
void dataset_keep_shard(struct dataset *ds, uint64_t i, uint64_t n);

/*
 * A by_date dataset: splits date d into parts[d] units (parts[d] >= 1),
 * each reading every file of the date and keeping the devices of one
 * sub-shard (struct dataset_device's part_i/part_n): one date's rows are
 * then shared by several threads, and a unit holds a part of them in
 * memory. The units of a date come together, in part order.
 */
void dataset_split_dates(struct dataset *ds, const uint32_t *parts);

/* Every file's URI and size in device then file order (device d's file f
 * is at index devices[d].first + f). The arrays are the caller's to free;
 * the strings are borrowed from ds. */
void dataset_files(const struct dataset *ds, const char ***uris, uint64_t **sizes);

void dataset_release(struct dataset *ds);

#endif
