"""The schema migrations' deploy step: a CDK trigger that invokes `gui_migrate` during `cdk deploy`.

The trigger (`aws_cdk.triggers.Trigger`) is a custom resource of the CDK's own Node.js provider, a
function of the stack that CloudFormation sends the resource's events to. On a create, and on an
update whose handler changed, it invokes the deploy step's current version synchronously
(`RequestResponse`) with no payload (the function receives `{}`), and fails the resource, and with it
the deploy, with the function's `errorMessage` when the function raised. The migrations ship in the
function's code, so a release bringing one publishes a new version: the trigger runs again. It runs
after the stores and the queues exist (`State`) and the worker runs the release's code (it takes the
work items the deploy step queues), and before the code that reads migrated data serves (the
regional stack says what that is: `run_before`).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import triggers
from constructs import Construct, IConstruct

from stacks.manifest_model import Function

# The CDK's trigger provider is a `CustomResourceProvider` made with its defaults: 15 minutes, Lambda's
# maximum (a test reads it from the template).
PROVIDER_TIMEOUT_S = 15 * 60
# What the provider needs besides waiting for the deploy step: its cold start, up to a minute of
# retried AccessDenied answers while a new role policy propagates, and its answer to CloudFormation.
PROVIDER_MARGIN_S = 120
# CloudFormation's wait for the provider's answer (its default is an hour): a provider that died
# without answering fails the deploy a minute after its own timeout instead.
SERVICE_TIMEOUT_S = PROVIDER_TIMEOUT_S + 60
# The stack-level construct the CDK makes for every trigger of a stack (`TriggerProvider`).
PROVIDER_ID = "AWSCDK.TriggerCustomResourceProviderCustomResourceProvider"


def trigger_timeout_s(fn: Function) -> int:
    """How long the trigger waits for the deploy step: under the function's timeout and under the
    provider's less its margin. The provider's SDK retries an invocation it stopped waiting for, so
    the deploy step must answer within this time (its budget), not merely within its timeout."""
    timeout = min(fn.timeout_s, PROVIDER_TIMEOUT_S) - PROVIDER_MARGIN_S
    if timeout <= 0:
        raise ValueError(f"{fn.name}: a timeout of {fn.timeout_s} s leaves the trigger no time to wait")
    return timeout


class DeployMigrations(Construct):
    """The trigger of the deploy step, after `after` (the stores, the queues, the worker)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fn: Function,
        function: lambda_.Function,
        after: Sequence[Construct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout_s = trigger_timeout_s(fn)
        self.trigger = triggers.Trigger(
            self,
            "Trigger",
            handler=function,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=cdk.Duration.seconds(self.timeout_s),
            # The handler is the function's current version, a new one whenever its code (and so
            # its migrations) or configuration changes: the trigger runs again.
            execute_on_handler_change=True,
            execute_after=list(after),
        )
        custom_resource = self.trigger.node.default_child
        resource = custom_resource.node.default_child if custom_resource is not None else None
        if not isinstance(resource, cdk.CfnResource):
            raise TypeError("the trigger has no CloudFormation resource of its own")
        resource.add_property_override("ServiceTimeout", SERVICE_TIMEOUT_S)

    def run_before(self, *scopes: IConstruct) -> None:
        """The deploy step runs before each of `scopes` is created or updated."""
        for scope in scopes:
            scope.node.add_dependency(self.trigger)
