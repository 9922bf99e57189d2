"""One region's self-contained copy of the backend: its own stores, bucket, bus, stream and API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stacks.config import RegionConfig, ReservedConcurrency, StreamCapacity
from stacks.constructs.api import RestApi
from stacks.constructs.event_source_mappings import EventSourceMappings
from stacks.constructs.events import Events
from stacks.constructs.functions import ARCHITECTURE, RUNTIME, GuiFunction
from stacks.constructs.layers import Layers
from stacks.constructs.migrations import DeployMigrations
from stacks.constructs.network import Network
from stacks.constructs.observability import Observability
from stacks.constructs.realtime import Realtime
from stacks.constructs.state import State
from stacks.manifest import MIGRATE_FUNCTION, MIGRATE_WORKER_FUNCTION
from stacks.manifest_model import APP_NAME, Function, Manifest
from stacks.naming import pascal_case


class RegionalStack(cdk.Stack):
    """Composes one construct per concern from the manifest and wires grants and outputs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        region_config: RegionConfig,
        stage: str,
        region_urls: Mapping[str, str] | None = None,
        cors_origins: Sequence[str] = (),
        reserved_concurrency: ReservedConcurrency | None = None,
        stream_capacity: StreamCapacity | None = None,
        snap_start: bool = False,
        **kwargs: Any,
    ) -> None:
        """`region_urls` ({region: base URL}, this region's included) tells the REST functions where
        each tenant's home region is; `cors_origins` are the browser origins the API allows;
        `reserved_concurrency`, the stage's changes to the manifest's reservations;
        `stream_capacity`, the stage's size of the events stream (default: the manifest's shards);
        `snap_start`, whether the manifest's SnapStart functions get it in this stage."""
        super().__init__(
            scope,
            construct_id,
            env=cdk.Environment(region=region_config.region),
            description=f"DomainDetermine GUI backend, {region_config.region} ({stage}).",
            **kwargs,
        )
        self.reserved_concurrency = reserved_concurrency or ReservedConcurrency()
        self.reserved_concurrency.check(manifest)
        self.snap_start = snap_start
        self.state = State(self, "State", manifest=manifest)
        self.events = Events(
            self,
            "Events",
            manifest=manifest,
            capacity=stream_capacity or StreamCapacity(shards=manifest.stream.shards),
        )
        self.layers = Layers(self, "Layers", manifest=manifest, runtime=RUNTIME, architecture=ARCHITECTURE)
        # The VPC and file systems of the functions that mount one, in a nested stack of their own
        # (stacks.constructs.network): none when no function mounts one.
        self.network = (
            Network(self, "Network", manifest=manifest)
            if any(fn.file_system is not None for fn in manifest.all_functions())
            else None
        )

        auth = region_config.auth
        self.authorizer_function = self._function(
            manifest,
            manifest.authorizer.function,
            region=region_config.region,
            stage=stage,
            extra_environment={
                "GUI_JWT_ISSUER": auth.issuer,
                "GUI_JWT_AUDIENCE": auth.audience,
                "GUI_JWKS_URL": auth.jwks_url,
            },
        )
        urls = {**(region_urls or {}), region_config.region: region_config.base_url}
        self.realtime = Realtime(self, "Realtime", manifest=manifest) if manifest.websocket else None
        self.functions = {
            fn.name: self._function(
                manifest,
                fn,
                region=region_config.region,
                stage=stage,
                region_urls=urls,
                cors_origins=cors_origins,
                connections_url=self.realtime.connections_url if self.realtime else None,
            )
            for fn in manifest.functions
        }
        if self.realtime is not None and manifest.websocket is not None:
            self.realtime.add_routes(
                manifest,
                function=self.functions[manifest.websocket.function].invoked,
                authorizer_function=self.authorizer_function.invoked,
            )
            for built in self.functions.values():
                if built.spec.manages_connections:
                    self.realtime.grant_manage_connections(built.function)
        self.event_source_mappings = EventSourceMappings(
            self,
            "StreamSources",  # the id names the deployed dead-letter queues (the runbook's too): it stays
            manifest=manifest,
            state=self.state,
            stream=self.events.stream,
            functions={name: built.invoked for name, built in self.functions.items()},
        )
        for rule in manifest.rules:
            if rule.function is not None:
                self.events.route_to_function(rule, self.functions[rule.function].invoked)
        for schedule in manifest.schedules:
            self.events.schedule_function(schedule, self.functions[schedule.function].invoked)
        self.api = RestApi(
            self,
            "Rest",
            manifest=manifest,
            stage=stage,
            authorizer_function=self.authorizer_function.invoked,
            route_functions={
                name: built.invoked for name, built in self.functions.items() if built.spec.routes
            },
            cors_origins=cors_origins,
        )
        if self.realtime is not None:
            # Its access logging needs the account's CloudWatch role, which the REST API sets.
            self.realtime.stage.node.add_dependency(self.api.account)
        self.migrations = self._deploy_migrations(manifest)

        cdk.Tags.of(self).add("app", APP_NAME)
        cdk.Tags.of(self).add("stage", stage)
        cdk.CfnOutput(self, "ApiUrl", value=self.api.api.url, description="Base URL of the REST API stage.")
        cdk.CfnOutput(self, "EventBusName", value=self.events.bus.event_bus_name)
        cdk.CfnOutput(self, "DataBucketName", value=self.state.bucket.bucket_name)
        # What `ddgui quarantine` reads from the stack: where poison records wait, where they go back.
        cdk.CfnOutput(self, "EventStreamName", value=self.events.stream.stream_name)
        if self.state.quarantine is not None:
            cdk.CfnOutput(
                self,
                "QuarantineQueueUrl",
                value=self.state.quarantine.queue_url,
                description="Poison records of the stream's consumers (ddgui quarantine list/replay).",
            )
        # Last: it alarms on every queue of the stack, so everything else exists first.
        self.observability = Observability(
            self,
            "Observability",
            manifest=manifest,
            rest_api=self.api.api,
            functions={
                manifest.authorizer.function.name: self.authorizer_function.function,
                **{name: built.function for name, built in self.functions.items()},
            },
            stream=self.events.stream,
            websocket=self.realtime.stage if self.realtime else None,
            bus_name=self.events.bus.event_bus_name,
            rule_names=self.events.rule_names,
            schedule_names=self.events.schedule_names,
            quarantine=self.state.quarantine,
            work_queue=self.state.migration_queue,
            tenant_work=self.state.work_queues,
        )

    def _deploy_migrations(self, manifest: Manifest) -> DeployMigrations | None:
        """The deploy step's trigger (stacks.constructs.migrations): after the stores and queues and
        the worker's new code, before every other function and what invokes them.

        API Gateway's integrations and the event source mappings invoke a function's latest code, so
        a function serves its new code the moment CloudFormation updates it, whatever the REST API's
        deployment: holding back the deployment alone would not hold back the code. So every function
        but the two of the migrations waits for the step, and so do (explicitly, should one of them
        ever name a version or an alias) the REST API's deployment and stage, the WebSocket stage
        and the stream consumers' mappings.
        """
        names = (MIGRATE_FUNCTION.name, MIGRATE_WORKER_FUNCTION.name)
        if not all(name in self.functions for name in names):
            return None
        step = DeployMigrations(
            self,
            "Migrations",
            fn=manifest.function(MIGRATE_FUNCTION.name),
            function=self.functions[MIGRATE_FUNCTION.name].function,
            # The worker takes the work items the step queues: it runs this release's migrations.
            after=[self.state, self.functions[MIGRATE_WORKER_FUNCTION.name].function],
        )
        step.run_before(
            self.authorizer_function.function,
            *(built.function for name, built in self.functions.items() if name not in names),
            *((self.api.api.latest_deployment,) if self.api.api.latest_deployment else ()),
            self.api.api.deployment_stage,
            *((self.realtime.stage,) if self.realtime is not None else ()),
            *self.event_source_mappings.mappings.values(),
        )
        # What `ddgui migrate` invokes against a deployed region (status, plan, apply).
        cdk.CfnOutput(
            self,
            "MigrateFunctionName",
            value=self.functions[MIGRATE_FUNCTION.name].function.function_name,
            description="The schema migrations' function (ddgui migrate status/plan/apply).",
        )
        return step

    def _concern(self, name: str) -> Construct:
        """The construct grouping one concern's functions (`Api`, `Realtime`, `Search`, ...)."""
        node = self.node.try_find_child(f"{pascal_case(name)}Functions")
        return node if isinstance(node, Construct) else Construct(self, f"{pascal_case(name)}Functions")

    def _function(
        self,
        manifest: Manifest,
        fn: Function,
        *,
        region: str,
        stage: str,
        region_urls: Mapping[str, str] | None = None,
        cors_origins: Sequence[str] = (),
        connections_url: str | None = None,
        extra_environment: dict[str, str] | None = None,
    ) -> GuiFunction:
        return GuiFunction(
            self._concern(fn.concern),
            pascal_case(fn.name),
            manifest=manifest,
            fn=fn,
            state=self.state,
            events=self.events,
            layers=self.layers,
            region=region,
            stage=stage,
            region_urls=region_urls,
            cors_origins=cors_origins,
            connections_url=connections_url,
            extra_environment=extra_environment,
            reserved_concurrency=self.reserved_concurrency.of(fn),
            snap_start=self.snap_start,
            network=self.network,
        )
