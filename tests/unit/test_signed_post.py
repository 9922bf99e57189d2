"""gui_core.signed_post: the `@connections` client on one signed, pooled HTTP path.

Against a recording HTTP/1.1 server on loopback (http.server, a thread), and, for the signature and
the error codes, against what boto3's own `apigatewaymanagementapi` client sends and raises for the
same request and answer.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import boto3
import pytest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import ClientError, NoCredentialsError

from gui_core.pusher import Pusher, boto3_connections_client, connections_client
from gui_core.signed_post import FRESH_S, GoneException, SignedConnections

REGION = "eu-west-1"
FROZEN = datetime.datetime(2026, 12, 7, 21, 30, 5)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    chunked: bool = False
    close: bool = False  # the server closes the connection after answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int  # the client's port: one per TCP connection


class Recorder:
    """A loopback HTTP/1.1 server (keep-alive) that records each request and answers with
    `answers[path]` (a list is answered in turn, its last item repeating), else 200."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answers: dict[str, Answer | list[Answer]] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with recorder._lock:
                    recorder.seen.append(
                        Seen(self.command, self.path, dict(self.headers), body, self.client_address[1])
                    )
                    recorder.in_flight += 1
                    recorder.most_in_flight = max(recorder.most_in_flight, recorder.in_flight)
                    answer = recorder._next(self.path)
                try:
                    time.sleep(answer.delay_s)
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    if answer.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.send_header("Content-Length", str(len(answer.body)))
                    if answer.close:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if answer.chunked:
                        for i in range(0, len(answer.body), 3):
                            part = answer.body[i : i + 3]
                            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(answer.body)
                    if answer.close:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up first (a timeout case): no answer
                finally:
                    with recorder._lock:
                        recorder.in_flight -= 1

            do_POST = do_DELETE = do_GET = _answer  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/live"

    def _next(self, path: str) -> Answer:
        answer = self.answers.get(path, Answer())
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    def path(self, connection_id: str) -> str:
        return "/live/@connections/" + quote(connection_id, safe="")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def keys(token: str | None = "session-token") -> Credentials:
    return Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)


def signed(url: str, credentials: Credentials | None = None, **kwargs: Any) -> SignedConnections:
    return SignedConnections(url, REGION, credentials=credentials or keys(), **kwargs)


def botocore_client(url: str, credentials: Credentials) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )


# -- signing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["session-token", None])
@pytest.mark.parametrize(
    ("operation", "connection_id", "data"),
    [
        ("post_to_connection", "L0SM9cOFvHcCIhw=", b'{"type":"event","payload":{"id":1}}'),
        ("post_to_connection", "a/b+c=d", "déjà vu".encode()),
        ("post_to_connection", "L0SM9cOFvHcCIhw=", b""),
        ("delete_connection", "L0SM9cOFvHcCIhw=", None),
    ],
)
def test_the_request_is_signed_as_botocores_own_client_signs_it(
    recorder: Recorder, token: str | None, operation: str, connection_id: str, data: bytes | None
) -> None:
    credentials = keys(token)
    arguments: dict[str, Any] = {"ConnectionId": connection_id}
    if data is not None:
        arguments["Data"] = data
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN):
        getattr(botocore_client(recorder.url, credentials), operation)(**arguments)
        getattr(signed(recorder.url, credentials), operation)(**arguments)
    theirs, ours = recorder.seen
    assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
    assert ours.path == recorder.path(connection_id)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    assert ours.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/{REGION}/execute-api/aws4_request, "
    )
    for name in ("X-Amz-Date", "X-Amz-Security-Token", "Host"):
        assert ours.headers.get(name) == theirs.headers.get(name), name


def test_one_client_signs_as_botocore_across_a_change_of_day(recorder: Recorder) -> None:
    ours, theirs = signed(recorder.url), botocore_client(recorder.url, keys())
    for moment in (FROZEN, FROZEN + datetime.timedelta(days=1), FROZEN + datetime.timedelta(days=1, hours=1)):
        with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
            ours.post_to_connection(ConnectionId="c1", Data=b"x")
            theirs.post_to_connection(ConnectionId="c1", Data=b"x")
    pairs = list(zip(recorder.seen[::2], recorder.seen[1::2], strict=True))
    assert [a.headers["Authorization"] for a, _ in pairs] == [b.headers["Authorization"] for _, b in pairs]
    assert len({a.headers["Authorization"] for a, _ in pairs}) == 3


def test_the_signature_changes_with_the_clock_and_the_body(recorder: Recorder) -> None:
    client = signed(recorder.url)
    for moment, data in ((FROZEN, b"a"), (FROZEN, b"b"), (FROZEN + datetime.timedelta(seconds=1), b"a")):
        with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
            client.post_to_connection(ConnectionId="c1", Data=data)
    signatures = {seen.headers["Authorization"] for seen in recorder.seen}
    assert len(signatures) == 3


def test_refreshable_credentials_are_frozen_again_once_they_may_have_changed(recorder: Recorder) -> None:
    generations = iter(range(1, 100))

    def refresh() -> dict[str, str]:
        n = next(generations)
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        return {"access_key": f"AKID{n}", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    client = signed(recorder.url, credentials)
    client.post_to_connection(ConnectionId="c1", Data=b"x")
    credentials._expiry_time = datetime.datetime.now(datetime.UTC)  # expired: botocore refreshes it
    client.post_to_connection(ConnectionId="c1", Data=b"x")  # within the recheck: the frozen copy
    client._signer._next_check = 0.0  # the recheck interval is over
    client.post_to_connection(ConnectionId="c1", Data=b"x")
    scopes = [seen.headers["Authorization"].split("Credential=")[1].split("/")[0] for seen in recorder.seen]
    assert scopes == ["AKID1", "AKID1", "AKID2"]


def test_the_environments_credentials_are_captured_when_the_client_is_made(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFUNCTIONA")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-a")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client = connections_client(recorder.url, REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFUNCTIONB")  # another function's cold start (local)
    client.post_to_connection(ConnectionId="c1", Data=b"x")
    [seen] = recorder.seen
    assert "Credential=AKIDFUNCTIONA/" in seen.headers["Authorization"]
    assert "X-Amz-Security-Token" not in seen.headers


def test_a_client_made_without_credentials_fails_when_it_posts_not_when_it_is_made(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As boto3's: a function (or a test) builds its clients at the cold start, before any post."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = connections_client(recorder.url, REGION)
    with pytest.raises(NoCredentialsError):
        client.post_to_connection(ConnectionId="c1", Data=b"x")
    assert recorder.seen == []
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLATER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-later")
    client.post_to_connection(ConnectionId="c1", Data=b"x")  # found now, as botocore's chain would
    [seen] = recorder.seen
    assert "Credential=AKIDLATER/" in seen.headers["Authorization"]


# -- errors ----------------------------------------------------------------------------------------


def _gone() -> Answer:
    return Answer(410, {"x-amzn-ErrorType": "GoneException"}, b'{"message":null}')


ERROR_ANSWERS = {
    "gone": _gone(),
    "gone-bare": Answer(410, {}, b""),
    "too-large": Answer(
        413, {"x-amzn-ErrorType": "PayloadTooLargeException"}, b'{"message":"Message too long"}'
    ),
    "forbidden": Answer(
        403,
        {"x-amzn-ErrorType": "ForbiddenException:http://internal.amazon.com/"},
        b'{"message":"Forbidden"}',
    ),
    "typed-body": Answer(400, {}, b'{"__type":"com.amazonaws#BadRequestException","message":"bad"}'),
    "coded-body": Answer(400, {}, b'{"code":"LimitExceededException","message":"slow down"}'),
    "html": Answer(400, {"Content-Type": "text/html"}, b"<html>nope</html>"),
    "server": Answer(500, {}, b""),
    "throttled": Answer(429, {"x-amzn-ErrorType": "LimitExceededException"}, b'{"message":"Rate exceeded"}'),
}


@pytest.mark.parametrize("case", sorted(ERROR_ANSWERS))
def test_an_error_answer_raises_the_code_and_message_boto3_raises(recorder: Recorder, case: str) -> None:
    recorder.answers[recorder.path("c1")] = ERROR_ANSWERS[case]
    credentials = keys()
    raised: list[ClientError] = []
    seen: list[int] = []
    for client in (
        botocore_client(recorder.url, credentials),
        signed(recorder.url, credentials, retry_pause_s=0),
    ):
        before = len(recorder.seen)
        with pytest.raises(ClientError) as error:
            client.post_to_connection(ConnectionId="c1", Data=b"{}")
        raised.append(error.value)
        seen.append(len(recorder.seen) - before)
    theirs, ours = raised
    expected = theirs.response["Error"]["Code"]
    if ERROR_ANSWERS[case].status == 410:
        expected = "GoneException"  # boto3 says "410" when the answer names no type; 410 is gone
    assert ours.response["Error"]["Code"] == expected
    assert ours.response["Error"]["Message"] == theirs.response["Error"]["Message"]
    assert ours.response["ResponseMetadata"]["HTTPStatusCode"] == ERROR_ANSWERS[case].status
    assert ours.operation_name == "PostToConnection"
    # Retried once (our two attempts) what boto3 retries at all, nothing else.
    assert seen[1] == (2 if seen[0] > 1 else 1)
    if ERROR_ANSWERS[case].status == 410:
        assert isinstance(ours, GoneException)
        assert Pusher(signed(recorder.url), concurrency=1).push(["c1"], b"{}").gone == ["c1"]


def test_a_retried_answer_that_then_succeeds_is_a_success(recorder: Recorder) -> None:
    recorder.answers[recorder.path("c1")] = [Answer(503), Answer(200)]
    answer = signed(recorder.url, retry_pause_s=0).post_to_connection(ConnectionId="c1", Data=b"x")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(recorder.seen) == 2


def test_the_pusher_reports_gone_and_failed_connections_by_code(recorder: Recorder) -> None:
    recorder.answers[recorder.path("gone")] = _gone()
    recorder.answers[recorder.path("big")] = ERROR_ANSWERS["too-large"]
    pusher = Pusher(signed(recorder.url, concurrency=4), concurrency=4)
    report = pusher.push(["ok1", "gone", "big", "ok2"], b'{"type":"event"}')
    assert sorted(report.sent) == ["ok1", "ok2"]
    assert report.gone == ["gone"]
    assert report.failed == {"big": "PayloadTooLargeException"}
    each = pusher.push_each([("ok1", b"1"), ("gone", b"2")])
    assert (each.sent, each.gone) == (["ok1"], ["gone"])
    assert {(s.path, s.body) for s in recorder.seen[-2:]} == {
        (recorder.path("ok1"), b"1"),
        (recorder.path("gone"), b"2"),
    }


def test_a_refused_connection_raises_what_boto3_raises_after_one_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/live"
    client = signed(url)
    with pytest.raises(Exception) as ours:
        client.post_to_connection(ConnectionId="c1", Data=b"x")
    with pytest.raises(Exception) as theirs:
        boto3_connections_client(url, REGION).post_to_connection(ConnectionId="c1", Data=b"x")
    assert type(ours.value) is type(theirs.value)
    assert type(ours.value).__name__ == "EndpointConnectionError"
    assert Pusher(client, concurrency=1).push(["c1"], b"x").failed == {"c1": "EndpointConnectionError"}


def test_a_slow_answer_times_out_and_is_tried_twice(recorder: Recorder) -> None:
    recorder.answers[recorder.path("c1")] = Answer(delay_s=0.5)
    client = signed(recorder.url, read_timeout_s=0.1)
    started = time.monotonic()
    with pytest.raises(Exception) as error:
        client.post_to_connection(ConnectionId="c1", Data=b"x")
    assert type(error.value).__name__ == "ReadTimeoutError"
    assert len(recorder.seen) == 2
    assert time.monotonic() - started < 0.5


# -- the pool --------------------------------------------------------------------------------------


def test_sequential_posts_reuse_one_connection(recorder: Recorder) -> None:
    client = signed(recorder.url)
    for i in range(30):
        client.post_to_connection(ConnectionId=f"c{i}", Data=b"x")
    assert len(recorder.seen) == 30
    assert len({seen.port for seen in recorder.seen}) == 1
    assert client.opened == 1


def test_parallel_posts_use_at_most_concurrency_connections_at_once(recorder: Recorder) -> None:
    recorder.answers = {recorder.path(f"c{i}"): Answer(delay_s=0.02) for i in range(40)}
    client = signed(recorder.url, concurrency=3)
    report = Pusher(client, concurrency=8).push([f"c{i}" for i in range(40)], b"x")  # more workers
    assert len(report.sent) == 40
    assert recorder.most_in_flight <= 3
    assert 1 <= len({seen.port for seen in recorder.seen}) <= 3
    assert client.opened <= 3


def test_a_connection_the_server_closed_is_replaced(recorder: Recorder) -> None:
    recorder.answers[recorder.path("bye")] = Answer(close=True)
    client = signed(recorder.url)
    client.post_to_connection(ConnectionId="c1", Data=b"x")
    client.post_to_connection(ConnectionId="bye", Data=b"x")  # answered with Connection: close
    client.post_to_connection(ConnectionId="c2", Data=b"x")
    ports = [seen.port for seen in recorder.seen]
    assert ports[0] == ports[1] != ports[2]
    # An idle connection the server drops without a word: seen closed before it is used again.
    idle = client._idle[-1]
    idle.sock.shutdown(socket.SHUT_RD)  # reads now see EOF, as after the server's FIN
    idle.used_at -= FRESH_S  # idle long enough to be asked
    client.post_to_connection(ConnectionId="c3", Data=b"x")
    assert client.opened == 3
    assert len(recorder.seen) == 4  # no retry was needed
    # One used a moment ago is not asked: its post fails and is retried on a new connection.
    client._idle[-1].sock.shutdown(socket.SHUT_RDWR)
    answer = client.post_to_connection(ConnectionId="c4", Data=b"x")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert client.opened == 4
    assert [seen.path for seen in recorder.seen[4:]] == [recorder.path("c4")]


def test_a_chunked_answer_is_read_whole_and_the_connection_kept(recorder: Recorder) -> None:
    description = {"connectedAt": "2026-12-07T21:30:05.000Z", "identity": {"sourceIp": "127.0.0.1"}}
    recorder.answers[recorder.path("c1")] = Answer(body=json.dumps(description).encode(), chunked=True)
    client = signed(recorder.url)
    answer = client.get_connection(ConnectionId="c1")
    assert answer["connectedAt"] == description["connectedAt"]
    assert answer["identity"] == description["identity"]
    client.post_to_connection(ConnectionId="c2", Data=b"x")
    assert client.opened == 1


def test_the_environment_can_ask_for_boto3s_client(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert isinstance(connections_client(recorder.url, REGION), SignedConnections)
    monkeypatch.setenv("GUI_PUSH_CLIENT", "boto3")
    old = connections_client(recorder.url, REGION)
    assert not isinstance(old, SignedConnections)
    old.post_to_connection(ConnectionId="c1", Data=b"x")
    assert recorder.seen[-1].headers["User-Agent"].startswith("Boto3/")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), its own issuer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_posts_verify_the_server_and_keep_the_connection(recorder: Recorder, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder.server.socket = context.wrap_socket(recorder.server.socket, server_side=True)
    url = recorder.url.replace("http://", "https://")
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN):
        client = signed(url, ca_bundle=str(cert))
        for i in range(5):
            client.post_to_connection(ConnectionId=f"c{i}", Data=b"x")
        theirs = boto3.client(  # the same request from botocore, verifying with the same bundle
            "apigatewaymanagementapi",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key=keys().secret_key,
            aws_session_token="session-token",
            verify=str(cert),
        )
        theirs.post_to_connection(ConnectionId="c0", Data=b"x")
    assert client.opened == 1
    assert len({seen.port for seen in recorder.seen[:5]}) == 1
    assert recorder.seen[0].headers["Authorization"] == recorder.seen[-1].headers["Authorization"]
    # A server the bundle does not vouch for is refused, as botocore refuses it.
    with pytest.raises(Exception) as refused:
        signed(url).post_to_connection(ConnectionId="c1", Data=b"x")
    assert type(refused.value).__name__ == "SSLError"
