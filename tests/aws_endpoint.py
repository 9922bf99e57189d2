"""The AWS endpoint the integration and streaming suites talk to.

- `AWS_ENDPOINT_URL` set: that endpoint (a LocalStack, or a moto server someone runs);
- else `LOCALSTACK_HOST` set (`host[:port]`, LocalStack's own variable): LocalStack's edge endpoint
  there, as `localstack-client` resolves it;
- else: moto's server, started here on a free loopback port and stopped at the end.

The variables are read once, when a suite starts. What LocalStack's free edition lacks for this app
(the WebSocket API among others) is in docs/gui/backend_support_runbook.md: the suites still reach
the WebSocket API through the local runtime's own gateway, whatever the endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from local.aws import MotoServer


def external_endpoint(environ: dict[str, str] | None = None) -> str | None:
    """The endpoint the environment names, or None when the suites should start moto's server."""
    env = os.environ if environ is None else environ
    if env.get("AWS_ENDPOINT_URL"):
        return env["AWS_ENDPOINT_URL"]
    host = env.get("LOCALSTACK_HOST")
    if host:
        from localstack_client.config import get_service_endpoint

        endpoint = get_service_endpoint("dynamodb", localstack_host=host)
        if endpoint is None:
            raise RuntimeError(f"localstack-client found no endpoint for LOCALSTACK_HOST={host!r}")
        return endpoint
    return None


@contextmanager
def aws_endpoint() -> Iterator[str]:
    """The external endpoint, or a moto server for as long as the block runs."""
    given = external_endpoint()
    if given is not None:
        yield given
        return
    with MotoServer(host="127.0.0.1", port=0) as server:
        yield server.endpoint_url
