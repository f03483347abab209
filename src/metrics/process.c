/*
 * process.c - the standard Prometheus process metrics, under the names
 * every official client library (Go's client_golang, Python's
 * prometheus_client) exports, unprefixed, so that generic dashboards and
 * alerts (node/process "exporter" panels, "process restarted",
 * "file descriptors nearly exhausted") work on iotpipe unchanged:
 *
 *	process_cpu_seconds_total      counter  user + system CPU seconds
 *	process_resident_memory_bytes  gauge    resident set size
 *	process_virtual_memory_bytes   gauge    virtual memory size
 *	process_open_fds               gauge    open file descriptors
 *	process_max_fds                gauge    soft RLIMIT_NOFILE
 *	process_start_time_seconds     gauge    start time, unix seconds
 *
 * One extra keeps our prefix because the standard set has nothing like it:
 * iotpipe_process_max_resident_memory_bytes, the peak resident set size
 * (getrusage's ru_maxrss). A spike between two scrapes (a large batch, a
 * Parquet row group being built) is invisible in the sampled RSS but stays
 * in the peak, and the peak is what a container's memory limit must hold.
 * The earlier prefixed copies of the standard names (iotpipe_process_cpu_
 * seconds_total and friends) are gone: two names for one value double the
 * series and leave dashboards to guess which one is meant.
 *
 * The values are read at scrape time by a collector (getrusage, /proc/self)
 * on the metrics HTTP thread, so they cost nothing between scrapes; the
 * start time is read once, at registration, from /proc/self/stat and the
 * boot time in /proc/stat, as the client libraries do, so it is the
 * kernel's start time of the process, not the moment metrics were set up.
 */
#include "metrics/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

static struct metric *cpu, *rss, *vms, *fds, *max_fds, *start, *max_rss;

static void collect(void *opaque)
{
	struct rusage ru;
	struct rlimit rl;
	double resident = 0;
	FILE *f;
	(void)opaque;

	f = fopen("/proc/self/statm", "r");
	if (f) {
		unsigned long size, res;
		if (fscanf(f, "%lu %lu", &size, &res) == 2) {
			long page = sysconf(_SC_PAGESIZE);
			resident = (double)res * (double)page;
			metric_set(vms, (double)size * (double)page);
			metric_set(rss, resident);
		}
		fclose(f);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		double s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		/* Linux reports ru_maxrss in kilobytes. The kernel's per-thread
		 * RSS counters are folded in lazily, so the peak can trail the
		 * statm value read just before by a few pages: a peak below the
		 * current value would only confuse, so it is at least that. */
		double peak = (double)ru.ru_maxrss * 1024.0;
		metric_set(cpu, s);
		metric_set(max_rss, peak > resident ? peak : resident);
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
	/* read at every scrape: setrlimit (or prlimit from outside) may
	 * change it while we run */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metric_set(max_fds, (double)rl.rlim_cur);
}

/*
 * The process's start time in unix seconds, from field 22 of
 * /proc/self/stat (clock ticks after boot) plus btime of /proc/stat;
 * 0 when either cannot be read. The command name (field 2) may hold
 * spaces and parentheses, so fields are counted from its last ')'.
 */
static double proc_start_time(void)
{
	char line[4096];
	unsigned long long ticks = 0, btime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	size_t n;
	const char *p;
	FILE *f;

	if (hz <= 0)
		return 0;
	f = fopen("/proc/self/stat", "r");
	if (!f)
		return 0;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	p = strrchr(line, ')');
	if (!p)
		return 0;
	/* after ") " comes field 3 (state); starttime is field 22 */
	p++;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	{
		char *end;
		ticks = strtoull(p + 1, &end, 10);
		if (end == p + 1)
			return 0;
	}

	f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "btime ", 6) == 0) {
			btime = strtoull(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	if (btime == 0)
		return 0;
	return (double)btime + (double)ticks / (double)hz;
}

void metrics_register_process(void)
{
	double t0;

	cpu = metrics_counter_float("process_cpu_seconds_total",
				    "Total user and system CPU time spent in seconds.", NULL);
	rss = metrics_gauge("process_resident_memory_bytes",
			    "Resident memory size in bytes.", NULL);
	vms = metrics_gauge("process_virtual_memory_bytes",
			    "Virtual memory size in bytes.", NULL);
	fds = metrics_gauge("process_open_fds", "Number of open file descriptors.", NULL);
	max_fds = metrics_gauge("process_max_fds",
				"Maximum number of open file descriptors (soft RLIMIT_NOFILE).",
				NULL);
	start = metrics_gauge("process_start_time_seconds",
			      "Start time of the process since unix epoch in seconds.", NULL);
	max_rss = metrics_gauge("iotpipe_process_max_resident_memory_bytes",
				"Peak resident memory size in bytes (getrusage ru_maxrss): "
				"spikes between scrapes that process_resident_memory_bytes "
				"misses.",
				NULL);
	t0 = proc_start_time();
	if (t0 <= 0) {
		/* no procfs: the moment metrics were set up, early in main */
		struct timeval tv;
		gettimeofday(&tv, NULL);
		t0 = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	}
	metric_set(start, t0);
	metrics_add_collector(collect, NULL);
}
