"""S3 adapter: JSON documents written under a key of the region's data bucket.

The only module of gui_core that talks to S3. Logic modules receive an `ObjectStore` (or a fake
with the same methods) and never see boto3.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from botocore.client import BaseClient

JSON_CONTENT_TYPE = "application/json"


def s3_client(region: str) -> BaseClient:
    """One client per region, endpoint and container; the endpoint comes from AWS_ENDPOINT_URL when set.

    The endpoint is part of the cache key for the reason `dynamodb_client` gives: one process of
    the local runtime may load functions for several endpoints.
    """
    return _s3_client(region, os.environ.get("AWS_ENDPOINT_URL") or None)


@cache
def _s3_client(region: str, endpoint_url: str | None) -> BaseClient:
    return boto3.client(
        "s3",
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
