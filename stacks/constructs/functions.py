"""The one factory of Lambda functions: a manifest `Function` becomes a deployed function.

Every function is built the same way, so what differs between two of them is written in the
manifest only: handler, memory, timeout, layers, environment and the stores it may touch.

With SnapStart (a manifest `snap_start` function in a stage that turns it on, `stacks.config.
parse_snap_start`) the function also gets a published version per deployment (`current_version`,
snapshotted by Lambda after the init and gui_core.snapstart's before-snapshot hook) and the `live`
alias on it, which is what the invokers name (`GuiFunction.invoked`): API Gateway's integrations and
authorizers, the WebSocket routes, the event source mappings, rules and schedules. Two resources a
function (the version and the alias); the invoke permissions are the alias's instead of the
function's, as many as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from gui_core.snapstart import WARMUP_ENV
from stacks.bytecode import staged_functions
from stacks.constructs.events import Events
from stacks.constructs.layers import ASSET_EXCLUDE, Layers
from stacks.constructs.network import Network
from stacks.constructs.state import State
from stacks.grants import TRACE_ACTIONS, grants, resolve_condition_value
from stacks.manifest import LAMBDA_PYTHON_VERSION
from stacks.manifest_model import Function, Manifest
from stacks.nag import acknowledge, logical_id
from stacks.source_filters import stream_environment

RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + LAMBDA_PYTHON_VERSION.replace(".", "_"))
ARCHITECTURE = lambda_.Architecture.X86_64  # the platform the deps layer's wheels are built for
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
LIVE_ALIAS = "live"  # the alias the invokers of a SnapStart function name


def code_excludes(*packages: str) -> list[str]:
    """Asset patterns keeping only `functions/<package>/` of each package, so the packages sit at
    the asset root.

    `/var/task` is then on sys.path with the packages in it, and `gui_x.handler.handler` imports
    the same way in Lambda, in the local runtime and in tests (where `functions/` is on the path).
    """
    kept = [pattern for package in packages for pattern in (f"!{package}", f"!{package}/**")]
    return ["*", *kept, *ASSET_EXCLUDE]


def _quarantine(state: State) -> sqs.Queue:
    if state.quarantine is None:
        raise ValueError("a function quarantines poison records in a stack without a quarantine queue")
    return state.quarantine


def warmup_request(manifest: Manifest, fn: Function) -> str:
    """What gui_core.snapstart's before-snapshot hook sends through the function's handler (its
    `GUI_SNAPSTART_WARMUP`): a request it answers without I/O, by the kind of its invoker."""
    if fn.name == manifest.authorizer.function.name:
        return "authorizer"
    if fn.routes:
        route = next((r for r in fn.routes if r.method == "GET"), fn.routes[0])
        return f"rest {route.method} {route.full_path}"
    if manifest.websocket is not None and fn.name == manifest.websocket.function:
        return "websocket"
    if fn.kinesis_sources:
        return "kinesis"
    return "none"


def code_dir() -> str:
    """`functions/` as the assets take it: a copy under .build/code/functions holding the bytecode
    of the runtime's Python version (none when the build machine lacks it), and no other."""
    return str(staged_functions())


class GuiFunction(Construct):
    """A Lambda function with its own role, log group and least-privilege grants.

    The role is ours rather than the CDK default so that it carries no AWS-managed policy: it may
    write to its own log group only, and reach each store with exactly the actions of the access
    level the manifest gives it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        fn: Function,
        state: State,
        events: Events,
        layers: Layers,
        region: str,
        stage: str,
        region_urls: Mapping[str, str] | None = None,
        cors_origins: Sequence[str] = (),
        connections_url: str | None = None,
        extra_environment: Mapping[str, str] | None = None,
        reserved_concurrency: int | None = None,
        snap_start: bool = False,
        network: Network | None = None,
    ) -> None:
        """`reserved_concurrency`: the function's in this stage (`ReservedConcurrency.of`), which
        may differ from the manifest's; `snap_start`: the stage's SnapStart setting, which applies
        to the manifest's `snap_start` functions only; `network`: the region's VPC and file systems,
        where a function that mounts one runs."""
        super().__init__(scope, construct_id)
        self.spec = fn
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {fn.name}.",
        )
        table_names = {name: table.table_name for name, table in state.tables.items()}
        environment = manifest.environment_for(
            fn,
            table_names=table_names,
            bucket_name=state.bucket.bucket_name,
            bus_name=events.bus.event_bus_name,
            region=region,
            stage=stage,
            region_urls=region_urls,
            cors_origins=cors_origins,
            connections_url=connections_url,
            quarantine_url=state.quarantine.queue_url if fn.quarantines and state.quarantine else None,
            queue_urls={name: state.queues[name].queue_url for name in fn.sends_to},
            secret_arns={name: state.secrets[name].secret_arn for name in fn.secrets},
            extra={**stream_environment(manifest, fn, table_names), **(extra_environment or {})},
        )
        self.snap_start = snap_start and fn.snap_start
        if self.snap_start:
            environment[WARMUP_ENV] = warmup_request(manifest, fn)
        self.network = network if fn.file_system is not None else None
        if fn.file_system is not None and network is None:
            raise ValueError(f"{fn.name} mounts a file system: give the region's network")
        mounted = manifest.file_system(fn.file_system) if fn.file_system is not None else None
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=fn.handler,
            code=lambda_.Code.from_asset(code_dir(), exclude=code_excludes(*fn.packages)),
            memory_size=fn.memory_mb,
            timeout=cdk.Duration.seconds(fn.timeout_s),
            ephemeral_storage_size=cdk.Size.mebibytes(fn.ephemeral_storage_mb),
            reserved_concurrent_executions=reserved_concurrency,
            layers=[layers["core"], *(layers[name] for name in fn.layers)],
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            description=fn.purpose[:256],
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if self.snap_start else None,
            # A function that mounts a file system runs in the region's isolated subnets with the
            # network's security group (stacks.constructs.network), and mounts it by its access point.
            vpc=self.network.vpc if self.network else None,
            vpc_subnets=self.network.subnets if self.network else None,
            security_groups=[self.network.function_security_group] if self.network else None,
            filesystem=self.network.mount(mounted) if self.network and mounted else None,
            # A replaced version is deleted once the alias has moved on: each version kept would
            # keep its snapshot cached, and billed.
            current_version_options=lambda_.VersionOptions(removal_policy=cdk.RemovalPolicy.DESTROY)
            if self.snap_start
            else None,
        )
        self.alias: lambda_.Alias | None = None
        # What API Gateway, the mappings, rules and schedules invoke: the alias, with SnapStart.
        self.invoked: lambda_.IFunction = self.function
        if self.snap_start:
            self.alias = lambda_.Alias(
                self,
                "Live",
                alias_name=LIVE_ALIAS,
                version=self.function.current_version,
                description="The published version the invokers call (SnapStart restores it).",
            )
            self.invoked = self.alias
            cdk.Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "Every deployment publishes the function's current version and the live alias points at it.",
            )
        self.log_group.grant_write(self.role)
        self._grant(manifest, fn, state=state, events=events)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The runtime is the manifest's LAMBDA_PYTHON_VERSION "
            f"(python{LAMBDA_PYTHON_VERSION}), the version the deps layer's wheels are built for; "
            "it is a supported Lambda runtime and moves with that one setting.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not "
            "support resource-level permissions, so AWS requires Resource '*' for them."
            + (
                " In the VPC, Lambda's network interfaces too: the six EC2 actions of "
                "AWSLambdaVPCAccessExecutionRole, which AWS documents on Resource '*' "
                "(ec2:DescribeNetworkInterfaces works on '*' only)."
                if self.network is not None
                else ""
            ),
        )

    def _network(self) -> Network:
        if self.network is None:
            raise ValueError(f"{self.spec.name}: a grant on a file system of a function outside the network")
        return self.network

    def _access_point_arn(self, file_system: str) -> str:
        return self._network().access_points[file_system].access_point_arn

    def _grant(self, manifest: Manifest, fn: Function, *, state: State, events: Events) -> None:
        """The manifest's grants on the stores, the bucket, the bus, the quarantine queue, the work
        queues and the secrets (stacks/grants.py; a queue source's poller grants too: its mapping
        adds none). The stream, connection and on-failure queue grants are the constructs' that make
        those resources; the log group's and tracing's are the CDK's own."""
        resolve: dict[str, Callable[[str], str]] = {
            "table": lambda store: state.tables[store].table_arn,
            "table_indexes": lambda store: f"{state.tables[store].table_arn}/index/*",
            "bucket": lambda _: state.bucket.bucket_arn,
            "bucket_objects": lambda prefix: state.bucket.arn_for_objects(f"{prefix}*"),
            "bus": lambda _: events.bus.event_bus_arn,
            "quarantine": lambda _: _quarantine(state).queue_arn,
            # The send grants, and the poller's grants of a queue source (the mapping adds none).
            "work_queue": lambda queue: state.queues[queue].queue_arn,
            "secret": lambda name: state.secrets[name].secret_arn,
            "file_system": lambda name: self._network().file_systems[name].file_system_arn,
            # Lambda's network interfaces of a function in a VPC (the EC2 actions work on '*' only).
            "any": lambda _: "*",
        }
        for grant in grants(manifest, fn):
            if grant.actions == TRACE_ACTIONS:  # the CDK's own, with `tracing`
                continue
            if not all(target.kind in resolve for target in grant.targets):
                continue
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(grant.actions),
                    resources=[resolve[target.kind](target.name) for target in grant.targets],
                    conditions={
                        op: {
                            k: [resolve_condition_value(value, self._access_point_arn) for value in v]
                            for k, v in keys.items()
                        }
                        for op, keys in grant.conditions.items()
                    }
                    or None,
                )
            )
        for store_name, access in fn.stores.items():
            if manifest.store(store_name).indexes:
                table_id = logical_id(state.tables[store_name])
                acknowledge(
                    self.role,
                    f"AwsSolutions-IAM5[Resource::<{table_id}.Arn>/index/*]",
                    f"The {store_name} store's own global secondary indexes: the wildcard "
                    f"stands for index names under that one table, with the {access.value} "
                    "actions the manifest grants on the table.",
                )
        if fn.bucket_access is not None:
            bucket_id = logical_id(state.bucket)
            for prefix in fn.bucket_prefixes:
                acknowledge(
                    self.role,
                    f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
                    f"Objects under {prefix} of the region's data bucket, the function's own prefix: "
                    "the keys below it are per tenant and made at run time; the actions are the "
                    f"manifest's {fn.bucket_access.value} list, none of them a wildcard.",
                )
