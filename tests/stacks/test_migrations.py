"""The schema migrations' deploy step: a CDK trigger invoking gui_migrate during `cdk deploy`, after
the stores, the queues and the worker, before every other function and what invokes them."""

from __future__ import annotations

from typing import Any

from stacks.constructs import migrations
from stacks.manifest import MIGRATE_FUNCTION, MIGRATE_WORKER_FUNCTION, Manifest
from tests.stacks import cfn


def _trigger(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return cfn.one(template, "Custom::Trigger")


def _provider(template: dict[str, Any]) -> dict[str, Any]:
    """The CDK's Node.js function the trigger's events go to (its ServiceToken)."""
    _, trigger = _trigger(template)
    (provider_id,) = cfn.references(cfn.props(trigger)["ServiceToken"])
    provider: dict[str, Any] = template["Resources"][provider_id]
    assert provider["Type"] == "AWS::Lambda::Function"
    return provider


def test_the_deploy_step_invokes_the_current_version_of_gui_migrate_synchronously(
    template: dict[str, Any],
) -> None:
    _, trigger = _trigger(template)
    properties = cfn.props(trigger)
    # The function's current version: a new one whenever its code (its migrations) changes, and a
    # changed HandlerArn is an update, on which the trigger runs again.
    (version_id,) = cfn.references(properties["HandlerArn"])
    version = template["Resources"][version_id]
    assert version["Type"] == "AWS::Lambda::Version"
    function = cfn.functions_by_name(template)[MIGRATE_FUNCTION.name]
    assert cfn.references(cfn.props(version)["FunctionName"]) == {function}
    assert properties["ExecuteOnHandlerChange"] is True
    # Waits for the answer: a migration that fails fails the deploy.
    assert properties["InvocationType"] == "RequestResponse"


def test_the_trigger_waits_less_than_the_function_and_its_provider(
    template: dict[str, Any], manifest: Manifest
) -> None:
    _, trigger = _trigger(template)
    properties = cfn.props(trigger)
    fn = manifest.function(MIGRATE_FUNCTION.name)
    function = cfn.props(template["Resources"][cfn.functions_by_name(template)[fn.name]])
    waits_s = int(properties["Timeout"]) / 1000  # the provider's socket timeout, in milliseconds
    assert waits_s == migrations.trigger_timeout_s(fn)
    assert waits_s < function["Timeout"] == fn.timeout_s
    # The provider waits inside its own invocation, and must still answer CloudFormation after.
    provider_timeout = cfn.props(_provider(template))["Timeout"]
    assert provider_timeout == migrations.PROVIDER_TIMEOUT_S
    assert waits_s + migrations.PROVIDER_MARGIN_S <= provider_timeout
    # CloudFormation gives up on a provider that died without answering soon after its timeout, not
    # after the default hour.
    assert provider_timeout < properties["ServiceTimeout"] == migrations.SERVICE_TIMEOUT_S <= 3600


def test_the_trigger_runs_after_the_stores_the_queues_and_the_worker(template: dict[str, Any]) -> None:
    _, trigger = _trigger(template)
    after = set(trigger["DependsOn"])
    assert set(cfn.tables_by_store(template).values()) <= after
    # The work queue and its dead-letter queue (State's `MigrationWorkQueue`, `MigrationWorkDlq`).
    work_queues = {
        q for q in cfn.resources(template, "AWS::SQS::Queue") if q.startswith("StateMigrationWork")
    }
    assert len(work_queues) == 2
    assert work_queues <= after
    # The worker takes the work items the step queues: it runs the release's migrations first.
    assert cfn.functions_by_name(template)[MIGRATE_WORKER_FUNCTION.name] in after


def test_every_other_function_and_what_invokes_them_wait_for_the_trigger(template: dict[str, Any]) -> None:
    """API Gateway and the mappings invoke a function's latest code: the release's readers serve only
    once the migrations they need ran. So each function but the two of the migrations waits, and so
    do the REST API's deployment and stage, the WebSocket stage and the stream consumers' mappings."""
    trigger_id, _ = _trigger(template)
    resources = template["Resources"]

    def waits(logical_id: str) -> bool:
        return trigger_id in resources[logical_id].get("DependsOn", [])

    functions = cfn.functions_by_name(template)
    migration_functions = {MIGRATE_FUNCTION.name, MIGRATE_WORKER_FUNCTION.name}
    assert len(functions) > len(migration_functions)
    for name, logical_id in functions.items():
        assert waits(logical_id) == (name not in migration_functions), name
    waiting_kinds = (
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGatewayV2::Stage",
    )
    for kind in waiting_kinds:
        found = cfn.resources(template, kind)
        assert found, kind
        assert all(waits(logical_id) for logical_id in found), kind
    queues = cfn.resources(template, "AWS::SQS::Queue")
    for logical_id, mapping in cfn.resources(template, "AWS::Lambda::EventSourceMapping").items():
        from_queue = bool(cfn.references(cfn.props(mapping)["EventSourceArn"]) & set(queues))
        # The worker's mapping needs nothing migrated: the items it reads wait in the queue.
        assert waits(logical_id) == (not from_queue), logical_id


def test_the_provider_may_invoke_the_deploy_step_only(template: dict[str, Any]) -> None:
    """The CDK's provider is a plain CloudFormation resource to cdk-nag (its rules look at the CDK's
    L1 classes), so its privileges are held here: logs, and invoking gui_migrate's versions."""
    provider = cfn.props(_provider(template))
    assert provider["Runtime"].startswith("nodejs")
    (role_id,) = cfn.references(provider["Role"])
    role = cfn.props(template["Resources"][role_id])
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
    ]
    statements = cfn.role_statements(template, role_id)
    function = cfn.functions_by_name(template)[MIGRATE_FUNCTION.name]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [{"Fn::Join": ["", [{"Fn::GetAtt": [function, "Arn"]}, ":*"]]}],
        }
    ]


def test_the_stack_outputs_the_function_ddgui_migrate_invokes(template: dict[str, Any]) -> None:
    output = template["Outputs"]["MigrateFunctionName"]
    assert output["Value"] == {"Ref": cfn.functions_by_name(template)[MIGRATE_FUNCTION.name]}
