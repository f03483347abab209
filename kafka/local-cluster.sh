#!/usr/bin/env bash
# local-cluster.sh - a real Apache Kafka cluster of three combined
# broker+controller nodes (KRaft, no ZooKeeper) on 127.0.0.1, run from the
# jars on Maven Central, for the cluster fault tests (docs/chaos.md): every
# node is its own JVM with its own data directory, so one can be killed
# (kill -9) and started again while the others carry on.
#
#   kafka/local-cluster.sh start [--node N]   format the KRaft storage if
#                                   needed (one cluster id for all nodes),
#                                   start every node (or node N) in the
#                                   background, wait until each started node
#                                   answers and lists itself, print
#                                   bootstrap.servers=H:P1,H:P2,H:P3
#   kafka/local-cluster.sh stop [--node N]    SIGTERM (controlled shutdown)
#                                   and wait; every node, or node N
#   kafka/local-cluster.sh kill --node N      SIGKILL node N (a crash: no
#                                   controlled shutdown, nothing flushed)
#   kafka/local-cluster.sh status   one line per node; exit 0 when all run
#                                   and answer, 3 if not
#   kafka/local-cluster.sh pid --node N       the JVM's pid (exit 3: none)
#   kafka/local-cluster.sh bootstrap          print H:P1,H:P2,H:P3
#
# start, stop and kill are idempotent: start on a running node, stop or kill
# on a stopped one change nothing. The jars come from kafka/local-kafka.sh
# fetch (same cache, same KAFKA_VERSION).
#
# Settings: environment variable, or the flag after the command:
#   KAFKA_VERSION            --version V              3.9.1
#   KAFKA_CLUSTER_PORTS      --ports P1,P2,P3         29092,29094,29096
#                            (PLAINTEXT listeners; the number of ports is the
#                            number of nodes, node ids 1..n in that order)
#   KAFKA_CLUSTER_CONTROLLER_PORTS --controller-ports C1,C2,C3   each P+1
#   KAFKA_CLUSTER_DATA_DIR   --data-dir D             .cache/kafka/cluster-P1
#                            (node N in D/nodeN: config, logs, data)
#   KAFKA_NUM_PARTITIONS     --partitions N           4  (auto-created topics)
#   KAFKA_REPLICATION        --replication R          min(3, nodes): default
#                            for new topics and the internal topics
#   KAFKA_MIN_ISR            --min-isr M              2 with 3+ nodes, else 1
#   KAFKA_HEAP_OPTS                                   -Xms256m -Xmx512m (each)
#   KAFKA_START_TIMEOUT      --timeout S              120
#   KAFKA_CACHE                                       .cache/kafka
#   `start --fresh` (all nodes only) wipes the data directory first.
#
# Needs: java 17+, mvn (first fetch only), kcat (or python3 with
# kafka-python) to probe the nodes.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROG=local-cluster
# shellcheck source=kafka/kraft-common.sh
. "$ROOT/kafka/kraft-common.sh"

CMD=${1:-}
[ -n "$CMD" ] || usage
shift

VERSION=${KAFKA_VERSION:-3.9.1}
PORTS=${KAFKA_CLUSTER_PORTS:-29092,29094,29096}
CPORTS=${KAFKA_CLUSTER_CONTROLLER_PORTS:-}
DATA=${KAFKA_CLUSTER_DATA_DIR:-}
PARTITIONS=${KAFKA_NUM_PARTITIONS:-4}
RF=${KAFKA_REPLICATION:-}
MIN_ISR=${KAFKA_MIN_ISR:-}
HEAP=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
TIMEOUT=${KAFKA_START_TIMEOUT:-120}
CACHE=${KAFKA_CACHE:-$ROOT/.cache/kafka}
FRESH=0
NODE=

need_arg() { [ $# -ge 2 ] || { echo "$PROG: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case "$1" in
	--version) need_arg "$@"; VERSION=$2; shift 2 ;;
	--ports) need_arg "$@"; PORTS=$2; shift 2 ;;
	--controller-ports) need_arg "$@"; CPORTS=$2; shift 2 ;;
	--data-dir) need_arg "$@"; DATA=$2; shift 2 ;;
	--partitions) need_arg "$@"; PARTITIONS=$2; shift 2 ;;
	--replication) need_arg "$@"; RF=$2; shift 2 ;;
	--min-isr) need_arg "$@"; MIN_ISR=$2; shift 2 ;;
	--timeout) need_arg "$@"; TIMEOUT=$2; shift 2 ;;
	--node) need_arg "$@"; NODE=$2; shift 2 ;;
	--fresh) FRESH=1; shift ;;
	-h|--help) usage 0 ;;
	*) echo "$PROG: unknown option '$1'" >&2; usage ;;
	esac
done

number() {
	case "$1" in ''|*[!0-9]*) echo "$PROG: '$1' is not a number" >&2; exit 2 ;; esac
}

IFS=, read -r -a P <<<"$PORTS"
N=${#P[@]}
[ "$N" -ge 1 ] || { echo "$PROG: --ports is empty" >&2; exit 2; }
if [ -n "$CPORTS" ]; then
	IFS=, read -r -a C <<<"$CPORTS"
	[ ${#C[@]} = "$N" ] ||
		{ echo "$PROG: $N ports but ${#C[@]} controller ports" >&2; exit 2; }
else
	C=()
	for p in "${P[@]}"; do number "$p"; C+=($((p + 1))); done
fi
for n in "${P[@]}" "${C[@]}" "$PARTITIONS" "$TIMEOUT" ${RF:+"$RF"} ${MIN_ISR:+"$MIN_ISR"} ${NODE:+"$NODE"}; do
	number "$n"
done
if [ -n "$NODE" ] && { [ "$NODE" -lt 1 ] || [ "$NODE" -gt "$N" ]; }; then
	echo "$PROG: --node $NODE: the cluster has nodes 1..$N" >&2
	exit 2
fi
RF=${RF:-$((N < 3 ? N : 3))}
MIN_ISR=${MIN_ISR:-$((N >= 3 ? 2 : 1))}
DATA=${DATA:-$CACHE/cluster-${P[0]}}
case "$DATA" in /*) ;; *) DATA=$(pwd)/$DATA ;; esac
while [ "${DATA%/}" != "$DATA" ] && [ "$DATA" != / ]; do DATA=${DATA%/}; done
LIB=$CACHE/$VERSION/lib
MAJOR=${VERSION%%.*}

BOOTSTRAP=
VOTERS=
for i in $(seq 1 "$N"); do
	BOOTSTRAP+=${BOOTSTRAP:+,}127.0.0.1:${P[i - 1]}
	VOTERS+=${VOTERS:+,}$i@127.0.0.1:${C[i - 1]}
done

# The nodes a command applies to: --node N, or all.
nodes() { if [ -n "$NODE" ]; then echo "$NODE"; else seq 1 "$N"; fi; }
ndir() { echo "$DATA/node$1"; }

# --- process helpers -------------------------------------------------------

# The pid of node $1 from its pid file, if that process is still that node.
running_pid() { broker_pid "$(ndir "$1")/kafka.pid" "$(ndir "$1")"; }

# True when node $1 answers a metadata request on its own listener and lists
# itself among the live brokers (a restarted node does so once it has caught
# up with the metadata log and been unfenced).
answers() {
	local i=$1 port=${P[$1 - 1]} md
	if command -v kcat >/dev/null; then
		md=$(kcat -b "127.0.0.1:$port" -L -m 3 2>/dev/null) || return 1
		grep -Eq "broker $i at 127\.0\.0\.1:$port( |\$)" <<<"$md"
	else
		"$(venv_python)" - "127.0.0.1:$port" "$i" >/dev/null 2>&1 <<'PY'
import sys
from kafka import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000,
                     api_version_auto_timeout_ms=3000)
ids = {b["node_id"] for b in a.describe_cluster()["brokers"]}
a.close()
sys.exit(0 if int(sys.argv[2]) in ids else 1)
PY
	fi
}

write_config() {
	local i=$1 dir
	dir=$(ndir "$i")
	mkdir -p "$dir/kraft" "$dir/logs"
	cat >"$dir/server.properties" <<PROPS
# Written by kafka/local-cluster.sh; rewritten on every start.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:${P[i - 1]},CONTROLLER://127.0.0.1:${C[i - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${P[i - 1]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/kraft
num.partitions=$PARTITIONS
auto.create.topics.enable=true
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
# A replica that is not in sync never becomes leader: no acknowledged
# write is lost when a leader dies (the Kafka default, stated here).
unclean.leader.election.enable=false
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$RF
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
# Three JVMs share a small machine: few threads each.
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=4
PROPS
	write_log_config "$dir"
}

log_opts() { log_opts_for "$(ndir "$1")"; }

# One cluster id for every node, made once and kept in the data directory.
cluster_id() {
	local id
	if [ ! -s "$DATA/cluster.id" ]; then
		mkdir -p "$DATA"
		id=$(random_cluster_id)
		echo "$id" >"$DATA/cluster.id"
	fi
	cat "$DATA/cluster.id"
}

format_storage() {
	local java=$1 i=$2 dir
	dir=$(ndir "$i")
	[ -f "$dir/kraft/meta.properties" ] && return 0
	# shellcheck disable=SC2046
	"$java" $(log_opts "$i") -cp "$LIB/*" kafka.tools.StorageTool format \
		-t "$(cluster_id)" -c "$dir/server.properties" >>"$dir/logs/storage.log" 2>&1 ||
		die "formatting the KRaft storage of node $i failed (see $dir/logs/storage.log)"
}

fetch() {
	[ -f "$LIB/.complete" ] && return 0
	KAFKA_VERSION=$VERSION KAFKA_CACHE=$CACHE bash "$ROOT/kafka/local-kafka.sh" fetch
}

# --- commands --------------------------------------------------------------

start() {
	local java i dir pid
	local -a started=()
	fetch
	java=$(java_bin)
	if [ "$FRESH" = 1 ]; then
		[ -z "$NODE" ] || die "--fresh wipes the whole cluster; it does not go with --node"
		for i in $(seq 1 "$N"); do
			! running_pid "$i" >/dev/null || die "--fresh: node $i is running; stop the cluster first"
		done
		rm -rf "$DATA"
	fi
	for i in $(nodes); do
		dir=$(ndir "$i")
		if pid=$(running_pid "$i"); then
			started+=("$i:$pid")
			continue
		fi
		write_config "$i"
		format_storage "$java" "$i"
		say "starting node $i of Kafka $VERSION on 127.0.0.1:${P[i - 1]} (controller 127.0.0.1:${C[i - 1]}, data $dir)"
		# setsid: the node outlives this script and is not hit by a
		# terminal's Ctrl-C aimed at whoever started it. The nodes start
		# together: none finishes starting before a quorum of controllers
		# is up.
		# shellcheck disable=SC2086,SC2046
		setsid "$java" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
			-Djava.awt.headless=true $(log_opts "$i") \
			-cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
			>>"$dir/logs/kafka.out" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$dir/kafka.pid"
		started+=("$i:$pid")
	done
	local deadline=$((SECONDS + TIMEOUT)) entry waiting
	while :; do
		waiting=
		for entry in "${started[@]}"; do
			i=${entry%%:*} pid=${entry#*:}
			dir=$(ndir "$i")
			if ! kill -0 "$pid" 2>/dev/null; then
				tail -n 20 "$dir/logs/server.log" "$dir/logs/kafka.out" >&2 2>/dev/null || true
				rm -f "$dir/kafka.pid"
				die "node $i exited during start-up (logs in $dir/logs)"
			fi
			answers "$i" || waiting+=" $i"
		done
		[ -z "$waiting" ] && break
		if [ $SECONDS -ge "$deadline" ]; then
			die "node(s)$waiting did not answer within ${TIMEOUT}s (logs in $DATA/node*/logs)"
		fi
		sleep 0.5
	done
	say "ready: node(s) $(for e in "${started[@]}"; do printf '%s ' "${e%%:*}"; done)"
	echo "bootstrap.servers=$BOOTSTRAP"
}

stop() {
	local i pid dir
	local -a pids=()
	for i in $(nodes); do
		dir=$(ndir "$i")
		if pid=$(running_pid "$i"); then
			say "stopping node $i (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$i:$pid")
		else
			rm -f "$dir/kafka.pid"
		fi
	done
	# Controlled shutdown takes a few seconds per node, but needs an active
	# controller: once fewer than a majority of the nodes run, the ones
	# left wait for a quorum that never comes (the last nodes of a whole
	# cluster being stopped). They get 5 s more, then SIGKILL; their next
	# start recovers the unflushed log segments. Past 60 s in any case
	# something is stuck and is killed too.
	local deadline=$((SECONDS + 60)) entry alive running noquorum=
	while :; do
		alive=
		for entry in "${pids[@]}"; do
			kill -0 "${entry#*:}" 2>/dev/null && alive+=" $entry"
		done
		[ -z "$alive" ] && break
		running=0
		for i in $(seq 1 "$N"); do
			running_pid "$i" >/dev/null && running=$((running + 1))
		done
		if [ -z "$noquorum" ] && [ "$running" -le $((N / 2)) ]; then
			noquorum=$((SECONDS + 5))
		fi
		if [ $SECONDS -ge "$deadline" ] || { [ -n "$noquorum" ] && [ $SECONDS -ge "$noquorum" ]; }; then
			for entry in $alive; do
				if [ $SECONDS -ge "$deadline" ]; then
					say "node ${entry%%:*} (pid ${entry#*:}) ignored SIGTERM for 60s; sending SIGKILL"
				else
					say "node ${entry%%:*} (pid ${entry#*:}) waits for a controller quorum that is gone; sending SIGKILL"
				fi
				kill -KILL "${entry#*:}" 2>/dev/null || true
			done
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	for entry in "${pids[@]}"; do rm -f "$(ndir "${entry%%:*}")/kafka.pid"; done
	say "stopped: node(s) $(nodes | tr '\n' ' ')"
}

kill9() {
	local pid dir
	[ -n "$NODE" ] || { echo "$PROG: kill needs --node N" >&2; exit 2; }
	dir=$(ndir "$NODE")
	if ! pid=$(running_pid "$NODE"); then
		say "node $NODE is not running"
		return 0
	fi
	kill -KILL "$pid" 2>/dev/null || true
	# Gone, or a zombie its parent has not reaped yet: dead either way.
	while kill -0 "$pid" 2>/dev/null &&
		[ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
		sleep 0.05
	done
	rm -f "$dir/kafka.pid"
	say "killed node $NODE (pid $pid) with SIGKILL"
}

status() {
	local i pid rc=0
	for i in $(nodes); do
		if ! pid=$(running_pid "$i"); then
			echo "node $i: stopped ($(ndir "$i"))"
			rc=3
		elif answers "$i"; then
			echo "node $i: running pid=$pid 127.0.0.1:${P[i - 1]} controller=127.0.0.1:${C[i - 1]}"
		else
			echo "node $i: starting or unresponsive pid=$pid 127.0.0.1:${P[i - 1]}"
			rc=3
		fi
	done
	echo "version=$VERSION bootstrap.servers=$BOOTSTRAP data=$DATA"
	return $rc
}

case "$CMD" in
start) start ;;
stop) stop ;;
kill) kill9 ;;
status) status ;;
pid)
	[ -n "$NODE" ] || { echo "$PROG: pid needs --node N" >&2; exit 2; }
	running_pid "$NODE" || exit 3 ;;
bootstrap) echo "$BOOTSTRAP" ;;
-h|--help|help) usage 0 ;;
*) echo "$PROG: unknown command '$CMD'" >&2; usage ;;
esac
