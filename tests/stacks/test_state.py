"""Stores and the bucket: durable, encrypted, private, as the architecture requires."""

from __future__ import annotations

from typing import Any

from stacks.manifest import Manifest
from tests.stacks import cfn


def test_tables_are_on_demand_encrypted_recoverable_and_retained(
    template: dict[str, Any], manifest: Manifest
) -> None:
    for store_name, table_id in cfn.tables_by_store(template).items():
        resource = template["Resources"][table_id]
        table = cfn.props(resource)
        assert table["BillingMode"] == "PAY_PER_REQUEST", store_name
        assert table["SSESpecification"] == {"SSEEnabled": True}, store_name  # AWS-managed KMS key
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"


def test_tables_have_the_ttl_and_stream_of_their_store(template: dict[str, Any], manifest: Manifest) -> None:
    for store_name, table_id in cfn.tables_by_store(template).items():
        store = manifest.store(store_name)
        table = cfn.props(template["Resources"][table_id])
        if store.ttl_attribute:
            assert table["TimeToLiveSpecification"] == {"AttributeName": store.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in table
        if store.stream:
            assert table["StreamSpecification"] == {"StreamViewType": store.stream}
        else:
            assert "StreamSpecification" not in table


def test_tables_have_the_indexes_of_their_store(template: dict[str, Any], manifest: Manifest) -> None:
    for store_name, table_id in cfn.tables_by_store(template).items():
        store = manifest.store(store_name)
        table = cfn.props(template["Resources"][table_id])
        found = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
        assert set(found) == {index.name for index in store.indexes}, store_name
        for index in store.indexes:
            expected = [{"AttributeName": index.partition_key.name, "KeyType": "HASH"}]
            if index.sort_key:
                expected.append({"AttributeName": index.sort_key.name, "KeyType": "RANGE"})
            assert found[index.name]["KeySchema"] == expected
            assert found[index.name]["Projection"] == {"ProjectionType": "ALL"}


def _data_bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    buckets = cfn.resources(template, "AWS::S3::Bucket")
    (found,) = [(k, v) for k, v in buckets.items() if "LoggingConfiguration" in cfn.props(v)]
    return found


def test_data_bucket_is_versioned_encrypted_private_and_logged(template: dict[str, Any]) -> None:
    bucket_id, resource = _data_bucket(template)
    bucket = cfn.props(resource)
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    log_bucket_ids = cfn.references(bucket["LoggingConfiguration"]["DestinationBucketName"])
    assert log_bucket_ids
    assert bucket_id not in log_bucket_ids
    assert resource["DeletionPolicy"] == "Retain"


def test_replaced_and_deleted_search_files_leave_no_versions_nor_delete_markers_behind(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Each search index publication deletes the files two versions back: their data goes a day
    later (a reader still fetching one is then long gone), and their delete markers after it."""
    rules = cfn.props(_data_bucket(template)[1])["LifecycleConfiguration"]["Rules"]
    (search,) = [rule for rule in rules if rule.get("Prefix") == "search/"]
    assert search["Status"] == "Enabled"
    assert search["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert search["ExpiredObjectDeleteMarker"] is True
    assert dict(manifest.bucket.short_lived_versions)["search/"] == 1


def test_every_bucket_refuses_requests_without_tls(template: dict[str, Any]) -> None:
    buckets = set(cfn.resources(template, "AWS::S3::Bucket"))
    tls_only: set[str] = set()
    for policy in cfn.resources(template, "AWS::S3::BucketPolicy").values():
        for statement in cfn.props(policy)["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                and statement["Principal"] == {"AWS": "*"}
                and statement["Action"] == "s3:*"
            ):
                tls_only |= cfn.references(cfn.props(policy)["Bucket"])
    assert tls_only == buckets


def test_no_bucket_policy_grants_public_access(template: dict[str, Any]) -> None:
    for policy in cfn.resources(template, "AWS::S3::BucketPolicy").values():
        for statement in cfn.props(policy)["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*"
                assert statement["Principal"] != {"AWS": "*"}


def test_each_secret_is_generated_by_secrets_manager_and_read_by_its_functions_alone(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """The cursor key's value is Secrets Manager's (never in the template), and the functions that
    read it learn its ARN; the roles' grants on it are the grants test's."""
    secrets = cfn.resources(template, "AWS::SecretsManager::Secret")
    assert len(secrets) == len(manifest.secrets)
    for secret_id, resource in secrets.items():
        properties = cfn.props(resource)
        assert "SecretString" not in properties
        generated = properties["GenerateSecretString"]
        assert generated["ExcludePunctuation"] is True
        readers = {
            name
            for name, function_id in cfn.functions_by_name(template).items()
            if secret_id
            in cfn.references(cfn.props(template["Resources"][function_id]).get("Environment", {}))
        }
        (spec,) = [s for s in manifest.secrets if properties["Description"] == s.purpose]
        assert generated["PasswordLength"] == spec.length
        assert readers == {fn.name for fn in manifest.all_functions() if spec.name in fn.secrets}
