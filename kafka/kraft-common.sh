# kafka/kraft-common.sh - what kafka/local-kafka.sh (one node) and
# kafka/local-cluster.sh (three nodes) share, sourced by both: the Java
# check, the log4j configuration of a node's directory, a KRaft cluster id,
# whether a pid is still the broker of a given directory, and the messages
# and usage text of both. Sourced at the start; expects PROG and ROOT, and
# VERSION and MAJOR by the time its functions run.

die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

# The script's opening comment is its help; $1 = exit status: 0 for
# --help (to stdout), 2 for a mistake.
usage() {
	if [ "${1:-2}" = 0 ]; then
		sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
	fi
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

java_bin() {
	local j=${JAVA_HOME:+$JAVA_HOME/bin/}java v
	command -v "$j" >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
	v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
	[ "${v:-0}" -ge 17 ] || die "Kafka $VERSION needs Java 17 or newer; $j is version ${v:-unknown}"
	echo "$j"
}

venv_python() {
	if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

# A random UUID in unpadded base64url, as `StorageTool random-uuid` prints
# (made here to save a JVM start); never starting with '-' (it would read
# as a flag).
random_cluster_id() {
	local id=-
	while [ "${id#-}" != "$id" ]; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	done
	echo "$id"
}

# The pid in pid file $1, if that process is still the broker started with
# $2/server.properties (a recycled pid of some other program is not).
broker_pid() {
	local pid cmdline
	[ -f "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$cmdline" in *"kafka.Kafka $2/server.properties"*) ;; *) return 1 ;; esac
	echo "$pid"
}

# Writes the logging configuration of a broker whose files live in $1
# (logs to $1/logs/server.log, rolled at 50 MB): log4j for Kafka 3.x,
# Log4j 2 for 4.x.
write_log_config() {
	local dir=$1
	if [ "$MAJOR" -lt 4 ]; then
		cat >"$dir/log4j.properties" <<LOG
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$dir/logs/server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
LOG
	else
		cat >"$dir/log4j2.properties" <<LOG
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $dir/logs/server.log
appender.file.filePattern = $dir/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.statechange.name = state.change.logger
logger.statechange.level = warn
LOG
	fi
}

# The JVM option that points at the logging configuration in $1.
log_opts_for() {
	if [ "$MAJOR" -lt 4 ]; then
		echo "-Dlog4j.configuration=file:$1/log4j.properties"
	else
		echo "-Dlog4j2.configurationFile=$1/log4j2.properties"
	fi
}
