"""State of a region: the manifest's DynamoDB stores, the data bucket, the quarantine queue, the
migrations' work queue, the per-tenant work queues of the schedules and the secrets (the cursor
key)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.events import dead_letter_queue
from stacks.manifest_model import Key, Manifest, Queue, Secret, Store
from stacks.nag import acknowledge
from stacks.naming import pascal_case

STORE_TAG = "ddgui:store"
ACCESS_LOG_RETENTION = cdk.Duration.days(365)
NONCURRENT_VERSION_RETENTION = cdk.Duration.days(90)


# The manifest spells attribute types as DynamoDB does; the CDK names them.
_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class State(Construct):
    """Every store of the manifest as a table, and the versioned data bucket with its access logs.

    Stores and the bucket hold tenant data, so they are retained when the stack is deleted.
    """

    def __init__(self, scope: Construct, construct_id: str, *, manifest: Manifest) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {store.name: self._table(store) for store in manifest.stores}

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_RETENTION)],
        )
        self.bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="data/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=NONCURRENT_VERSION_RETENTION,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                ),
                # Where rules overlap S3 applies the shorter expiration. Keys under these prefixes
                # are deleted often (a search index's retired files: several per publication), so
                # the delete marker a key keeps once its last version expired goes too.
                *(
                    s3.LifecycleRule(
                        id=f"expire-old-versions-{prefix.strip('/').replace('/', '-')}",
                        prefix=prefix,
                        noncurrent_version_expiration=cdk.Duration.days(days),
                        expired_object_delete_marker=True,
                    )
                    for prefix, days in manifest.bucket.short_lived_versions
                ),
            ],
        )
        # Made before the functions: the stream's consumers learn its URL and may send to it.
        self.quarantine = self._queue(manifest.quarantine) if manifest.quarantine else None
        # The migrations' per-tenant work items (gui_migrate), and where a work item received too
        # often ends; the worker's mapping is the stack's (its consumer's `QueueSource`).
        # Each work queue's dead-letter queue, by the work queue's manifest name.
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.migration_queue = (
            self._work_queue(manifest, manifest.migration_queue) if manifest.migration_queue else None
        )
        self.migration_dead_letter_queue = (
            self.dead_letter_queues.get(manifest.migration_queue.name) if manifest.migration_queue else None
        )
        # The per-tenant work items of region-wide batch work (the schedules' fan-out), by manifest name.
        self.work_queues: dict[str, sqs.Queue] = {
            spec.name: self._work_queue(manifest, spec) for spec in manifest.work_queues
        }
        # The queues the functions send to, by manifest name (their URLs and grants).
        self.queues: dict[str, sqs.Queue] = {
            spec.name: queue
            for spec, queue in (
                (manifest.quarantine, self.quarantine),
                (manifest.migration_queue, self.migration_queue),
            )
            if spec is not None and queue is not None
        }
        self.queues.update(self.work_queues)
        # The secrets the functions read, by manifest name (their ARNs and grants).
        self.secrets: dict[str, secretsmanager.Secret] = {
            spec.name: self._secret(spec) for spec in manifest.secrets
        }

    def _work_queue(self, manifest: Manifest, spec: Queue) -> sqs.Queue:
        """A queue of work items feeding a function: encrypted (SQS-managed key), TLS only, hiding a
        message received for the manifest's visibility timeout; a message received its consumer's
        `max_receives` times goes to a dead-letter queue of its own (kept 14 days)."""
        consumer = manifest.queue_source(spec.name)
        dead_letter = None
        if consumer is not None:
            self.dead_letter_queues[spec.name] = dead_letter_queue(
                self, f"{pascal_case(spec.name)}Dlq", of=f"the {spec.name} queue"
            )
            dead_letter = sqs.DeadLetterQueue(
                queue=self.dead_letter_queues[spec.name], max_receive_count=consumer[1].max_receives
            )
        return sqs.Queue(
            self,
            f"{pascal_case(spec.name)}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(spec.retention_days),
            visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout_s),
            dead_letter_queue=dead_letter,
        )

    def _queue(self, spec: Queue) -> sqs.Queue:
        """The poison records of the stream's consumers, each message one raw record: encrypted
        (SQS-managed key, which the senders need no grant for), TLS only, kept `retention_days`."""
        queue = sqs.Queue(
            self,
            f"{pascal_case(spec.name)}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(spec.retention_days),
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            f"The {spec.name} queue is where poison records end, for an operator to inspect, replay "
            "onto the stream or discard (`ddgui quarantine`); nothing consumes it automatically, so "
            "there is no failed processing for a dead-letter queue of its own to catch.",
        )
        return queue

    def _secret(self, spec: Secret) -> secretsmanager.Secret:
        """A secret whose value Secrets Manager generates at creation (letters and digits), encrypted
        with the AWS-managed key aws/secretsmanager (its readers need no KMS grant)."""
        secret = secretsmanager.Secret(
            self,
            f"{pascal_case(spec.name)}Secret",
            description=spec.purpose,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=spec.length, exclude_punctuation=True, include_space=False
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            f"The {spec.name} signs page cursors, which live for the length of a list a user pages "
            "through: an operator rotates it (docs/gui/backend_support_runbook.md), and the readers "
            "accept the previous version's cursors until the next rotation (docs/decision_log.md); "
            "a rotation function would only schedule the same step.",
        )
        return secret

    def _table(self, store: Store) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            f"{pascal_case(store.name)}Table",
            partition_key=_attribute(store.partition_key),
            sort_key=_attribute(store.sort_key) if store.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=store.ttl_attribute,
            stream=dynamodb.StreamViewType(store.stream) if store.stream else None,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for index in store.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType.ALL,
            )
        cdk.Tags.of(table).add(STORE_TAG, store.name)
        return table
