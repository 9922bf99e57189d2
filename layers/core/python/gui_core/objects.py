"""S3 adapter: JSON documents written under a key of the region's data bucket.

The only module of gui_core that talks to S3. Logic modules receive an `ObjectStore` (or a fake
with the same methods) and never see boto3.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from gui_core.credentials import client_credentials, signing_identity

if TYPE_CHECKING:
    from botocore.client import BaseClient

JSON_CONTENT_TYPE = "application/json"


def s3_client(region: str) -> BaseClient:
    """One client per region, endpoint and container; the endpoint comes from AWS_ENDPOINT_URL when set.

    The endpoint is part of the cache key for the reason `dynamodb_client` gives: one process of
    the local runtime may load functions for several endpoints.
    """
    return _s3_client(region, os.environ.get("AWS_ENDPOINT_URL") or None, signing_identity())


@cache
def _s3_client(region: str, endpoint_url: str | None, signer: str | None) -> BaseClient:
    del signer  # a part of the cache key only
    return boto3.client(
        "s3",
        **client_credentials(),
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=10),
    )


def json_line(document: Any) -> bytes:
    """One compact JSON document ending in a newline: objects under a prefix concatenate into JSON
    lines, the form Athena and DuckDB read without a custom parser."""
    return (json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n").encode()


class ObjectStore:
    """JSON documents in one bucket.

    No `ServerSideEncryption` is sent: the bucket's default encryption applies, so the choice of
    key is the stack's alone and a put cannot ask for a weaker one.
    """

    def __init__(self, bucket: str, client: BaseClient) -> None:
        self.bucket = bucket
        self._client = client

    def put_json(self, key: str, document: Any) -> None:
        """Write `document` at `key`, replacing what was there (a new version in a versioned bucket)."""
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=json_line(document), ContentType=JSON_CONTENT_TYPE
        )

    # -- bytes, conditional writes and listings (search index versions, telemetry facts) ------------

    def put_bytes(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str:
        """Write `body` at `key`; the new ETag. `if_match` (an ETag) or `if_none_match="*"` make the
        write conditional: S3 refuses it with `PreconditionFailed` when the object changed (or
        exists), and this raises `Superseded`. That is the compare-and-swap of a manifest switch."""
        params: dict[str, Any] = {
            "Bucket": self.bucket, "Key": key, "Body": body, "ContentType": content_type
        }  # fmt: skip
        if if_match is not None:
            params["IfMatch"] = if_match
        if if_none_match is not None:
            params["IfNoneMatch"] = if_none_match
        try:
            answer = self._client.put_object(**params)
        except ClientError as exc:
            if _code(exc) in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}:
                raise Superseded(key) from exc
            raise
        return str(answer["ETag"])

    def get_bytes(self, key: str, *, if_none_match: str | None = None) -> StoredObject | None:
        """The object at `key` with its ETag; None when there is none. With `if_none_match` (the
        ETag the caller holds) an unchanged object answers `NOT_MODIFIED` without its body."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_none_match is not None:
            params["IfNoneMatch"] = if_none_match
        try:
            answer = self._client.get_object(**params)
        except ClientError as exc:
            code = _code(exc)
            if code in {"304", "NotModified"}:
                return NOT_MODIFIED
            if code in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        return StoredObject(key=key, body=answer["Body"].read(), etag=str(answer["ETag"]))

    def download(self, key: str, path: str) -> None:
        """Stream the object at `key` into the file `path` (large objects: search index archives)."""
        self._client.download_file(self.bucket, key, path)

    def download_hashed(self, key: str, path: str) -> tuple[int, str] | None:
        """Stream the object at `key` into the file `path` (made or replaced) with one GET, hashing it
        on the way: its size and SHA-256 (hex); None when there is no such object."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        digest, size = hashlib.sha256(), 0
        with open(path, "wb") as out:
            for chunk in answer["Body"].iter_chunks(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def upload(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        """Write the file `path` at `key` (a multipart upload in parallel parts when it is large)."""
        self._client.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def list_keys(self, prefix: str, *, start_after: str | None = None) -> list[ObjectInfo]:
        """Every object under `prefix`, in key order (all pages)."""
        found: list[ObjectInfo] = []
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            params["StartAfter"] = start_after
        while True:
            page = self._client.list_objects_v2(**params)
            found += [_info(o) for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            params["ContinuationToken"] = page["NextContinuationToken"]

    def list_page(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> ListedPage:
        """At most `limit` objects under `prefix` after the key `start_after`, in key order: one
        ListObjectsV2 call; `more` says whether others follow."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit}
        if start_after:
            params["StartAfter"] = start_after
        page = self._client.list_objects_v2(**params)
        return ListedPage(
            [_info(o) for o in page.get("Contents", [])],
            more=bool(page.get("IsTruncated")),
        )

    def delete(self, key: str) -> None:
        """Delete `key`. In the versioned bucket this adds a delete marker; the data stays as a
        noncurrent version until the bucket's lifecycle expires it."""
        self._client.delete_object(Bucket=self.bucket, Key=key)


class Superseded(Exception):
    """A conditional write lost: the object changed since the caller read it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} changed since it was read")
        self.key = key


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: bytes
    etag: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: datetime | None = None


def _info(listed: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=str(listed["Key"]),
        etag=str(listed.get("ETag", "")),
        size=int(listed.get("Size", 0)),
        last_modified=listed.get("LastModified"),
    )


@dataclass(frozen=True)
class ListedPage:
    objects: list[ObjectInfo]
    more: bool


# Returned by `get_bytes` for an object that still has the ETag the caller gave.
NOT_MODIFIED = StoredObject(key="", body=b"", etag="")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
