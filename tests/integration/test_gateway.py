"""The local API Gateway over HTTP: health, refusals before the function, demo data per region."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from local.keys import DevKeys
from local.runtime import LocalBackend
from stacks.manifest import DEFAULT_REGIONS

from .support import PREFERENCES, fresh_subject, table

pytestmark = pytest.mark.slow

PROBLEM_TYPE = "urn:domaindetermine:gui:problem:"
ARTIFACTS = "/service/gui/artifacts"
DEMO_ARTIFACT = "map-icd10-snomed"  # a demo artifact of acme's


def assert_gateway_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A gateway response as the stack renders it: problem+json whose request id is the header's."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"{PROBLEM_TYPE}{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-amzn-requestid"]
    return body


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_healthz_answers_for_each_region(
    http: httpx.Client, url: Callable[[str, str], str], region: str
) -> None:
    response = http.get(url(region, "/healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "region": region, "stage": "local"}


def test_each_region_listens_on_its_own_loopback_port(local_backend: LocalBackend) -> None:
    hosts = {u.rsplit(":", 1)[0] for u in local_backend.base_urls.values()}
    ports = {u.rsplit(":", 1)[1] for u in local_backend.base_urls.values()}

    assert set(local_backend.base_urls) == set(DEFAULT_REGIONS)
    assert hosts == {"http://127.0.0.1"}
    assert len(ports) == len(DEFAULT_REGIONS)


def test_request_without_token_is_refused_with_401_problem(
    http: httpx.Client, url: Callable[[str, str], str]
) -> None:
    response = http.get(url("eu-west-1", PREFERENCES))

    body = assert_gateway_problem(response, 401, "unauthorized")
    assert body["detail"] == "Unauthorized"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer a.b.c", "Basic YWRhOnNlY3JldA==", "Bearer"],
    ids=["garbage", "three-garbled-parts", "basic-scheme", "scheme-only"],
)
def test_garbled_token_is_refused_with_401_problem(
    http: httpx.Client, url: Callable[[str, str], str], authorization: str
) -> None:
    response = http.get(url("eu-west-1", PREFERENCES), headers={"Authorization": authorization})

    assert_gateway_problem(response, 401, "unauthorized")


def test_tampered_token_is_refused(
    http: httpx.Client, url: Callable[[str, str], str], bearer: Callable[..., dict[str, str]]
) -> None:
    header, payload, signature = bearer("acme", "vic")["Authorization"].removeprefix("Bearer ").split(".")
    forged = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    response = http.get(url("eu-west-1", PREFERENCES), headers={"Authorization": f"Bearer {forged}"})

    assert_gateway_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("same_kid", [False, True], ids=["its-own-kid", "the-dev-kid"])
def test_token_signed_by_another_key_is_refused(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, same_kid: bool
) -> None:
    other = DevKeys.ephemeral()
    headers = {"kid": dev_keys.kid} if same_kid else None
    token = other.mint(tenant="acme", subject="vic@acme", roles=("viewer",), headers=headers)

    response = http.get(url("eu-west-1", PREFERENCES), headers={"Authorization": f"Bearer {token}"})

    assert_gateway_problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "claims",
    [
        {"ttl_s": -3600},
        {"extra_claims": {"aud": "another-api"}},
        {"extra_claims": {"iss": "urn:someone-else"}},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
def test_token_of_the_dev_key_with_wrong_claims_is_refused(
    http: httpx.Client, url: Callable[[str, str], str], dev_keys: DevKeys, claims: dict[str, Any]
) -> None:
    token = dev_keys.mint(tenant="acme", subject="vic@acme", roles=("viewer",), **claims)

    response = http.get(url("eu-west-1", PREFERENCES), headers={"Authorization": f"Bearer {token}"})

    assert_gateway_problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/service/gui/nothing-here"),
        ("GET", "/"),
        ("PATCH", PREFERENCES),
        ("POST", f"{PREFERENCES}/tenant"),
        ("GET", f"{PREFERENCES}/views/a/b"),
    ],
)
@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "with-token"])
def test_unknown_route_is_a_404_problem(
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
    method: str,
    path: str,
    with_token: bool,
) -> None:
    headers = bearer("acme", "ada") if with_token else {}

    response = http.request(method, url("eu-west-1", path), headers=headers)

    body = assert_gateway_problem(response, 404, "route_not_found")
    assert body["detail"] == "Missing Authentication Token"


def test_body_over_api_gateway_quota_is_refused_with_413(
    http: httpx.Client, url: Callable[[str, str], str], bearer: Callable[..., dict[str, str]]
) -> None:
    too_large = b"x" * (10 * 1024 * 1024 + 1)

    response = http.put(url("eu-west-1", PREFERENCES), headers=bearer("acme", "vic"), content=too_large)

    assert_gateway_problem(response, 413, "payload_too_large")


def test_function_refuses_a_token_without_the_route_scope(
    http: httpx.Client, url: Callable[[str, str], str], bearer: Callable[..., dict[str, str]]
) -> None:
    # dana holds gui:dashboard only: the authorizer lets her in, the function checks the scope.
    response = http.get(url("eu-west-1", PREFERENCES), headers=bearer("acme", "dana"))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_scope"
    assert response.headers["x-amzn-requestid"]


def test_demo_tenants_are_stored_in_full_at_home_and_as_stubs_elsewhere(
    dynamodb: Callable[[str], Any],
) -> None:
    def record(tenant: str, region: str) -> dict[str, Any]:
        key = {"pk": {"S": tenant}, "sk": {"S": "tenant"}}
        found: dict[str, Any] = dynamodb(region).get_item(TableName=table("tenants"), Key=key)["Item"]
        return found

    acme_home, acme_away = record("acme", "eu-west-1"), record("acme", "us-east-1")
    globex_home, globex_away = record("globex", "us-east-1"), record("globex", "eu-west-1")

    assert acme_home["home_region"] == {"S": "eu-west-1"}
    assert globex_home["home_region"] == {"S": "us-east-1"}
    assert "M" in acme_home["flags"]
    assert "M" in acme_home["license_policy"]
    # Another region knows only where the tenant lives: no flags, plan, limits or license policy.
    assert acme_away == {
        "pk": {"S": "acme"},
        "sk": {"S": "tenant"},
        "name": {"S": "Acme Corporation"},
        "home_region": {"S": "eu-west-1"},
    }
    assert set(globex_away) == {"pk", "sk", "name", "home_region"}
    assert globex_away["home_region"] == {"S": "us-east-1"}


@pytest.mark.parametrize(
    ("tenant", "region", "locale"), [("acme", "eu-west-1", "en-GB"), ("globex", "us-east-1", "en-US")]
)
def test_seeded_tenant_defaults_are_served_in_the_home_region(
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
    tenant: str,
    region: str,
    locale: str,
) -> None:
    response = http.get(url(region, PREFERENCES), headers=bearer(tenant, "otto"))

    assert response.status_code == 200, response.text
    document = response.json()
    assert document["tenant"] == tenant
    assert document["subject"] == f"otto@{tenant}"
    assert document["effective"]["locale"] == locale
    assert document["effective"]["theme"] == "light"
    assert document["locked_keys"] == ["density"]


def test_seeded_shared_view_is_listed_for_every_user_of_the_tenant(
    http: httpx.Client, url: Callable[[str, str], str], bearer: Callable[..., dict[str, str]]
) -> None:
    response = http.get(url("us-east-1", f"{PREFERENCES}/views"), headers=bearer("globex", "vic"))

    assert response.status_code == 200, response.text
    names = {(v["name"], v["owner"], v["visibility"]) for v in response.json()["items"]}
    assert ("Active coverage", "ada@globex", "tenant") in names


# -- paths as API Gateway passes them ------------------------------------------------------------


def test_a_trailing_slash_reaches_the_resource_and_a_put_through_it_is_applied(
    http: httpx.Client, url: Callable[[str, str], str], bearer: Callable[..., dict[str, str]]
) -> None:
    """API Gateway routes `/preferences/` to the `/preferences` resource (and passes the slash on in
    `path`): the function serves it as the resource, without a redirect that would drop the stage."""
    auth = bearer("acme", subject=fresh_subject("acme"))
    slashed = url("eu-west-1", f"{PREFERENCES}/")

    read = http.get(slashed, headers=auth)
    assert read.status_code == 200, read.text
    put = http.put(slashed, headers={**auth, "If-Match": read.headers["etag"]}, json={"theme": "dark"})

    assert put.status_code == 200, put.text
    assert http.get(url("eu-west-1", PREFERENCES), headers=auth).json()["effective"]["theme"] == "dark"


def test_an_encoded_slash_stays_inside_its_path_parameter(
    http: httpx.Client, url: Callable[[str, str], str], bearer: Callable[..., dict[str, str]]
) -> None:
    """`/artifacts/{id}` matched with id `map-icd10-snomed/lineage`: no such artifact. Decoded before
    routing, the path would be `/artifacts/map-icd10-snomed/lineage`, another resource."""
    reader = bearer("acme", "vic")
    assert (
        http.get(url("eu-west-1", f"{ARTIFACTS}/{DEMO_ARTIFACT}/lineage"), headers=reader).status_code == 200
    )

    response = http.get(url("eu-west-1", f"{ARTIFACTS}/{DEMO_ARTIFACT}%2Flineage"), headers=reader)

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"] == f"No artifact '{DEMO_ARTIFACT}/lineage'."


def test_a_subject_holding_a_slash_can_be_reset(
    http: httpx.Client,
    url: Callable[[str, str], str],
    bearer: Callable[..., dict[str, str]],
    dynamodb: Callable[[str], Any],
) -> None:
    subject = fresh_subject("acme").replace("@", "/team@")
    auth = bearer("acme", subject=subject)
    etag = http.get(url("eu-west-1", PREFERENCES), headers=auth).headers["etag"]
    assert (
        http.put(
            url("eu-west-1", PREFERENCES), headers={**auth, "If-Match": etag}, json={"theme": "dark"}
        ).status_code
        == 200
    )
    assert _stored_subjects(dynamodb, subject) == [subject]

    reset = http.delete(
        url("eu-west-1", f"{PREFERENCES}/users/{quote(subject, safe='')}"), headers=bearer("acme", "ada")
    )

    assert reset.status_code == 204, reset.text
    assert _stored_subjects(dynamodb, subject) == []


def _stored_subjects(dynamodb: Callable[[str], Any], subject: str) -> list[str]:
    items = dynamodb("eu-west-1").query(
        TableName=table("preferences"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :user)",
        ExpressionAttributeValues={":pk": {"S": "acme"}, ":user": {"S": "USER#"}},
    )["Items"]
    return [i["subject"]["S"] for i in items if i.get("subject", {}).get("S") == subject]
