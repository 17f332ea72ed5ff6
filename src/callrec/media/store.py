"""Where completed recordings' files live when not in the data directory: an S3-compatible
bucket (`--media-store s3://bucket/prefix`). Capture files stay local until the recording is
rendered; then its WAV (and waveform) go up once, and every other form of it (MP3, mono) is made
on first request from the WAV and kept there too.

The endpoint and credentials are boto3's usual environment (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, or a profile). boto3 is
synchronous: callers run these methods in a thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

#: How long a redirect to a recording's file may be followed (Twilio's are short-lived too).
SIGNED_URL_SECONDS = 600
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Fetched:
    """An object's bytes as they come (a Range asked for gives only that part)."""

    chunks: Iterator[bytes]
    length: int
    content_range: str | None


class S3Store:
    def __init__(self, url: str, server_side_encryption: bool = False) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"--media-store must be s3://bucket[/prefix], not {url!r}")
        self.bucket = parts.netloc
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._client: S3Client = boto3.client("s3")
        #: Ask the bucket to keep each object encrypted at rest (SSE-S3, `--encrypt-at-rest`).
        self._sse = server_side_encryption

    def key(self, name: str) -> str:
        return self.prefix + name

    def put(self, name: str, data: bytes) -> None:
        if self._sse:
            self._client.put_object(
                Bucket=self.bucket, Key=self.key(name), Body=data, ServerSideEncryption="AES256"
            )
        else:
            self._client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    def read(self, name: str) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if _missing(error):
                return None
            raise
        return answer["Body"].read()

    def fetch(self, name: str, byte_range: str | None) -> Fetched | None:
        """The object (or the part `byte_range`, an HTTP Range header) to proxy; None if none."""
        try:
            if byte_range:
                answer = self._client.get_object(
                    Bucket=self.bucket, Key=self.key(name), Range=byte_range
                )
            else:
                answer = self._client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if _missing(error):
                return None
            raise
        body = answer["Body"]
        return Fetched(
            body.iter_chunks(CHUNK_BYTES), answer["ContentLength"], answer.get("ContentRange")
        )

    def signed_url(self, name: str, media_type: str) -> str:
        """A short-lived URL that serves the object to whoever has it."""
        return self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key(name),
                "ResponseContentType": media_type,
            },
            ExpiresIn=SIGNED_URL_SECONDS,
        )

    def delete_recording(self, sid: str) -> None:
        """Every object of the recording (its WAV, MP3, mono forms, waveform)."""
        listed = self._client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(sid))
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"]} for item in listed.get("Contents", [])
        ]
        if keys:
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")
