#!/usr/bin/env bash
# produce.sh - `iotpipe produce` at full speed against a local real Kafka,
# side by side in the same run with Kafka's own producer benchmark
# (org.apache.kafka.tools.ProducerPerformance, from the kafka-tools jar).
#
# Same broker, same topic layout (a fresh topic each, PARTITIONS
# partitions), same settings for both: acks=all, idempotence on,
# linger.ms=LINGER, no compression, about 100-byte records (Kafka's tool
# sends 100 random bytes; iotpipe generates and JSON-encodes a ~97-byte
# event for every record). Peak RSS from /usr/bin/time.
#
#   bash bench/produce.sh            # N=2000000 records each, 3 rounds
#   N=500000 ROUNDS=1 bash bench/produce.sh
# With BENCH_TSV=FILE, also appends one row per tool and round (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${N:-2000000}
ROUNDS=${ROUNDS:-3}
PARTITIONS=${PARTITIONS:-4}
LINGER=${LINGER:-20}
PORT=${BENCH_KAFKA_PORT:-19192}
BIN=${IOTPIPE_BIN:-build/iotpipe}
DATA=$(mktemp -d)
ARGS=(--port "$PORT" --controller-port $((PORT + 1)) --data-dir "$DATA" --partitions "$PARTITIONS")

cleanup() { bash kafka/local-kafka.sh stop "${ARGS[@]}" >/dev/null 2>&1 || true; rm -rf "$DATA"; }
trap cleanup EXIT

bash kafka/local-kafka.sh start "${ARGS[@]}" >/dev/null
BS=127.0.0.1:$PORT
CP=$(bash kafka/local-kafka.sh classpath)

rss_mb() { awk '/Maximum resident set size/ {printf "%.0f", $NF / 1024}' "$1"; }

echo "# produce benchmark: $N records x $ROUNDS rounds, $PARTITIONS partitions, acks=all, idempotence, linger.ms=$LINGER"
printf "%-6s %-28s %12s %10s\n" round tool "records/s" "peak MB"
for r in $(seq "$ROUNDS"); do
  t1="bench-kafka-$r-$RANDOM"
  t2="bench-iotpipe-$r-$RANDOM"
  for t in "$t1" "$t2"; do
    java -cp "$CP" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create \
      --topic "$t" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null 2>&1 ||
      kcat -b "$BS" -t "$t" -L >/dev/null 2>&1 || true
  done
  out=$(/usr/bin/time -v -o "$DATA/time.kafka" java -Xmx1g -cp "$CP" \
    org.apache.kafka.tools.ProducerPerformance --topic "$t1" --num-records "$N" \
    --record-size 100 --throughput -1 --producer-props bootstrap.servers="$BS" \
    acks=all enable.idempotence=true linger.ms="$LINGER" 2>&1 | tail -1)
  kafka_rate=$(echo "$out" | sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p')
  printf "%-6s %-28s %12.0f %10s\n" "$r" "kafka ProducerPerformance" "$kafka_rate" "$(rss_mb "$DATA/time.kafka")"
  tsv_row produce "Kafka ProducerPerformance" peer "$N" events "$(echo "$N / $kafka_rate" | bc -l)" \
    "$(rss_mb "$DATA/time.kafka")" \
    "ProducerPerformance --num-records $N --record-size 100 --throughput -1 acks=all enable.idempotence=true linger.ms=$LINGER" \
    "round $r, $PARTITIONS partitions, rate as printed by the tool; $(load_note)"

  start=$(date +%s.%N)
  /usr/bin/time -v -o "$DATA/time.iot" "$BIN" produce --bootstrap-servers "$BS" --topic "$t2" \
    --count "$N" --rate 0 --seed "$r" --acks all --exactly-once --kafka "linger.ms=$LINGER" \
    --metrics-addr off --log-level warn
  end=$(date +%s.%N)
  iot_rate=$(echo "$N / ($end - $start)" | bc -l)
  printf "%-6s %-28s %12.0f %10s\n" "$r" "iotpipe produce" "$iot_rate" "$(rss_mb "$DATA/time.iot")"
  tsv_row produce "iotpipe produce" iotpipe "$N" events "$(echo "$end - $start" | bc -l)" \
    "$(rss_mb "$DATA/time.iot")" \
    "iotpipe produce --count $N --rate 0 --acks all --exactly-once --kafka linger.ms=$LINGER" \
    "round $r, $PARTITIONS partitions, wall clock of the process; $(load_note)"
  printf "%-6s %-28s %12.2fx\n" "$r" "ratio iotpipe/kafka" "$(echo "$iot_rate / $kafka_rate" | bc -l)"
done
