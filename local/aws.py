"""The local AWS endpoint (moto's server on loopback) and the manifest's resources in it.

moto keeps separate state per region behind one endpoint, so each region gets its own copy of every
resource under the same local names, as each regional stack has its own.

Not created here: the manifest's EventBridge rules. With moto 5.2.5 a rule with a Kinesis target
makes every PutEvents on the bus fail (HTTP 500) and a Lambda target needs Docker, so
`local/bus.py` mirrors each rule with an SQS target and relays what matches to the real target.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from local.containers import ENVIRONMENT_LOCK, LOCAL_ACCOUNT
from local.iam import LOCAL_SECRET_SUFFIX, local_secret_arn
from local.moto_process import stop_server
from stacks.source_filters import stream_environment

if TYPE_CHECKING:
    from types import TracebackType

    from local.keys import DevKeys
    from stacks.manifest import Function, Manifest, Store

LOOPBACK = "127.0.0.1"
# The operator's credentials: the local runtime's own clients, the tests and the CLI. Never real ones,
# so a request that escaped to AWS would be refused; moto knows them as an administrator's
# (local/iam.py). Functions sign with credentials of their own roles instead.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


class MotoServer:
    """moto's server on loopback, in a process of its own (`local/moto_process.py`: each server has
    its own state); port 0 lets the system pick a free port."""

    def __init__(
        self, host: str = LOOPBACK, port: int = 0, *, start_timeout_s: float = 30.0, enforce_iam: bool = True
    ) -> None:
        """`enforce_iam`: moto refuses what the caller's IAM policies do not allow, as AWS does
        (local/iam.py); the operator's dummy credentials are allowed everything."""
        self._host = host
        self._port = port
        self.enforce_iam = enforce_iam
        self._start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> MotoServer:
        if self._process is not None:
            return self
        process = subprocess.Popen(  # noqa: S603 - our own module, with our interpreter
            [
                sys.executable,
                "-m",
                "local.moto_process",
                self._host,
                str(self._port),
                *(["iam"] if self.enforce_iam else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        stdout = process.stdout
        assert stdout is not None
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self._start_timeout_s)
        line = ready[0] if ready else ""
        if not line.startswith("ready "):
            process.kill()
            raise RuntimeError(f"moto's server did not start on {self._host}:{self._port}: {line!r}")
        self._port = int(line.split()[1])
        self._process = process
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_server(process, wait_s=5)

    @property
    def pid(self) -> int | None:
        """The server's process id (benches read its CPU time); None when it is not running."""
        return self._process.pid if self._process is not None else None

    @property
    def endpoint_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@cache
def _session() -> boto3.session.Session:
    # One session for the runtime's own clients: it caches the service models it has loaded.
    return boto3.session.Session()


def aws_client(service: str, *, endpoint_url: str, region: str) -> Any:
    """A client of the local endpoint with dummy credentials (the host's are never used). Made under
    the environment lock: a cold start on another thread may be swapping `os.environ`, which client
    creation reads, and a boto3 session does not create clients safely from several threads."""
    with ENVIRONMENT_LOCK:
        return _session().client(
            service,
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(
                retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=10
            ),
        )


def table_names(manifest: Manifest) -> dict[str, str]:
    return {store.name: store.local_table_name() for store in manifest.stores}


def _ignore_existing(exc: ClientError, *codes: str) -> None:
    if exc.response["Error"]["Code"] not in codes:
        raise exc


def _table_definition(store: Store) -> dict[str, Any]:
    attributes = {store.partition_key.name: store.partition_key.type}
    schema = [{"AttributeName": store.partition_key.name, "KeyType": "HASH"}]
    if store.sort_key is not None:
        attributes[store.sort_key.name] = store.sort_key.type
        schema.append({"AttributeName": store.sort_key.name, "KeyType": "RANGE"})
    indexes = []
    for index in store.indexes:
        attributes[index.partition_key.name] = index.partition_key.type
        index_schema = [{"AttributeName": index.partition_key.name, "KeyType": "HASH"}]
        if index.sort_key is not None:
            attributes[index.sort_key.name] = index.sort_key.type
            index_schema.append({"AttributeName": index.sort_key.name, "KeyType": "RANGE"})
        indexes.append(
            {"IndexName": index.name, "KeySchema": index_schema, "Projection": {"ProjectionType": "ALL"}}
        )
    definition: dict[str, Any] = {
        "TableName": store.local_table_name(),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        "KeySchema": schema,
        "SSESpecification": {"Enabled": True},
    }
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    if store.stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": store.stream}
    return definition


def _create_store(dynamodb: Any, store: Store) -> None:
    try:
        dynamodb.create_table(**_table_definition(store))
    except ClientError as exc:
        _ignore_existing(exc, "ResourceInUseException")
    if store.ttl_attribute:
        ttl = dynamodb.describe_time_to_live(TableName=store.local_table_name())["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=store.local_table_name(),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": store.ttl_attribute},
            )


def _create_bucket(s3: Any, name: str, region: str) -> None:
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except ClientError as exc:
        _ignore_existing(exc, "BucketAlreadyOwnedByYou")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def create_resources(manifest: Manifest, *, endpoint_url: str, region: str) -> None:
    """Create every store (keys, indexes, TTL, stream), the bucket, the bus, the stream, the
    queues (the quarantine, the migrations' work) and the secrets (the cursor key, its value
    generated by the endpoint as the stack's is by Secrets Manager) of the manifest in one region.
    Resources that exist already are left as they are."""
    dynamodb = aws_client("dynamodb", endpoint_url=endpoint_url, region=region)
    for store in manifest.stores:
        _create_store(dynamodb, store)

    _create_bucket(
        aws_client("s3", endpoint_url=endpoint_url, region=region),
        manifest.bucket.local_bucket_name(region),
        region,
    )

    events = aws_client("events", endpoint_url=endpoint_url, region=region)
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=manifest.bus.local_bus_name())

    kinesis = aws_client("kinesis", endpoint_url=endpoint_url, region=region)
    stream = manifest.stream
    try:
        kinesis.create_stream(StreamName=stream.local_stream_name(), ShardCount=stream.shards)
    except ClientError as exc:
        _ignore_existing(exc, "ResourceInUseException")
    if stream.retention_hours > 24:
        current = kinesis.describe_stream_summary(StreamName=stream.local_stream_name())
        if current["StreamDescriptionSummary"]["RetentionPeriodHours"] < stream.retention_hours:
            kinesis.increase_stream_retention_period(
                StreamName=stream.local_stream_name(), RetentionPeriodHours=stream.retention_hours
            )

    sqs = aws_client("sqs", endpoint_url=endpoint_url, region=region)
    for queue in manifest.queues():
        # A queue source's dead-letter queue is the local mapping's list (local/queues.py), as the
        # on-failure queues of the Kinesis mappings are.
        sqs.create_queue(
            QueueName=queue.local_queue_name(),
            Attributes={
                "MessageRetentionPeriod": str(queue.retention_days * 86_400),
                "VisibilityTimeout": str(queue.visibility_timeout_s),
                "SqsManagedSseEnabled": "true",
            },
        )
    create_secrets(manifest, endpoint_url=endpoint_url, region=region)


def create_secrets(manifest: Manifest, *, endpoint_url: str, region: str) -> None:
    """The manifest's secrets in one region, each value generated by the endpoint as Secrets Manager
    generates the stack's (letters and digits), under the ARN `local_secret_arn` names."""
    secretsmanager = aws_client("secretsmanager", endpoint_url=endpoint_url, region=region)
    for secret in manifest.secrets:
        value = secretsmanager.get_random_password(
            PasswordLength=secret.length, ExcludePunctuation=True, IncludeSpace=False
        )["RandomPassword"]
        try:
            created = secretsmanager.create_secret(
                Name=secret.local_secret_name(),
                Description=secret.purpose,
                SecretString=value,
                # moto's custom id: the ARN's suffix, fixed so environments name it (local/iam.py).
                Tags=[{"Key": "_custom_id_", "Value": LOCAL_SECRET_SUFFIX}],
            )
        except ClientError as exc:
            _ignore_existing(exc, "ResourceExistsException")
        else:
            assert created["ARN"] == local_secret_arn(manifest, secret.name, region=region), created["ARN"]


def queue_url(manifest: Manifest, name: str, *, endpoint_url: str) -> str:
    """A local queue's URL, as the endpoint names it (`<endpoint>/<account>/<name>`), without asking
    it: a function's environment is made before any call."""
    return f"{endpoint_url.rstrip('/')}/{LOCAL_ACCOUNT}/{manifest.queue(name).local_queue_name()}"


def quarantine_queue_url(manifest: Manifest, *, endpoint_url: str) -> str:
    """The local quarantine queue's URL (see `queue_url`)."""
    if manifest.quarantine is None:
        raise ValueError("the app has no quarantine queue")
    return queue_url(manifest, manifest.quarantine.name, endpoint_url=endpoint_url)


def function_environment(
    manifest: Manifest,
    fn: Function,
    *,
    region: str,
    endpoint_url: str,
    keys: DevKeys,
    stage: str = "local",
    region_urls: Mapping[str, str] | None = None,
    cors_origins: Sequence[str] = (),
    connections_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    file_system_dirs: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment `fn` gets from its regional stack, with local names, the local endpoint,
    its credentials and, for the authorizer, the development key as the trusted JWKS.

    `file_system_dirs` are the region's local folders of the manifest's file systems by name, which
    the functions that mount one see in its place (Lambda's `/mnt/<name>`): required for them, and
    none is named to the others.

    `credentials` are those of a session of the function's own role (local/iam.py), as Lambda sets
    them; without them, the operator's dummy ones.

    `region_urls` are the local gateways' base URLs by region, so a tenant homed in the other
    region is sent to the other local gateway, as a deployed region sends it to the other stack.
    `connections_url` is the local management API (`<gateway>/<stage>`) of the functions that post to
    WebSocket connections."""
    names = table_names(manifest)
    extra = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **(credentials or DUMMY_CREDENTIALS),
        "POWERTOOLS_TRACE_DISABLED": "true",
        # Spans are made (tests capture them) but not printed: a local screen would drown in them.
        # `OTEL_TRACES_EXPORTER=console ddgui dev` (or `otlp` with an endpoint) shows them.
        "OTEL_TRACES_EXPORTER": os.environ.get("OTEL_TRACES_EXPORTER", "none"),
        **stream_environment(manifest, fn, names),
    }
    if fn.name == manifest.authorizer.function.name:
        extra.update(
            {
                "GUI_JWT_ISSUER": keys.issuer,
                "GUI_JWT_AUDIENCE": keys.audience,
                "GUI_JWKS": keys.jwks_json,
            }
        )
    return manifest.environment_for(
        fn,
        table_names=names,
        bucket_name=manifest.bucket.local_bucket_name(region),
        bus_name=manifest.bus.local_bus_name(),
        region=region,
        stage=stage,
        region_urls=region_urls,
        cors_origins=cors_origins,
        connections_url=connections_url if fn.manages_connections else None,
        quarantine_url=quarantine_queue_url(manifest, endpoint_url=endpoint_url) if fn.quarantines else None,
        queue_urls={name: queue_url(manifest, name, endpoint_url=endpoint_url) for name in fn.sends_to},
        secret_arns={name: local_secret_arn(manifest, name, region=region) for name in fn.secrets},
        file_system_paths=_file_system_dirs(fn, file_system_dirs),
        extra=extra,
    )


def _file_system_dirs(fn: Function, dirs: Mapping[str, str] | None) -> dict[str, str]:
    """The local folder of the file system `fn` mounts, if any (never Lambda's mount path: nothing
    is there on this machine)."""
    if fn.file_system is None:
        return {}
    if fn.file_system not in (dirs or {}):
        raise ValueError(f"{fn.name} mounts the file system {fn.file_system!r}: give its local folder")
    return {fn.file_system: (dirs or {})[fn.file_system]}
