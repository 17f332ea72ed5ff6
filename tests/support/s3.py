"""An S3-compatible server for the media store's tests: moto's server mode, in a thread of the
test process, on a free port. A stand-in for S3 (or MinIO, Ceph…): callrec reaches it through
boto3's own environment, as it would a real bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from moto.server import ThreadedMotoServer

from tests.support.server import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class S3Server:
    endpoint: str
    _server: Any

    @property
    def env(self) -> dict[str, str]:
        """What a callrec server needs to reach it (and nothing of a real AWS account)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "callrec-tests",
            "AWS_SECRET_ACCESS_KEY": "callrec-tests",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> S3Client:
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="callrec-tests", aws_secret_access_key="callrec-tests",
        )  # fmt: skip

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def stop(self) -> None:
        self._server.stop()


def start() -> S3Server:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Server(f"http://127.0.0.1:{port}", server)
