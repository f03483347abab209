#!/usr/bin/env bash
# threads.sh - where the time goes in `archive --once` and `aggregate --once`:
# one run of each under `perf record` on a topic that already holds the
# events, then a table per job, by thread name: `iotpipe` is the job thread
# (handles records, plans commits), `iot-worker` the decoder (JSON) and the
# fetch waker, `iot-commit` a commit round, `iot-pool` the writer threads
# (Parquet encoding, object writes; a pool per round), `rdk:broker*`
# librdkafka's fetcher, `rdk:main` its timers. Output is Markdown on stdout,
# pasted into bench/results/streaming.md ("Where the time goes").
#
# usage: bench/threads.sh BOOTSTRAP TOPIC [IOTPIPE]
# JOBS="archive aggregate": the jobs profiled; AGGREGATE_FLAGS: more flags
# for the aggregate (e.g. "--partition-by date").
# Output and checkpoints go to tmpfs (/dev/shm), as in bench/streaming.sh,
# so the file system's inode allocation is not what is measured.
# OFFCPU=1 (default): each job, and kcat first, also runs once under
# `perf sched record`, and a second table gives per thread name the time
# running, blocked (waiting for another thread, the network or a lock) and
# runnable but waiting for a CPU (scheduling delay): where the wall time
# goes that CPU samples do not show.
# Needs: perf (linux-perf), a built iotpipe (default build/iotpipe), kcat.
set -euo pipefail

B=${1:?usage: bench/threads.sh BOOTSTRAP TOPIC [IOTPIPE]}
TOPIC=${2:?usage: bench/threads.sh BOOTSTRAP TOPIC [IOTPIPE]}
IOTPIPE=${3:-build/iotpipe}
W=$(mktemp -d /dev/shm/iotpipe-threads.XXXXXX)
trap 'rm -rf "$W"' EXIT

# offcpu NAME CMD...: one run under perf sched; a table of the threads
# that ran at least 50 ms, by name
offcpu() {
	local name=$1
	shift
	[ "${OFFCPU:-1}" = 1 ] || return 0
	/usr/bin/time -f "%e" -o "$W/sched.time" perf sched record -q -o "$W/sched.data" -- "$@" \
		>/dev/null 2>&1
	echo "Off-CPU, $name, $(cat "$W/sched.time") s under perf sched (\`perf sched timehist\`;"
	echo "ms summed over the threads of a name, those that ran 50 ms or more):"
	echo
	echo "| threads | running | blocked | waiting for a CPU |"
	echo "|---|---:|---:|---:|"
	perf sched timehist -i "$W/sched.data" 2>/dev/null |
		awk 'NR > 3 { t = $3; for (i = 4; i <= NF - 3; i++) t = t " " $i # names with spaces
			      sub(/\[[0-9\/]+\]$/, "", t); w[t] += $(NF-2); d[t] += $(NF-1); r[t] += $NF }
		     END { for (k in r) if (r[k] >= 50 && k != "<idle>")
			   printf "| %s | %.0f | %.0f | %.0f |\n", k, r[k], w[k], d[k] }' |
		sort -t'|' -k3 -nr
	echo
	rm -f "$W/sched.data"
}

if command -v kcat >/dev/null; then
	echo "### kcat (the consume ceiling, $TOPIC)"
	echo
	offcpu kcat kcat -C -b "$B" -t "$TOPIC" -o beginning -e -q -f ''
fi

for job in ${JOBS:-archive aggregate}; do
	args=(--bootstrap-servers "$B" --topic "$TOPIC" --output "$W/$job/out"
	      --checkpoint "$W/$job/ck" --once --metrics-addr off --log-level warn)
	# shellcheck disable=SC2206 # flags split on purpose
	[ "$job" = aggregate ] && args+=(${AGGREGATE_FLAGS:-})
	/usr/bin/time -f "%e %U %S %M" -o "$W/$job.time" \
		"$IOTPIPE" "$job" "${args[@]}" --group "threads-$job-$$-t" >/dev/null
	rm -rf "${W:?}/$job"
	perf record -q -F 999 -g -o "$W/$job.data" -- \
		"$IOTPIPE" "$job" "${args[@]}" --group "threads-$job-$$-p" >/dev/null 2>&1
	read -r wall user sys rss <"$W/$job.time"
	label=$TOPIC
	[ "$job" = aggregate ] && [ -n "${AGGREGATE_FLAGS:-}" ] && label+=", $AGGREGATE_FLAGS"
	echo "### $job --once ($label)"
	echo
	echo "Without perf: ${wall} s wall, ${user} s user + ${sys} s system CPU, peak RSS $((rss / 1024)) MB."
	echo
	echo "| threads | how many | share of CPU samples | hottest functions |"
	echo "|---|---:|---:|---|"
	perf report -i "$W/$job.data" --no-children --sort comm --stdio -g none 2>/dev/null |
		awk '/%/ && $1+0 >= 0.5 { print $1, $2 }' |
		while read -r pct comm; do
			n=$(perf report -i "$W/$job.data" --no-children --comm "$comm" --sort pid \
				--stdio -g none 2>/dev/null | grep -c '%' || true)
			top=$(perf report -i "$W/$job.data" --no-children --comm "$comm" --sort sym \
				--stdio -g none 2>/dev/null |
				awk '/%/ { $1 = ""; $2 = ""; sub(/^ +/, ""); print }' | head -4 |
				paste -sd, - | sed 's/,/, /g' || true) # head closes the pipe early
			echo "| $comm | $n | $pct | $top |"
		done
	echo
	rm -rf "${W:?}/$job"
	offcpu "$job" "$IOTPIPE" "$job" "${args[@]}" --group "threads-$job-$$-s"
	rm -rf "${W:?}/$job"
done
