/*
 * process.c - process CPU, memory and file-descriptor gauges, read from
 * /proc/self at scrape time by a collector (so they cost nothing between
 * scrapes). Names follow the Prometheus client libraries' process_* set,
 * prefixed with iotpipe_ to stay in our namespace.
 */
#include "metrics/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

static struct metric *cpu, *rss, *vms, *fds, *start, *max_rss;

static void collect(void *opaque)
{
	struct rusage ru;
	FILE *f;
	(void)opaque;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		double s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		metric_set(cpu, s);
		metric_set(max_rss, (double)ru.ru_maxrss * 1024.0);
	}
	f = fopen("/proc/self/statm", "r");
	if (f) {
		unsigned long size, res;
		if (fscanf(f, "%lu %lu", &size, &res) == 2) {
			long page = sysconf(_SC_PAGESIZE);
			metric_set(vms, (double)size * (double)page);
			metric_set(rss, (double)res * (double)page);
		}
		fclose(f);
	}
	{
		DIR *d = opendir("/proc/self/fd");
		if (d) {
			int n = 0;
			while (readdir(d))
				n++;
			closedir(d);
			metric_set(fds, n > 2 ? n - 3 : 0); /* ., .., the dir fd */
		}
	}
}

void metrics_register_process(void)
{
	struct timeval tv;

	cpu = metrics_counter_float("iotpipe_process_cpu_seconds_total",
			    "User and system CPU time spent, in seconds.", NULL);
	rss = metrics_gauge("iotpipe_process_resident_memory_bytes",
			    "Resident memory size in bytes.", NULL);
	max_rss = metrics_gauge("iotpipe_process_max_resident_memory_bytes",
				"Peak resident memory size in bytes.", NULL);
	vms = metrics_gauge("iotpipe_process_virtual_memory_bytes",
			    "Virtual memory size in bytes.", NULL);
	fds = metrics_gauge("iotpipe_process_open_fds",
			    "Number of open file descriptors.", NULL);
	start = metrics_gauge("iotpipe_process_start_time_seconds",
			      "Start time of the process since the epoch, in seconds.",
			      NULL);
	gettimeofday(&tv, NULL);
	metric_set(start, (double)tv.tv_sec);
	metrics_add_collector(collect, NULL);
}
