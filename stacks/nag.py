"""Acknowledging cdk-nag findings: one rule, on one construct (and its children), with a reason."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """`rule` is the finding's id, e.g. `AwsSolutions-L1` or `AwsSolutions-IAM5[Resource::*]`.

    The bare id, as cdk-nag documents it: the pack then honours it in `validate_scope` too, which
    a `AwsSolutions::`-prefixed id (honoured by CDK's validation report only) is not.
    """
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def logical_id(resource: IConstruct) -> str:
    """Logical id of an L2 construct's CloudFormation resource, as findings name it (`<Id.Arn>`)."""
    element = resource.node.default_child
    if not isinstance(element, cdk.CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource of its own")
    return cdk.Stack.of(resource).get_logical_id(element)
