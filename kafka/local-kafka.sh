#!/usr/bin/env bash
# local-kafka.sh - a real, single-node Apache Kafka (KRaft, no ZooKeeper) on
# 127.0.0.1 for tests and benchmarks, run from the jars on Maven Central.
#
#   kafka/local-kafka.sh fetch      download org.apache.kafka:kafka_2.13 and
#                                   org.apache.kafka:kafka-tools with their
#                                   runtime dependencies into
#                                   .cache/kafka/<version>/lib (once; mvn)
#   kafka/local-kafka.sh start      fetch if needed, format the KRaft storage
#                                   if needed, start one combined
#                                   broker+controller in the background, wait
#                                   until it answers, print bootstrap.servers=
#   kafka/local-kafka.sh stop       SIGTERM (controlled shutdown) and wait
#   kafka/local-kafka.sh status     exit 0 when it runs and answers, 3 if not
#   kafka/local-kafka.sh bootstrap  print 127.0.0.1:PORT
#   kafka/local-kafka.sh classpath  print the java classpath of the cache
#   kafka/local-kafka.sh run-class CLASS [ARGS...]
#                                   run a Kafka class on that classpath with
#                                   warnings-only logging to stderr, e.g.
#                                   org.apache.kafka.tools.ProducerPerformance
#                                   or ConsumerPerformance (benchmarks)
#
# Every command is idempotent: start on a running broker, stop on a stopped
# one and fetch on a full cache succeed and change nothing.
#
# Settings: environment variable, or the flag after the command
# (`start --port 19092 --data-dir /tmp/k`):
#   KAFKA_VERSION          --version V          3.9.1 (4.x works too, see docs/kafka.md)
#   KAFKA_PORT             --port P             9092  (PLAINTEXT listener)
#   KAFKA_CONTROLLER_PORT  --controller-port P  PORT+1 (KRaft controller listener)
#   KAFKA_DATA_DIR         --data-dir D         .cache/kafka/run-PORT (config, logs, data)
#   KAFKA_NUM_PARTITIONS   --partitions N       4     (topics created automatically)
#   KAFKA_AUTO_CREATE      --no-auto-create     true  (auto.create.topics.enable)
#   KAFKA_HEAP_OPTS                             -Xms512m -Xmx1g
#   KAFKA_START_TIMEOUT    --timeout S          90    (seconds to wait for an answer)
#   KAFKA_CACHE                                 .cache/kafka (the jar cache)
#   `start --fresh` wipes the data directory first (a new, empty cluster).
#
# Needs: java 17+, mvn (fetch only), kcat (or python3 with kafka-python) to
# probe the broker.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROG=local-kafka
# shellcheck source=kafka/kraft-common.sh
. "$ROOT/kafka/kraft-common.sh"

CMD=${1:-}
[ -n "$CMD" ] || usage
shift

VERSION=${KAFKA_VERSION:-3.9.1}
PORT=${KAFKA_PORT:-9092}
CPORT=${KAFKA_CONTROLLER_PORT:-}
DATA=${KAFKA_DATA_DIR:-}
PARTITIONS=${KAFKA_NUM_PARTITIONS:-4}
AUTO_CREATE=${KAFKA_AUTO_CREATE:-true}
HEAP=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
TIMEOUT=${KAFKA_START_TIMEOUT:-90}
CACHE=${KAFKA_CACHE:-$ROOT/.cache/kafka}
FRESH=0

RUN_ARGS=()
if [ "$CMD" = run-class ]; then
	# Everything after run-class belongs to the class; settings come from
	# the environment only.
	RUN_ARGS=("$@")
	set --
fi

need_arg() { [ $# -ge 2 ] || { echo "$PROG: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case "$1" in
	--version) need_arg "$@"; VERSION=$2; shift 2 ;;
	--port) need_arg "$@"; PORT=$2; shift 2 ;;
	--controller-port) need_arg "$@"; CPORT=$2; shift 2 ;;
	--data-dir) need_arg "$@"; DATA=$2; shift 2 ;;
	--partitions) need_arg "$@"; PARTITIONS=$2; shift 2 ;;
	--no-auto-create) AUTO_CREATE=false; shift ;;
	--timeout) need_arg "$@"; TIMEOUT=$2; shift 2 ;;
	--fresh) FRESH=1; shift ;;
	-h|--help) usage 0 ;;
	*) echo "$PROG: unknown option '$1'" >&2; usage ;;
	esac
done

for n in "$PORT" "${CPORT:-0}" "$PARTITIONS" "$TIMEOUT"; do
	case "$n" in ''|*[!0-9]*) echo "$PROG: '$n' is not a number" >&2; exit 2 ;; esac
done
CPORT=${CPORT:-$((PORT + 1))}
DATA=${DATA:-$CACHE/run-$PORT}
case "$DATA" in /*) ;; *) DATA=$(pwd)/$DATA ;; esac
# One spelling per directory: the pid check matches the path in the
# broker's command line.
while [ "${DATA%/}" != "$DATA" ] && [ "$DATA" != / ]; do DATA=${DATA%/}; done
LIB=$CACHE/$VERSION/lib
MAJOR=${VERSION%%.*}
PIDFILE=$DATA/kafka.pid
BOOTSTRAP=127.0.0.1:$PORT

# --- fetch -----------------------------------------------------------------

# The logging binding differs by major version: 3.x logs through slf4j 1.7 to
# reload4j (the maintained log4j 1.2 fork); 4.x moved to Log4j 2, and its pom
# brings log4j-core but no slf4j binding (without one every broker log line
# is dropped), so the slf4j 1.7 -> Log4j 2 binding of the same Log4j release
# is added.
logging_deps() {
	if [ "$MAJOR" -lt 4 ]; then
		echo '<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>'
	else
		echo "<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${KAFKA_LOG4J_VERSION:-2.24.3}</version></dependency>"
	fi
}

fetch() {
	[ -f "$LIB/.complete" ] && return 0
	command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
	local dir=$CACHE/$VERSION
	mkdir -p "$dir"
	rm -rf "$LIB.tmp"
	cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>iotpipe</groupId><artifactId>kafka-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    $(logging_deps)
  </dependencies>
</project>
POM
	say "fetching org.apache.kafka:kafka_2.13:$VERSION, kafka-tools and their runtime dependencies"
	if ! (cd "$dir" && mvn -q -B -f pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$LIB.tmp") >"$dir/mvn.log" 2>&1; then
		tail -n 20 "$dir/mvn.log" >&2
		die "mvn could not fetch Kafka $VERSION (is that version on Maven Central?); log in $dir/mvn.log"
	fi
	# Publish the directory only when complete, so an interrupted fetch is
	# redone rather than half used.
	rm -rf "$LIB"
	mv "$LIB.tmp" "$LIB"
	touch "$LIB/.complete"
	say "$(find "$LIB" -name '*.jar' | wc -l) jars in $LIB"
}

# --- process helpers -------------------------------------------------------

# The pid in the pid file, if that process is still our broker.
running_pid() { broker_pid "$PIDFILE" "$DATA"; }

# True when the broker answers a metadata request and lists itself.
answers() {
	if command -v kcat >/dev/null; then
		# Into a variable first: with pipefail, `kcat | grep -q` could
		# fail on kcat's SIGPIPE after grep already matched.
		local md
		md=$(kcat -b "$BOOTSTRAP" -L -m 3 2>/dev/null) || return 1
		case "$md" in *"broker 1 at 127.0.0.1:$PORT"*) return 0 ;; *) return 1 ;; esac
	else
		"$(venv_python)" - "$BOOTSTRAP" >/dev/null 2>&1 <<'PY'
import sys
from kafka import KafkaConsumer
c = KafkaConsumer(bootstrap_servers=sys.argv[1], request_timeout_ms=3000,
                  api_version_auto_timeout_ms=3000)
c.topics()
c.close()
PY
	fi
}

write_config() {
	mkdir -p "$DATA/kraft" "$DATA/logs"
	cat >"$DATA/server.properties" <<PROPS
# Written by kafka/local-kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/kraft
num.partitions=$PARTITIONS
auto.create.topics.enable=$AUTO_CREATE
default.replication.factor=1
offsets.topic.replication.factor=1
# 4 instead of 50: the first consumer group join creates this topic, and
# 50 partitions take seconds on a small machine.
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests start consumers one after another: no 3 s wait for more members.
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=268435456
num.network.threads=3
num.io.threads=4
PROPS
	write_log_config "$DATA"
}

log_opts() { log_opts_for "$DATA"; }

format_storage() {
	local java=$1 id
	[ -f "$DATA/kraft/meta.properties" ] && return 0
	id=$(random_cluster_id)
	# shellcheck disable=SC2046
	"$java" $(log_opts) -cp "$LIB/*" kafka.tools.StorageTool format -t "$id" \
		-c "$DATA/server.properties" >>"$DATA/logs/storage.log" 2>&1 ||
		die "formatting KRaft storage failed (see $DATA/logs/storage.log)"
}

# --- commands --------------------------------------------------------------

start() {
	local pid java
	if pid=$(running_pid); then
		if answers; then
			say "already running (pid $pid) on $BOOTSTRAP"
			echo "bootstrap.servers=$BOOTSTRAP"
			return 0
		fi
	else
		pid=
	fi
	fetch
	java=$(java_bin)
	if [ -z "$pid" ]; then
		[ "$FRESH" = 1 ] && rm -rf "$DATA"
		write_config
		format_storage "$java"
		say "starting Kafka $VERSION on $BOOTSTRAP (controller 127.0.0.1:$CPORT, data $DATA)"
		# setsid: the broker outlives this script and is not hit by the
		# terminal's Ctrl-C aimed at whoever started it.
		# shellcheck disable=SC2086,SC2046
		setsid "$java" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
			-Djava.awt.headless=true $(log_opts) \
			-cp "$LIB/*" kafka.Kafka "$DATA/server.properties" \
			>"$DATA/logs/kafka.out" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$PIDFILE"
	fi
	local deadline=$((SECONDS + TIMEOUT))
	until answers; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$DATA/logs/server.log" "$DATA/logs/kafka.out" >&2 2>/dev/null || true
			rm -f "$PIDFILE"
			die "Kafka exited during start-up (logs in $DATA/logs)"
		fi
		if [ $SECONDS -ge "$deadline" ]; then
			die "Kafka (pid $pid) did not answer on $BOOTSTRAP within ${TIMEOUT}s (logs in $DATA/logs)"
		fi
		sleep 0.5
	done
	say "ready (pid $pid)"
	echo "bootstrap.servers=$BOOTSTRAP"
}

stop() {
	local pid
	if ! pid=$(running_pid); then
		rm -f "$PIDFILE"
		say "not running ($DATA)"
		return 0
	fi
	say "stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	# Controlled shutdown of a single node takes a few seconds; past 60 s
	# something is stuck and the data is not worth more waiting.
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge "$deadline" ]; then
			say "pid $pid ignored SIGTERM for 60s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	rm -f "$PIDFILE"
	say "stopped"
}

status() {
	local pid
	if ! pid=$(running_pid); then
		echo "stopped ($DATA)"
		return 3
	fi
	if answers; then
		echo "running pid=$pid version=$VERSION bootstrap.servers=$BOOTSTRAP data=$DATA"
		return 0
	fi
	echo "starting or unresponsive pid=$pid bootstrap.servers=$BOOTSTRAP"
	return 3
}

# Kafka's command-line tools log through the same binding as the broker;
# without a configuration they complain on every run. Warnings to stderr.
run_class() {
	[ ${#RUN_ARGS[@]} -ge 1 ] || { echo "$PROG: run-class needs a class name" >&2; exit 2; }
	fetch
	local java conf=$CACHE/$VERSION/tools-log
	java=$(java_bin)
	if [ "$MAJOR" -lt 4 ]; then
		printf '%s\n' 'log4j.rootLogger=WARN, stderr' \
			'log4j.appender.stderr=org.apache.log4j.ConsoleAppender' \
			'log4j.appender.stderr.Target=System.err' \
			'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout' \
			'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n' >"$conf.properties"
		exec "$java" -Xmx1g "-Dlog4j.configuration=file:$conf.properties" -cp "$LIB/*" "${RUN_ARGS[@]}"
	fi
	printf '%s\n' 'status = warn' 'appender.err.type = Console' 'appender.err.name = err' \
		'appender.err.target = SYSTEM_ERR' 'appender.err.layout.type = PatternLayout' \
		'appender.err.layout.pattern = [%d] %p %m (%c)%n' 'rootLogger.level = warn' \
		'rootLogger.appenderRef.err.ref = err' >"$conf.log4j2.properties"
	exec "$java" -Xmx1g "-Dlog4j2.configurationFile=$conf.log4j2.properties" -cp "$LIB/*" "${RUN_ARGS[@]}"
}

case "$CMD" in
fetch) fetch ;;
run-class) run_class ;;
start) start ;;
stop) stop ;;
status) status ;;
bootstrap) echo "$BOOTSTRAP" ;;
classpath) fetch; echo "$LIB/*" ;;
-h|--help|help) usage 0 ;;
*) echo "$PROG: unknown command '$CMD'" >&2; usage ;;
esac
