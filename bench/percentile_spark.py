"""The reference's percentile job (percentile_processor.py's logic, unchanged:
to_date, countDistinct("*"), avg, stddev, inner join, the strict 3-sigma
filter, percentile_approx(event_duration, 0.95), CSV with a header) on
Spark local[N], for the benchmark only.

usage: percentile_spark.py RAW_DIR OUT_DIR [THREADS] [THRESHOLD]
"""
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql.functions import avg, col, countDistinct, expr, stddev, to_date

raw, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
threshold = int(sys.argv[4]) if len(sys.argv) > 4 else 200

spark = (SparkSession.builder.master(f"local[{threads}]")
         .appName("DeviceEventPercentileProcessor")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.memory", "4g")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         # one shuffle partition per thread instead of 200: on local[N]
         # 200 tiny tasks per stage only add scheduling
         .config("spark.sql.shuffle.partitions", str(threads))
         .getOrCreate())
spark.sparkContext.setLogLevel("WARN")
t0 = time.time()
df = spark.read.parquet(raw).withColumn("date", to_date(col("event_time")))
stats = (df.groupBy("device_id", "date")
         .agg(countDistinct("*").alias("num_events"),
              avg("event_duration").alias("avg_event_duration"),
              stddev("event_duration").alias("stddev_event_duration"))
         .filter(col("num_events") > threshold)
         .select("device_id", "date", "avg_event_duration", "stddev_event_duration"))
kept = (df.join(stats, on=["device_id", "date"], how="inner")
        .filter(col("event_duration") > col("avg_event_duration") - 3 * col("stddev_event_duration"))
        .filter(col("event_duration") < col("avg_event_duration") + 3 * col("stddev_event_duration")))
p95 = kept.groupBy("device_id", "date").agg(
    expr("percentile_approx(event_duration, 0.95)").alias("event_duration_p95"))
p95.write.option("header", True).mode("overwrite").csv(out)
print(f"spark: {time.time() - t0:.2f} s (excluding JVM and session start-up)")
spark.stop()
