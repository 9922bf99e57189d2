"""Functions: one shape for all, the manifest's settings, and exactly the access it grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gui_core.snapstart import WARMUP_ENV
from stacks.app_builder import build_app
from stacks.bytecode import CODE_ROOT, runtime_python, stage_sources
from stacks.config import DeploymentConfig, cdk_json_context
from stacks.constructs.functions import warmup_request
from stacks.grants import (
    CONSUMER_READ_ACTIONS,
    FILE_SYSTEM_ACTIONS,
    KINESIS_READ_ACTIONS,
    QUEUE_SOURCE_ACTIONS,
    SECRET_READ_ACTIONS,
    STREAM_READ_ACTIONS,
    VPC_ACCESS_ACTIONS,
)
from stacks.manifest import BUCKET_ACTIONS, LAMBDA_PYTHON_VERSION, STORE_ACTIONS, Access, Manifest
from stacks.naming import pascal_case, stack_name
from stacks.source_filters import stream_environment
from tests.stacks import cfn
from tests.stacks.conftest import Synthesized
from tests.stacks.test_layer_build import assert_runtime_bytecode

REPO_ROOT = Path(__file__).resolve().parents[2]
# What every function may do besides its manifest grants: write its own logs, send traces.
BASELINE_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}
AUDIT_FORBIDDEN = {
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
}


def _function(template: dict[str, Any], name: str) -> dict[str, Any]:
    return cfn.props(template["Resources"][cfn.functions_by_name(template)[name]])


def test_functions_share_runtime_architecture_tracing_and_layers(
    template: dict[str, Any], manifest: Manifest
) -> None:
    layers = {
        cfn.props(v)["Description"]: k
        for k, v in cfn.resources(template, "AWS::Lambda::LayerVersion").items()
    }
    layer_ids = {layer.name: layers[layer.purpose] for layer in manifest.layers}
    for fn in manifest.all_functions():
        function = _function(template, fn.name)
        assert function["Runtime"] == f"python{LAMBDA_PYTHON_VERSION}"
        assert function["Architectures"] == ["x86_64"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["MemorySize"] == fn.memory_mb
        assert function["Timeout"] == fn.timeout_s
        # The CDK orders a function's layers itself (feature flag recognizeVersionProps); ours hold
        # disjoint packages, so the order they are unpacked in changes nothing.
        expected = [layer_ids["core"], *(layer_ids[n] for n in fn.layers)]
        assert sorted(ref["Ref"] for ref in function["Layers"]) == sorted(expected)


def test_functions_log_to_their_own_group_with_retention(
    template: dict[str, Any], manifest: Manifest
) -> None:
    groups = cfn.resources(template, "AWS::Logs::LogGroup")
    seen: set[str] = set()
    for fn in manifest.all_functions():
        (group_id,) = cfn.references(_function(template, fn.name)["LoggingConfig"]["LogGroup"])
        assert cfn.props(groups[group_id])["RetentionInDays"] > 0
        seen.add(group_id)
    assert len(seen) == len(manifest.all_functions())


def _connections_url(template: dict[str, Any], region: str) -> Any:
    """The management URL of the WebSocket API's stage, as the template spells it."""
    api_id, _ = cfn.one(template, "AWS::ApiGatewayV2::Api")
    (stage,) = [
        cfn.props(s)["StageName"] for s in cfn.resources(template, "AWS::ApiGatewayV2::Stage").values()
    ]
    parts = ["https://", {"Ref": api_id}, f".execute-api.{region}.", {"Ref": "AWS::URLSuffix"}, f"/{stage}"]
    return {"Fn::Join": ["", parts]}


def test_environment_is_the_manifest_environment(
    template: dict[str, Any], manifest: Manifest, deployment: DeploymentConfig, region: str
) -> None:
    tables = {name: {"Ref": table_id} for name, table_id in cfn.tables_by_store(template).items()}
    (bucket_id,) = [
        k
        for k, v in cfn.resources(template, "AWS::S3::Bucket").items()
        if "LoggingConfiguration" in cfn.props(v)
    ]
    bus_id, _ = cfn.one(template, "AWS::Events::EventBus")
    quarantine_url = template["Outputs"]["QuarantineQueueUrl"]["Value"]  # the queue's Ref
    # The work queues of State by manifest name (`State.<Name>Queue`), as their Refs.
    queue_urls = {
        spec.name: {"Ref": logical_id}
        for spec in manifest.queues()
        for logical_id in cfn.resources(template, "AWS::SQS::Queue")
        if logical_id.startswith(f"State{pascal_case(spec.name)}Queue")
    }
    # The secrets of State by manifest name (`State.<Name>Secret`), as their Refs (the ARN).
    secret_arns = {
        spec.name: {"Ref": logical_id}
        for spec in manifest.secrets
        for logical_id in cfn.resources(template, "AWS::SecretsManager::Secret")
        if logical_id.startswith(f"State{pascal_case(spec.name)}Secret")
    }
    (region_config,) = [r for r in deployment.regions if r.region == region]
    for fn in manifest.all_functions():
        extra: dict[str, Any] = {}
        if fn == manifest.authorizer.function:
            extra = {
                "GUI_JWT_ISSUER": region_config.auth.issuer,
                "GUI_JWT_AUDIENCE": region_config.auth.audience,
                "GUI_JWKS_URL": region_config.auth.jwks_url,
            }
        expected = manifest.environment_for(
            fn,
            table_names=tables,  # type: ignore[arg-type]  # the template holds Refs, not names
            bucket_name={"Ref": bucket_id},  # type: ignore[arg-type]
            bus_name={"Ref": bus_id},  # type: ignore[arg-type]
            region=region,
            stage=deployment.stage,
            region_urls=deployment.region_urls,
            cors_origins=deployment.cors_origins,
            connections_url=_connections_url(template, region) if fn.manages_connections else None,
            quarantine_url=quarantine_url if fn.quarantines else None,
            queue_urls=queue_urls,  # type: ignore[arg-type]
            secret_arns=secret_arns,  # type: ignore[arg-type]
            extra=extra,
        )
        if deployment.snap_start and fn.snap_start:  # the before-snapshot hook's request
            expected[WARMUP_ENV] = warmup_request(manifest, fn)
        variables = _function(template, fn.name)["Environment"]["Variables"]
        if fn.stream_sources:  # a JSON document with the table names in it: a Fn::Join in the template
            stream_env = stream_environment(manifest, fn, {s.store: "<table>" for s in fn.stream_sources})
            (name,) = stream_env
            joined = variables.pop(name)["Fn::Join"][1]
            rendered = "".join("<table>" if isinstance(part, dict) else part for part in joined)
            assert rendered == stream_env[name]
            assert {cfn.references(p).pop() for p in joined if isinstance(p, dict)} == {
                tables[s.store]["Ref"] for s in fn.stream_sources
            }
        assert variables == expected, fn.name


def test_rest_functions_know_every_region_url_and_the_stage_origins(
    template: dict[str, Any], manifest: Manifest, deployment: DeploymentConfig
) -> None:
    for fn in manifest.functions:
        variables = _function(template, fn.name)["Environment"]["Variables"]
        if not fn.routes:
            assert "GUI_REGION_URLS" not in variables
            continue
        # Every region of region_config, whichever regions this synthesis built.
        assert json.loads(variables["GUI_REGION_URLS"]) == {
            region: entry["base_url"] for region, entry in cdk_json_context()["region_config"].items()
        }
        assert deployment.cors_origins
        assert variables["GUI_CORS_ORIGINS"] == ",".join(deployment.cors_origins)


def _statements(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    (role_id,) = cfn.references(_function(template, name)["Role"])
    role = cfn.props(template["Resources"][role_id])
    assert not role.get("ManagedPolicyArns"), f"{name} must not use AWS-managed policies"
    return cfn.role_statements(template, role_id)


def _stream_of(resource: Any) -> str | None:
    """The table whose stream a statement resource is (`Fn::GetAtt [table, StreamArn]`), if any."""
    if isinstance(resource, dict) and resource.get("Fn::GetAtt", [None, None])[1] == "StreamArn":
        table_id: str = resource["Fn::GetAtt"][0]
        return table_id
    return None


def test_each_function_has_exactly_its_store_grants(template: dict[str, Any], manifest: Manifest) -> None:
    tables = cfn.tables_by_store(template)
    for fn in manifest.all_functions():
        granted: dict[str, set[str]] = {}
        streams: dict[str, set[str]] = {}
        other: set[str] = set()
        for statement in _statements(template, fn.name):
            assert statement["Effect"] == "Allow"
            actions = set(cfn.as_list(statement["Action"]))
            assert not [a for a in actions if "*" in a], f"{fn.name}: wildcard action in {actions}"
            dynamodb = {a for a in actions if a.startswith("dynamodb:")}
            if not dynamodb:
                other |= actions
                continue
            assert dynamodb == actions, "a statement mixes DynamoDB and other actions"
            for resource in cfn.as_list(statement["Resource"]):
                stream_table = _stream_of(resource)
                if stream_table is not None:
                    streams.setdefault(stream_table, set()).update(actions)
                    continue
                (table_id,) = cfn.references(resource)
                granted.setdefault(table_id, set()).update(actions)
        expected = {tables[store]: set(STORE_ACTIONS[access]) for store, access in fn.stores.items()}
        assert granted == expected, fn.name
        assert streams == {tables[s.store]: set(STREAM_READ_ACTIONS) for s in fn.stream_sources}, fn.name
        allowed = set(BASELINE_ACTIONS)
        if fn.publishes_to_bus:
            allowed.add("events:PutEvents")
        async_target = fn.name in {r.function for r in manifest.rules} | {
            s.function for s in manifest.schedules
        }
        if fn.stream_sources or fn.kinesis_sources or async_target:  # an on-failure destination
            allowed |= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
        if fn.kinesis_sources:
            allowed |= set(KINESIS_READ_ACTIONS)
        if any(source.enhanced_fan_out for source in fn.kinesis_sources):
            allowed |= set(CONSUMER_READ_ACTIONS)
        if fn.manages_connections:
            allowed.add("execute-api:ManageConnections")
        if fn.sends_to:
            allowed.add("sqs:SendMessage")
        if fn.queue_sources:
            allowed |= set(QUEUE_SOURCE_ACTIONS)
        if fn.secrets:
            allowed |= set(SECRET_READ_ACTIONS)
        if fn.file_system is not None:
            allowed |= set(FILE_SYSTEM_ACTIONS) | set(VPC_ACCESS_ACTIONS)
        assert other <= allowed | {a for a in other if a.startswith("s3:") and fn.bucket_access}, fn.name


def test_function_roles_write_logs_only_to_their_own_group(
    template: dict[str, Any], manifest: Manifest
) -> None:
    for fn in manifest.all_functions():
        (group_id,) = cfn.references(_function(template, fn.name)["LoggingConfig"]["LogGroup"])
        for statement in _statements(template, fn.name):
            if any(a.startswith("logs:") for a in cfn.as_list(statement["Action"])):
                assert cfn.references(statement["Resource"]) == {group_id}


def test_audit_store_is_append_only_for_every_role(template: dict[str, Any], manifest: Manifest) -> None:
    audit_id = cfn.tables_by_store(template)["audit"]
    assert STORE_ACTIONS[Access.APPEND] == ("dynamodb:PutItem", "dynamodb:DescribeTable")
    for role_id in cfn.resources(template, "AWS::IAM::Role"):
        for statement in cfn.role_statements(template, role_id):
            if audit_id in cfn.references(statement["Resource"]):
                actions = set(cfn.as_list(statement["Action"]))
                assert not actions & AUDIT_FORBIDDEN, f"{role_id} may change the audit trail: {actions}"
                assert not [a for a in actions if "*" in a]
    append_only = (None, Access.APPEND, Access.READ_APPEND)
    assert not set(STORE_ACTIONS[Access.READ_APPEND]) & AUDIT_FORBIDDEN
    writers = [fn.name for fn in manifest.all_functions() if fn.stores.get("audit") not in append_only]
    assert writers == []


def _asset_dir(synthesized: Synthesized, region: str, code: dict[str, Any]) -> Path:
    asset_hash = code["S3Key"].removesuffix(".zip")
    assets = json.loads((synthesized.outdir / f"DdGui-{region}.assets.json").read_text())
    return synthesized.outdir / assets["files"][asset_hash]["source"]["path"]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _sources(folder: Path) -> set[str]:
    """The files of a source folder an asset ships: the build machine's bytecode left out."""
    return {name for name in _files(folder) if "__pycache__" not in name and not name.endswith(".pyc")}


def test_function_asset_holds_only_its_packages(
    synthesized: Synthesized, template: dict[str, Any], manifest: Manifest, region: str
) -> None:
    python = runtime_python()
    for fn in manifest.all_functions():
        asset = _asset_dir(synthesized, region, _function(template, fn.name)["Code"])
        assert {p.name for p in asset.iterdir()} == set(fn.packages), fn.name
        expected = {
            f"{package}/{name}"
            for package in fn.packages
            for name in _sources(REPO_ROOT / "functions" / package)
        }
        assert {name for name in _files(asset) if not name.endswith(".pyc")} == expected
        if python is None:
            assert not list(asset.rglob("*.pyc"))
        else:
            assert_runtime_bytecode(asset, python)


def test_function_code_builds_the_same_again(synthesized: Synthesized, tmp_path: Path) -> None:
    """The session's asset of gui_jobs (perhaps staged by an earlier synth) and a new build of it
    hold the same bytes: the asset hash does not change from one synth to the next."""
    region = synthesized.config.regions[0].region
    code = _function(synthesized.templates[region], "gui_jobs")["Code"]
    asset = _asset_dir(synthesized, region, code)
    rebuilt = stage_sources(
        "functions",
        REPO_ROOT / "functions",
        mounted_at=CODE_ROOT,
        build_dir=tmp_path,
        python=runtime_python(),
    )
    assert {name: (asset / name).read_bytes() for name in _files(asset)} == {
        name: (rebuilt / name).read_bytes() for name in _files(asset)
    }


@pytest.mark.parametrize("layer_name", ["core", "deps", "search", "analytics"])
def test_layer_assets_put_packages_under_python(
    synthesized: Synthesized, template: dict[str, Any], manifest: Manifest, region: str, layer_name: str
) -> None:
    purpose = manifest.layer(layer_name).purpose
    (layer,) = [
        v
        for v in cfn.resources(template, "AWS::Lambda::LayerVersion").values()
        if cfn.props(v)["Description"] == purpose
    ]
    asset = _asset_dir(synthesized, region, cfn.props(layer)["Content"])
    assert [p.name for p in asset.iterdir()] == ["python"]
    top = {p.name for p in (asset / "python").iterdir()}
    if layer_name == "core":
        assert "gui_core" in top
        assert {name for name in _files(asset) if not name.endswith(".pyc")} == {
            f"python/{name}" for name in _sources(REPO_ROOT / "layers" / "core" / "python")
        }
    elif layer_name == "search":
        assert "tantivy" in top
        assert not top & {"fastapi", "pydantic", "duckdb"}, "each layer holds its own packages only"
    elif layer_name == "analytics":
        assert "duckdb" in top
        assert not top & {"fastapi", "pydantic", "tantivy"}, "each layer holds its own packages only"
    else:
        assert {"fastapi", "mangum", "pydantic", "pydantic_core", "jwt", "aws_lambda_powertools"} <= top
        # The AWS SDK the suites run with, as one set: the runtime's bundled copy comes after it.
        assert {"boto3", "botocore", "s3transfer"} <= top
    python = runtime_python()
    if python is None:
        assert not list(asset.rglob("*.pyc"))
    elif layer_name in {"core", "deps"}:  # every module of these compiles with 3.13
        assert_runtime_bytecode(asset, python)
    else:
        assert {p.name.rsplit(".", 2)[1] for p in asset.rglob("*.pyc")} <= {python.cache_tag}


def test_only_tracing_is_granted_on_every_resource(template: dict[str, Any], manifest: Manifest) -> None:
    """X-Ray has no resource-level permissions, nor do Lambda's network interfaces of a function in
    the VPC (a function that mounts a file system); nothing else may ride on Resource '*'."""
    for fn in manifest.all_functions():
        allowed = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        if fn.file_system is not None:
            allowed |= set(VPC_ACCESS_ACTIONS)
        for statement in _statements(template, fn.name):
            if "*" in cfn.as_list(statement["Resource"]):
                assert set(cfn.as_list(statement["Action"])) <= allowed, fn.name


def test_no_function_policy_names_a_wildcard_action(template: dict[str, Any], manifest: Manifest) -> None:
    for fn in manifest.all_functions():
        for statement in _statements(template, fn.name):
            wild = [a for a in cfn.as_list(statement["Action"]) if "*" in a]
            assert not wild, f"{fn.name}: {wild}"


def test_bucket_grants_reach_only_the_functions_own_prefixes(
    template: dict[str, Any], manifest: Manifest
) -> None:
    (bucket_id,) = [
        k
        for k, v in cfn.resources(template, "AWS::S3::Bucket").items()
        if cfn.props(v).get("VersioningConfiguration")
    ]
    users = [fn for fn in manifest.all_functions() if fn.bucket_access is not None]
    assert {fn.name for fn in users} >= {"gui_archiver", "gui_search", "gui_indexer", "gui_telemetry"}
    for fn in manifest.all_functions():
        s3 = [
            s
            for s in _statements(template, fn.name)
            if any(a.startswith("s3:") for a in cfn.as_list(s["Action"]))
        ]
        if fn.bucket_access is None:
            assert not s3, fn.name
            continue
        objects = [s for s in s3 if "s3:ListBucket" not in cfn.as_list(s["Action"])]
        granted = {a for s in s3 for a in cfn.as_list(s["Action"])}
        assert granted == set(BUCKET_ACTIONS[fn.bucket_access]), fn.name
        for statement in objects:
            for resource in cfn.as_list(statement["Resource"]):
                joined = resource["Fn::Join"][1]
                assert joined[0] == {"Fn::GetAtt": [bucket_id, "Arn"]}, fn.name
                assert joined[1] in {f"/{p}*" for p in fn.bucket_prefixes}, (fn.name, joined)
        for statement in s3:
            if "s3:ListBucket" in cfn.as_list(statement["Action"]):
                assert statement["Condition"] == {
                    "StringLike": {"s3:prefix": [f"{p}*" for p in fn.bucket_prefixes]}
                }


def test_reserved_concurrency_is_the_manifest_s(template: dict[str, Any], manifest: Manifest) -> None:
    """gui_stream holds an execution for each open SSE stream: its reservation caps it, so open tabs
    cannot take the region's whole concurrency (and throttle the authorizer with the rest)."""
    assert manifest.function("gui_stream").reserved_concurrency is not None
    for fn in manifest.all_functions():
        function = _function(template, fn.name)
        assert function.get("ReservedConcurrentExecutions") == fn.reserved_concurrency, fn.name


@pytest.mark.slow
def test_a_stage_changes_or_drops_reservations_through_the_context(
    tmp_path: Path, manifest: Manifest
) -> None:
    # "off": the CDK's context drops a JSON null inside an object (cdk.json's, or one given here).
    overrides = {"test": {"gui_stream": "off", "gui_authorizer": 150}}
    app = build_app(
        validate=False,
        outdir=str(tmp_path),
        regions=["eu-west-1"],
        context={"reserved_concurrency": overrides},
    )
    app.synth()
    template = json.loads((tmp_path / f"{stack_name('eu-west-1')}.template.json").read_text())
    assert "ReservedConcurrentExecutions" not in _function(template, "gui_stream")
    assert _function(template, "gui_authorizer")["ReservedConcurrentExecutions"] == 150

    off = tmp_path / "off"
    build_app(
        validate=False, outdir=str(off), regions=["eu-west-1"], context={"reserved_concurrency": "off"}
    ).synth()
    template = json.loads((off / f"{stack_name('eu-west-1')}.template.json").read_text())
    for fn in manifest.all_functions():
        assert "ReservedConcurrentExecutions" not in _function(template, fn.name), fn.name


def test_ephemeral_storage_is_the_manifest_s(template: dict[str, Any], manifest: Manifest) -> None:
    """/tmp holds the telemetry facts: each function gets the manifest's size. The search indexes are
    on the shared file system, so the functions that mount it keep at most a batch's room in /tmp."""
    assert {fn.name for fn in manifest.all_functions() if fn.ephemeral_storage_mb > 512} >= {
        "gui_telemetry",
        "gui_telemetry_facts",
    }
    for fn in manifest.all_functions():
        if fn.file_system is not None:
            assert fn.ephemeral_storage_mb <= 1024, fn.name
    for fn in manifest.all_functions():
        function = _function(template, fn.name)
        assert function.get("EphemeralStorage", {"Size": 512}) == {"Size": fn.ephemeral_storage_mb}, fn.name
