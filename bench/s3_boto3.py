"""boto3's side of bench/s3_bench.sh: the same objects (sizes in MB on the
command line), uploaded and then downloaded with boto3's transfer manager
(s3transfer: multipart above 8 MB, 8 MB parts, 10 threads), all transfers
submitted at once so boto3 runs at its full default concurrency. Payload
and destination buffers are in memory, as in bench_store. Prints
"upload|download BYTES SECONDS MB/s" like bench_store."""
import io
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from s3transfer.manager import TransferManager


def main():
    bucket, sizes = sys.argv[1], [int(s) << 20 for s in sys.argv[2:]]
    prefix = os.environ.get("BENCH_PREFIX", "boto3")
    client = boto3.client(
        "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        config=boto3.session.Config(s3={"addressing_style": "path"},
                                    max_pool_connections=20))
    payload = os.urandom(max(sizes))
    total = sum(sizes)
    cfg = TransferConfig()  # defaults: 8 MB threshold/chunk, 10 threads
    with TransferManager(client, cfg) as tm:
        t0 = time.time()
        futs = [tm.upload(io.BytesIO(payload[:n]), bucket, f"{prefix}/obj-{i:03d}")
                for i, n in enumerate(sizes)]
        for f in futs:
            f.result()
        up = time.time() - t0
        outs = [io.BytesIO() for _ in sizes]
        t0 = time.time()
        futs = [tm.download(bucket, f"{prefix}/obj-{i:03d}", outs[i])
                for i in range(len(sizes))]
        for f in futs:
            f.result()
        down = time.time() - t0
    for i, n in enumerate(sizes):
        if outs[i].getvalue() != payload[:n]:
            sys.exit(f"object {i} differs")
    print(f"upload {total} {up:.3f} {total / 1e6 / up:.1f}")
    print(f"download {total} {down:.3f} {total / 1e6 / down:.1f}")


if __name__ == "__main__":
    main()
