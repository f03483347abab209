"""Shared pytest set-up for the integration tests.

The tests drive the real `iotpipe` binary (IOTPIPE_BIN, default
build/iotpipe) against real services that the fixtures start on 127.0.0.1:
Apache Kafka (fixtures/kafka.py), an S3-compatible server (fixtures/s3.py),
and an S3 look-alike that misbehaves on purpose (fixtures/brokens3.py).
Each fixture module owns one service; this file only wires them in.
"""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

pytest_plugins = [
    m for m in ("fixtures.common", "fixtures.kafka", "fixtures.s3", "fixtures.brokens3")
    if (pathlib.Path(__file__).parent / (m.replace(".", "/") + ".py")).exists()
]
