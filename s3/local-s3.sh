#!/usr/bin/env bash
# local-s3.sh - a local, signature-checking S3 server for development and
# tests: S3Proxy (org.gaul:s3proxy) from Maven Central, run on 127.0.0.1.
#
#   s3/local-s3.sh fetch    download S3Proxy and its runtime deps with mvn
#                           into .cache/s3proxy/lib (once; needs java 17+ and mvn)
#   s3/local-s3.sh start    start it in the background (fetches first) and wait
#                           until it answers; prints the endpoint
#   s3/local-s3.sh stop     stop the server started by 'start'
#   s3/local-s3.sh status   exit 0 when it answers
#   s3/local-s3.sh run PROPS  run in the foreground with a properties file
#                           (the pytest fixture uses this)
#
# Settings (environment): S3PROXY_PORT (9000), AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (the identity the server accepts; defaults below),
# S3PROXY_DATA (filesystem back-end directory, default .cache/s3proxy/data;
# "transient" keeps objects in memory), S3PROXY_HEAP (java -Xmx, 1g).
# Authorization is aws-v2-or-v4, so
# every request must be correctly signed, as on AWS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${S3PROXY_CACHE:-$ROOT/.cache/s3proxy}
VERSION=${S3PROXY_VERSION:-3.0.0}
PORT=${S3PROXY_PORT:-9000}
KEY=${AWS_ACCESS_KEY_ID:-iotpipe}
SECRET=${AWS_SECRET_ACCESS_KEY:-iotpipe-secret}
DATA=${S3PROXY_DATA:-$CACHE/data}
HEAP=${S3PROXY_HEAP:-1g}
PIDFILE=$CACHE/s3proxy.pid
LOGFILE=$CACHE/s3proxy.log

fetch() {
	if [ -f "$CACHE/lib/.complete-$VERSION" ]; then
		return 0
	fi
	command -v mvn >/dev/null || { echo "local-s3: mvn not found (apt-get install maven)" >&2; exit 1; }
	mkdir -p "$CACHE/lib"
	cat >"$CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>iotpipe</groupId><artifactId>s3proxy-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.gaul</groupId><artifactId>s3proxy</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
POM
	echo "local-s3: fetching org.gaul:s3proxy:$VERSION and its runtime dependencies" >&2
	(cd "$CACHE" && mvn -q -B -f pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$CACHE/lib")
	touch "$CACHE/lib/.complete-$VERSION"
}

write_props() { # $1 = file
	local backend
	if [ "$DATA" = transient ]; then
		backend="jclouds.provider=transient"
	else
		mkdir -p "$DATA"
		backend="jclouds.provider=filesystem
jclouds.filesystem.basedir=$DATA"
	fi
	cat >"$1" <<PROPS
s3proxy.endpoint=http://127.0.0.1:$PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$KEY
s3proxy.credential=$SECRET
jclouds.identity=$KEY
jclouds.credential=$SECRET
$backend
PROPS
}

answers() {
	# Any HTTP answer (403 for an unsigned request) means it is up.
	curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/" 2>/dev/null
}

# S3Proxy ships logback with no configuration, which logs every request
# at DEBUG (gigabytes per benchmark run): keep warnings and errors only.
logback() {
	cat >"$CACHE/logback.xml" <<'XML'
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <root level="${S3PROXY_LOG_LEVEL:-WARN}"><appender-ref ref="STDERR"/></root>
</configuration>
XML
}

run() { # $1 = properties file; replaces this shell with java
	fetch
	logback
	exec java -Xmx"$HEAP" -Dlogback.configurationFile="$CACHE/logback.xml" \
		-cp "$CACHE/lib/*" org.gaul.s3proxy.Main --properties "$1"
}

case "${1:-}" in
fetch) fetch ;;
start)
	fetch
	if answers; then echo "local-s3: already answering on 127.0.0.1:$PORT" >&2; exit 0; fi
	write_props "$CACHE/s3proxy.properties"
	logback
	nohup java -Xmx"$HEAP" -Dlogback.configurationFile="$CACHE/logback.xml" \
		-cp "$CACHE/lib/*" org.gaul.s3proxy.Main \
		--properties "$CACHE/s3proxy.properties" >"$LOGFILE" 2>&1 &
	echo $! >"$PIDFILE"
	for _ in $(seq 1 120); do
		if answers; then echo "http://127.0.0.1:$PORT"; exit 0; fi
		kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { cat "$LOGFILE" >&2; exit 1; }
		sleep 0.5
	done
	echo "local-s3: no answer on 127.0.0.1:$PORT after 60 s (log: $LOGFILE)" >&2
	exit 1 ;;
stop)
	if [ -f "$PIDFILE" ]; then
		kill "$(cat "$PIDFILE")" 2>/dev/null || true
		rm -f "$PIDFILE"
	fi ;;
status) answers ;;
run) run "${2:?usage: local-s3.sh run PROPERTIES}" ;;
props) write_props "${2:?usage: local-s3.sh props FILE}" ;;
*) echo "usage: $0 fetch|start|stop|status|run PROPS|props FILE" >&2; exit 2 ;;
esac
