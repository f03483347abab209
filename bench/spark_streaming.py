"""Spark Structured Streaming baseline for bench/streaming.sh: the reference
project's two streaming jobs (streaming_raw_writer.py and
streaming_processor.py), run on local[2] with trigger(availableNow=True) so
that a backlog is drained once and the query stops, like `iotpipe archive
--once` / `iotpipe aggregate --once`.

usage: spark_streaming.py raw|aggregate BOOTSTRAP TOPIC OUTPUT_DIR CHECKPOINT_DIR

The Kafka source needs the spark-sql-kafka-0-10 connector on the classpath
(spark-submit --jars or --packages; bench/streaming.sh passes
PYSPARK_SUBMIT_ARGS).

The reference's logic:
  - read Kafka, value parsed with from_json and the event schema;
  - keep status != 'error' (a null status is dropped as well, as in SQL);
  - raw: Parquet partitioned by device_id;
  - aggregate: withWatermark('timestamp', '1 minute'),
    groupBy(window(timestamp, '1 minute'), device_id) with avg(temperature),
    avg(event_duration), count, append mode, Parquet partitioned by device_id
    and window_start ('yyyy-MM-dd HH_mm', UTC).
One deliberate difference: the reference declares `timestamp` a FloatType,
which rounds epoch seconds to about 2 minutes (docs/design.md §3); here it is a
DoubleType, so that both engines compute the same windows. The cost of the
parse is the same.

Prints `spark: query N s` (from start() to the end of the query, without
JVM and session start-up) on stderr.
"""
import sys
import time

from pyspark.sql import SparkSession, functions as F, types as T


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("raw", "aggregate"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, bootstrap, topic, out, ckpt = sys.argv[1:]
    spark = (SparkSession.builder.master("local[2]")
             .appName(f"iotpipe-bench-{mode}")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             # one shuffle partition per core instead of 200 (default): a
             # tuned baseline, 200 state stores per batch would only slow
             # Spark down on 2 cores
             .config("spark.sql.shuffle.partitions", "2")
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")

    schema = T.StructType([
        T.StructField("timestamp", T.DoubleType()),
        T.StructField("temperature", T.DoubleType()),
        T.StructField("event_duration", T.DoubleType()),
        T.StructField("status", T.StringType()),
    ])
    src = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", topic)
           .option("startingOffsets", "earliest")
           .option("failOnDataLoss", "false")
           .load())
    events = (src.select(F.col("key").cast("string").alias("device_id"),
                         F.from_json(F.col("value").cast("string"), schema).alias("e"))
              .select("device_id", "e.*")
              .withColumn("timestamp", F.col("timestamp").cast("timestamp"))
              .filter(F.col("status") != "error"))

    if mode == "raw":
        writer = (events.writeStream.format("parquet")
                  .option("path", out)
                  .option("checkpointLocation", ckpt)
                  .partitionBy("device_id")
                  .outputMode("append"))
    else:
        agg = (events.withWatermark("timestamp", "1 minute")
               .groupBy(F.window("timestamp", "1 minute"), "device_id")
               .agg(F.avg("temperature").alias("avg_temperature"),
                    F.avg("event_duration").alias("avg_event_duration"),
                    F.count(F.lit(1)).alias("num_events"))
               .select("device_id",
                       F.col("window.start").alias("window_start_time"),
                       F.col("window.end").alias("window_end_time"),
                       F.date_format(F.col("window.start"), "yyyy-MM-dd HH_mm").alias("window_start"),
                       "avg_temperature", "avg_event_duration", "num_events"))
        writer = (agg.writeStream.format("parquet")
                  .option("path", out)
                  .option("checkpointLocation", ckpt)
                  .partitionBy("device_id", "window_start")
                  .outputMode("append"))

    t0 = time.time()
    query = writer.trigger(availableNow=True).start()
    query.awaitTermination()
    secs = time.time() - t0
    rows = sum(p.get("numInputRows", 0) for p in query.recentProgress)
    print(f"spark: query {secs:.2f} s, {rows} input rows, {len(query.recentProgress)} batches",
          file=sys.stderr)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
