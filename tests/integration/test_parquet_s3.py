"""`iotpipe inspect s3://...` reads Parquet through the store's ranged GETs
(footer first, then only the column chunks it needs) and shows exactly
what it shows for the same file on local disk. The object is uploaded by
boto3, the independent client of the S3 fixture."""
import json
import subprocess

from test_parquet_interop import bench_bin


def test_inspect_s3_equals_local(iotpipe, s3, s3_bucket, tmp_path):
    path = tmp_path / "x.parquet"
    subprocess.run([bench_bin(), "gen", str(path), "--schema", "all",
                    "--rows", "5000", "--rg-rows", "2000"], check=True)
    s3.client.upload_file(str(path), s3_bucket, "raw/device_id=d1/x.parquet")
    local = json.loads(iotpipe("inspect", "--json", "--head", "all", path).stdout)
    for scheme in ("s3", "s3a"):
        uri = f"{scheme}://{s3_bucket}/raw/device_id=d1/x.parquet"
        remote = json.loads(iotpipe("inspect", "--json", "--head", "all", uri,
                                    env=s3.env()).stdout)
        assert remote.pop("file") == uri
        local.pop("file", None)
        assert remote == local
    cp = iotpipe("inspect", f"s3://{s3_bucket}/missing.parquet", env=s3.env(),
                 check=False)
    assert cp.returncode == 1 and "missing.parquet" in cp.stderr
