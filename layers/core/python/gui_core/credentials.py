"""Which identity a container's AWS clients sign with.

In Lambda a process runs one function, under one role, whose credentials Lambda sets in the
environment. The local runtime runs every function in one process, each with credentials of its own
role (local/iam.py) set in its environment at its cold start. boto3's default session loads
credentials once and keeps them for every client it makes later, so the clients here are given the
environment's credentials explicitly, and a client cached per region and endpoint is also cached per
identity: else a function would sign with the role of whichever function made a client first.
"""

from __future__ import annotations

import os


def signing_identity() -> str | None:
    """The access key id the environment gives (Lambda sets it from the function's role)."""
    return os.environ.get("AWS_ACCESS_KEY_ID") or None


def client_credentials() -> dict[str, str | None]:
    """`boto3.client` arguments signing with the environment's credentials; none there (a unit
    test, a developer's shell): no argument, and boto3 looks them up as usual."""
    if not signing_identity():
        return {}
    return {
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "aws_session_token": os.environ.get("AWS_SESSION_TOKEN") or None,
    }
