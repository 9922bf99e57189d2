"""API Gateway's management API (`@connections`) over one signed HTTP path: kept-alive pooled
connections, botocore's SigV4 signer used on its own, no service model.

A boto3 `apigatewaymanagementapi` call runs botocore's whole pipeline for each post (parameter
validation, serialization from the service model, a dozen event hooks, the retry handler, response
parsing, urllib3), when the request is a signed POST of the frame's bytes to
`<url>/@connections/<id>`. `SignedConnections` makes that request itself:
- signed by `botocore.auth.SigV4Auth` (its canonical request, string to sign and key derivation)
  on a plain request object instead of botocore's `AWSRequest` and email-based header map, which
  cost more than the signature (a unit test compares the Authorization header with the one
  botocore's own client sends for the same request under a frozen clock);
- written in one `sendall` on a kept-alive HTTP/1.1 connection and its answer read by a minimal
  parser (status line, headers, a Content-Length or chunked body): http.client's email-based
  header parsing and urllib3's layers cost ten times the socket calls (docs/performance.md);
- through a pool of at most `concurrency` connections (a caller past it waits for a free one:
  bounded parallelism), an idle one dropped when its server has closed it.

It answers as boto3's client does, so `Pusher` and its callers need no change:
- `post_to_connection(ConnectionId=, Data=)` and `delete_connection(ConnectionId=)` return
  `{"ResponseMetadata": {...}}`;
- an error answer raises `botocore.exceptions.ClientError` (`GoneException`, a subclass, on 410)
  whose `response["Error"]["Code"]` is botocore's rest-json code: the `x-amzn-ErrorType` header,
  else the JSON body's `code`, `__type`, else the HTTP status;
- a transport failure raises botocore's own exception for it (`EndpointConnectionError`,
  `ConnectTimeoutError`, `ReadTimeoutError`, `ConnectionClosedError`, `SSLError`).

Timeouts and retries as the boto3 client's configuration in `gui_core.pusher` (connect 1 s, read
2 s, two attempts in all): a transport failure is retried once at once (most often a kept-alive
connection the server has just closed), a throttling or 5xx answer once after a short jittered
pause (at most `RETRY_PAUSE_S`; botocore's standard mode waits up to 1 s, which would hold a
pusher's worker that long).

Credentials are resolved once, at construction: the environment's (`gui_core.credentials`: the
local runtime gives each function its own role's at its cold start, so they are captured, not
re-read), else botocore's provider chain; refreshable ones (a container's or an assumed role's) are
frozen again every `CREDENTIALS_RECHECK_S` (botocore refreshes them minutes before they expire) and
after any 403.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as TransportError

SERVICE = "execute-api"  # the signing name of apigatewaymanagementapi
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
ATTEMPTS = 2  # the boto3 client's {"mode": "standard", "max_attempts": 2}
RETRY_PAUSE_S = 0.1
CREDENTIALS_RECHECK_S = 60.0
USER_AGENT = "ddgui-signed-post/1"
HEAD_LIMIT_BYTES = 64 * 1024  # an answer's status line and headers
# An idle connection used this recently is taken as open without asking the socket (a syscall per
# post); should its server have closed it even so, the post fails and is retried on a new one.
FRESH_S = 1.0
# What botocore's standard retry mode retries besides transport failures.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class GoneException(ClientError):  # type: ignore[misc]  # botocore is untyped
    """410: the connection is closed (boto3's `client.exceptions.GoneException` is a ClientError too)."""


class _Exceptions:
    """`client.exceptions.<name>`, as a boto3 client offers them."""

    ClientError = ClientError
    GoneException = GoneException


def error_code(status: int, headers: dict[str, str], body: bytes) -> tuple[str, Any]:
    """(code, message) of an error answer (`headers` by lower-case name), as botocore's rest-json
    parser reads them, except that 410 is always `GoneException` (botocore says `410` when the
    answer names no type)."""
    code: Any
    message: Any
    if status >= 500 and (not body.strip() or body.strip().startswith(b"<html>")):
        code, message = str(status), http.client.responses.get(status, "")  # a generic answer
    else:
        text = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {"message": text}
        if not isinstance(parsed, dict):
            parsed = {}
        message = parsed.get("message", parsed.get("Message", ""))
        code = headers.get("x-amzn-errortype") or parsed.get("code", parsed.get("Code"))
        if not code:
            code = parsed.get("__type") or str(status)
        code = str(code).split(":", 1)[0].rsplit("#", 1)[-1]
    if status == 410:
        code = "GoneException"
    return code, message


# -- signing ---------------------------------------------------------------------------------------


class _Headers(dict[str, str]):
    """The header map SigV4Auth reads (`get_all`), without the email machinery of botocore's."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _Request:
    """What `SigV4Auth.add_auth` reads and writes of a request."""

    __slots__ = ("body", "context", "data", "headers", "method", "params", "url")

    def __init__(self, method: str, url: str, host: str, body: bytes | None) -> None:
        self.method = method
        self.url = url
        self.headers: dict[str, str] = {"Host": host}
        self.body = self.data = body
        self.context: dict[str, Any] = {}
        self.params: dict[str, str] = {}


class _SigV4(SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """botocore's SigV4 on `_Request`: the same canonical request (host, x-amz-date and the session
    token signed; the payload's SHA-256), string to sign and signature."""

    _day_key: tuple[str, bytes] = ("", b"")  # one attribute: a thread sees both or neither

    def headers_to_sign(self, request: _Request) -> _Headers:
        return _Headers((name.lower(), value) for name, value in request.headers.items())

    def signature(self, string_to_sign: str, request: _Request) -> str:
        """botocore's, with the signing key derived once a day (4 of its 5 HMACs per request)."""
        day = request.context["timestamp"][0:8]
        known, key = self._day_key
        if day != known:
            key = self._sign(f"AWS4{self.credentials.secret_key}".encode(), day)
            for part in (self._region_name, self._service_name, "aws4_request"):
                key = self._sign(key, part)
            self._day_key = (day, key)
        return str(self._sign(key, string_to_sign, hex=True))


class Signer:
    """SigV4 headers for a request, with credentials frozen once and frozen again when they may
    have been refreshed (every `recheck_s`, or at once after `invalidate`)."""

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        *,
        recheck_s: float = CREDENTIALS_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._recheck_s = recheck_s
        self._clock = clock
        self._refreshable = hasattr(credentials, "refresh_needed")
        self._lock = threading.Lock()
        self._auth: _SigV4 | None = None
        self._next_check = 0.0

    def _current(self) -> _SigV4:
        auth = self._auth
        if auth is not None and (not self._refreshable or self._clock() < self._next_check):
            return auth
        with self._lock:
            if self._auth is None or (self._refreshable and self._clock() >= self._next_check):
                frozen: ReadOnlyCredentials = self._credentials.get_frozen_credentials()  # refreshes
                self._auth = _SigV4(frozen, SERVICE, self._region)
                self._next_check = self._clock() + self._recheck_s
            return self._auth

    def invalidate(self) -> None:
        self._next_check = 0.0
        self._refreshable = self._refreshable or self._auth is None

    def headers(self, method: str, url: str, host: str, body: bytes | None) -> dict[str, str]:
        """The request's headers, signed: host, X-Amz-Date, X-Amz-Security-Token (with a session
        token) and Authorization."""
        request = _Request(method, url, host, body)
        self._current().add_auth(request)
        return request.headers


def resolve_credentials() -> Credentials:
    """The environment's credentials (captured now), else botocore's provider chain."""
    from gui_core.credentials import client_credentials

    given = client_credentials()
    if given:
        return Credentials(
            str(given["aws_access_key_id"]),
            str(given["aws_secret_access_key"]),
            given["aws_session_token"],
        )
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        # As a boto3 client made without credentials: the first post looks again, and fails then.
        return _Deferred()
    return found


class _Deferred:
    """Credentials none could be found for when the client was made: botocore's chain is asked
    again when a request is signed (NoCredentialsError then, as boto3's client raises it)."""

    refresh_needed = True  # the signer asks again until it has them

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        import botocore.session

        found = botocore.session.get_session().get_credentials()
        if found is None:
            raise NoCredentialsError()
        frozen: ReadOnlyCredentials = found.get_frozen_credentials()
        return frozen


def canonical_host(scheme: str, hostname: str, port: int | None) -> str:
    """The Host header's value, as botocore signs it: lower case, the port unless the default."""
    host = f"[{hostname}]" if ":" in hostname else hostname.lower()
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return host


# -- HTTP/1.1 ------------------------------------------------------------------------------------


class _Closed(Exception):
    """The server closed the connection before a whole answer came."""


class _Connection:
    """One kept-alive HTTP/1.1 connection: a request in one `sendall`, its answer read whole."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self.reusable = True
        self.used_at = 0.0

    def exchange(self, request: bytes, method: str) -> tuple[int, dict[str, str], bytes]:
        self.sock.sendall(request)
        while True:
            status, headers, body = self._answer(method)
            if not 100 <= status < 200:
                return status, headers, body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed
        self._buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        taken, self._buffer = self._buffer[:size], self._buffer[size:]
        return taken

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > HEAD_LIMIT_BYTES:
                raise _Closed
            self._fill()
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _answer(self, method: str) -> tuple[int, dict[str, str], bytes]:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > HEAD_LIMIT_BYTES:
                raise _Closed
            self._fill()
        head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4 :]
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status = int(rest[:3])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            return status, headers, b""
        self.reusable = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if status in (204, 304) or method == "HEAD":
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunks()
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        else:  # delimited by the end of the connection
            self.reusable = False
            while True:
                try:
                    self._fill()
                except _Closed:
                    break
            body, self._buffer = self._buffer, b""
        return status, headers, body

    def _chunks(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._take(size))
            self._take(2)

    def dropped(self) -> bool:
        """Whether the idle connection was closed by its server (it is readable: EOF, or data
        nobody asked for)."""
        if self._buffer:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.reusable = False
        with contextlib.suppress(OSError):
            self.sock.close()


class SignedConnections:
    """`@connections` of one WebSocket API stage (`url`, e.g. `https://<id>.execute-api.<region>.
    amazonaws.com/<stage>`), the `ManagementClient` of `gui_core.pusher`; thread-safe."""

    exceptions = _Exceptions

    def __init__(
        self,
        url: str,
        region: str,
        *,
        credentials: Credentials | None = None,
        concurrency: int = 16,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        attempts: int = ATTEMPTS,
        retry_pause_s: float = RETRY_PAUSE_S,
        ca_bundle: str | None = None,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        self._host = canonical_host(parts.scheme, parts.hostname, parts.port)
        self._base = f"{parts.scheme}://{parts.netloc}"
        self._path = f"{parts.path}/@connections/"
        self._signer = Signer(credentials if credentials is not None else resolve_credentials(), region)
        self._attempts = max(1, attempts)
        self._retry_pause_s = retry_pause_s
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            if ca_bundle is None:
                from botocore.httpsession import get_cert_path

                ca_bundle = get_cert_path(True)  # the CA bundle botocore verifies with
            self._tls = ssl.create_default_context(cafile=ca_bundle)
        self._slots = threading.BoundedSemaphore(concurrency)  # requests in flight
        self._pool_timeout_s = math.ceil(connect_timeout_s + read_timeout_s)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections opened (the tests' view of the pooling)

    # -- the management API ---------------------------------------------------------------------

    def post_to_connection(self, *, ConnectionId: str, Data: bytes | str) -> dict[str, Any]:  # noqa: N803
        body = Data.encode() if isinstance(Data, str) else bytes(Data)
        return {"ResponseMetadata": self._call("PostToConnection", "POST", ConnectionId, body)[0]}

    def delete_connection(self, *, ConnectionId: str) -> dict[str, Any]:  # noqa: N803
        return {"ResponseMetadata": self._call("DeleteConnection", "DELETE", ConnectionId, None)[0]}

    def get_connection(self, *, ConnectionId: str) -> dict[str, Any]:  # noqa: N803
        """The connection's description, its keys as the API sends them (`connectedAt`, ...)."""
        metadata, body = self._call("GetConnection", "GET", ConnectionId, None)
        return {**(json.loads(body) if body else {}), "ResponseMetadata": metadata}

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- one call -------------------------------------------------------------------------------

    def _call(
        self, operation: str, method: str, connection_id: str, body: bytes | None
    ) -> tuple[dict[str, Any], bytes]:
        """(the answer's ResponseMetadata, its body) of a 2xx answer; else raises."""
        path = self._path + quote(connection_id, safe="")
        url = self._base + path
        attempt = 0
        while True:
            attempt += 1
            headers = self._signer.headers(method, url, self._host, body)  # per attempt: X-Amz-Date
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            request = (
                f"{method} {path} HTTP/1.1\r\n{head}User-Agent: {USER_AGENT}\r\n"
                f"Content-Length: {len(body) if body else 0}\r\n\r\n"
            ).encode("latin-1") + (body or b"")
            try:
                status, answer_headers, answer = self._exchange(request, method)
            except (TransportError, HTTPClientError):
                if attempt < self._attempts:
                    continue
                raise
            metadata = {
                "RequestId": answer_headers.get("x-amzn-requestid", ""),
                "HTTPStatusCode": status,
                "RetryAttempts": attempt - 1,
            }
            if status < 300:
                return metadata, answer
            code, message = error_code(status, answer_headers, answer)
            if status == 403:
                self._signer.invalidate()  # expired or rotated credentials: freeze them again
            if attempt < self._attempts and (status in RETRYABLE_STATUSES or code in RETRYABLE_CODES):
                time.sleep(random.uniform(0, self._retry_pause_s))  # noqa: S311 - a jitter, not a secret
                continue
            error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}
            raise (GoneException if code == "GoneException" else ClientError)(error, operation)

    def _exchange(self, request: bytes, method: str) -> tuple[int, dict[str, str], bytes]:
        if not self._slots.acquire(timeout=self._pool_timeout_s):
            raise HTTPClientError(error="no free connection to @connections in time")
        try:
            connection = self._checkout()
            try:
                answer = connection.exchange(request, method)
            except TimeoutError as exc:
                connection.close()
                raise ReadTimeoutError(endpoint_url=self.url, error=exc) from exc
            except (_Closed, OSError) as exc:
                connection.close()
                raise ConnectionClosedError(endpoint_url=self.url, error=exc) from exc
            except BaseException:
                connection.close()
                raise
            if connection.reusable:
                connection.used_at = time.monotonic()
                with self._lock:
                    self._idle.append(connection)
            else:
                connection.close()
            return answer
        finally:
            self._slots.release()

    def _checkout(self) -> _Connection:
        """The most recently used idle connection still open, else a new one."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._open()
            if time.monotonic() - connection.used_at < FRESH_S or not connection.dropped():
                return connection
            connection.close()

    def _open(self) -> _Connection:
        try:
            sock = socket.create_connection(self._address, timeout=self._connect_timeout_s)
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=self.url, error=exc) from exc
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=self.url, error=exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except ssl.SSLError as exc:
            sock.close()
            raise SSLError(endpoint_url=self.url, error=exc) from exc
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(endpoint_url=self.url, error=exc) from exc
        except OSError as exc:
            sock.close()
            raise EndpointConnectionError(endpoint_url=self.url, error=exc) from exc
        sock.settimeout(self._read_timeout_s)  # once: each settimeout is a system call
        with self._lock:
            self.opened += 1
        return _Connection(sock)
