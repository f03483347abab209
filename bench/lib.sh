# lib.sh - sourced by the bench/*.sh stage scripts: one machine-readable
# result row per measurement, appended to $BENCH_TSV when it is set
# (make bench sets it to bench/results/<stage>.tsv; bench/report.py reads
# them all). Columns, tab-separated, header written with the first row:
#   stage   what is measured (produce, decode, parquet-write, archive, ...)
#   tool    the program (iotpipe produce, kcat, boto3, spark local[2], ...)
#   side    iotpipe | peer  (peer rows are compared with the iotpipe rows
#           of the same stage and amount) | other (shown in details only)
#   amount  events, rows or bytes processed;  unit: events | rows | bytes
#   seconds wall seconds (or cpu seconds: see note)
#   rate    amount / seconds
#   rss_mb  peak RSS of the process (or process tree: see note), MB
#   command the command that reproduces it;  note  anything else
BENCH_TSV_HEADER=$'stage\ttool\tside\tamount\tunit\tseconds\trate\trss_mb\tcommand\tnote'

# tsv_row STAGE TOOL SIDE AMOUNT UNIT SECONDS RSS_MB COMMAND [NOTE]
tsv_row() {
	[ -n "${BENCH_TSV:-}" ] || return 0
	[ -s "$BENCH_TSV" ] || echo "$BENCH_TSV_HEADER" >"$BENCH_TSV"
	local rate
	rate=$(awk -v a="$4" -v s="$6" 'BEGIN { printf "%.6g", (s > 0 ? a / s : 0) }')
	# tabs or newlines inside a field would break the format
	local f out=() secs
	secs=$(awk -v s="$6" 'BEGIN { printf "%.4f", s }')
	for f in "$1" "$2" "$3" "$4" "$5" "$secs" "$rate" "$7" "$8" "${9:-}"; do
		out+=("$(printf '%s' "$f" | tr '\t\n' '  ')")
	done
	(IFS=$'\t'; echo "${out[*]}") >>"$BENCH_TSV"
}

# load_note: the load average now, for the note column
load_note() { uptime | sed 's/.*load average: /load /'; }

# job_outdir NAME FALLBACK: where the streaming benches' jobs write their
# Parquet output and checkpoints, unless OUTDIR is set: a directory NAME
# on /dev/shm when it is a tmpfs with 4 GB free, else FALLBACK. Why tmpfs:
# the jobs are compared with a consumer that writes nothing, and on this
# VM's journal-less ext4, creating files right after earlier runs deleted
# thousands costs 2-5x more system time (the inode allocator skips recently
# deleted inodes: recently_deleted() in the kernel profile), which made
# identical runs differ by 10 s. OUTDIR=<a directory on disk> measures there.
job_outdir() {
	if [ -n "${OUTDIR:-}" ]; then
		echo "$OUTDIR"
	elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
		[ "$(df -k --output=avail /dev/shm | tail -1)" -ge 4194304 ]; then
		echo "/dev/shm/$1"
	else
		echo "$2"
	fi
}

# MIMALLOC_SO: the mimalloc shared library the iotpipe binary links
# (CMakeLists.txt), empty when it is not installed. The kcat peer also runs
# with it preloaded: librdkafka allocates every record on its broker thread
# and the consumer frees it on another, which glibc's malloc pays for in
# arena locks, and kcat as shipped then needs 1.5-1.8x the wall time of
# kcat on mimalloc for the same topic (bench/where_time_goes.md). The
# consume ceiling is the faster of the two: the peer at its best.
MIMALLOC_SO=$(ldconfig -p 2>/dev/null | awk '/libmimalloc\.so\.2 / { print $NF; exit }')
