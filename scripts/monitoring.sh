#!/usr/bin/env bash
# monitoring.sh - Prometheus on the host, for machines without Docker:
# Debian's `prometheus` with grafana/prometheus/prometheus.yml (scrapes the
# iotpipe commands on 127.0.0.1:9100-9104), its data under
# .cache/prometheus/. With Docker, grafana/docker-compose.yml adds Grafana.
#
#   scripts/monitoring.sh start    start it (idempotent), print where to look
#   scripts/monitoring.sh stop     stop the instance this script started
#   scripts/monitoring.sh status   exit 0 when it runs and answers
#
# PROMETHEUS_PORT (default 9090) and PROMETHEUS_CONFIG override the
# address and the scrape configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PROMETHEUS_PORT:-9090}
CONFIG=${PROMETHEUS_CONFIG:-grafana/prometheus/prometheus.yml}
DIR=.cache/prometheus
PIDFILE=$DIR/prometheus.pid
LOG=$DIR/prometheus.log
URL=http://127.0.0.1:$PORT

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

ready() {
  curl -fsS "$URL/-/ready" >/dev/null 2>&1
}

start() {
  if ! command -v prometheus >/dev/null; then
    echo "monitoring: prometheus not found; run 'make deps' (Debian package 'prometheus')" >&2
    exit 1
  fi
  if running && ready; then
    echo "monitoring: Prometheus already runs (pid $(cat "$PIDFILE")) at $URL"
  else
    mkdir -p "$DIR/data"
    promtool check config "$CONFIG" >/dev/null
    nohup prometheus --config.file="$CONFIG" --storage.tsdb.path="$DIR/data" \
      --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$PORT" \
      >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
      ready && break
      if ! running; then
        echo "monitoring: Prometheus exited; last lines of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        rm -f "$PIDFILE"
        exit 1
      fi
      sleep 0.2
    done
    ready || { echo "monitoring: Prometheus did not answer at $URL in 20 s (log: $LOG)" >&2; exit 1; }
    echo "monitoring: Prometheus (pid $(cat "$PIDFILE")) at $URL, data in $DIR/data, log $LOG"
  fi
  cat <<MSG
  targets:  $URL/targets   (iotpipe run :9100, produce :9101, archive :9102,
                            aggregate :9103, broker :9104 with --metrics-addr 127.0.0.1:9104)
  graphs:   $URL/graph?g0.expr=sum%20by%20(job)%20(rate(iotpipe_events_consumed_total%5B1m%5D))
  panels:   the dashboard's queries are in grafana/dashboards/iotpipe.json and
            docs/observability.md; Grafana with that dashboard: docker compose -f grafana/docker-compose.yml up -d
  stop:     make monitoring-stop
MSG
}

stop() {
  if running; then
    pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    echo "monitoring: stopped Prometheus (pid $pid)"
  else
    echo "monitoring: no Prometheus started by this script is running"
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) running && ready ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
