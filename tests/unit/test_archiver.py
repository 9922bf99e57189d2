"""The archiver: TTL removals from the sample stream event land in the archive, the rest is ignored."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gui_archiver.archive import ArchiveError, Archiver, archive_key, is_ttl_removal, table_name
from gui_archiver.settings import ArchiverSettings
from gui_core.objects import json_line
from local.apigw import sample_event
from local.containers import lambda_context, load_handler
from stacks.manifest import MANIFEST
from stacks.source_filters import STREAM_STORES_ENV, TTL_REMOVAL_PATTERN, matches

STORES = {"preferences": "ddgui-preferences"}


def sample() -> dict[str, Any]:
    return sample_event("dynamodb_stream_ttl_remove")


class FakeObjects:
    """The object store's interface, in memory; `fail_keys` makes a put of such a key fail."""

    def __init__(self, fail_keys: tuple[str, ...] = ()) -> None:
        self.objects: dict[str, Any] = {}
        self.puts = 0
        self.fail_keys = fail_keys

    def put_json(self, key: str, document: Any) -> None:
        self.puts += 1
        if any(part in key for part in self.fail_keys):
            raise ConnectionError("S3 is unreachable")
        self.objects[key] = json.loads(json_line(document))


def test_a_ttl_removal_is_archived_by_store_tenant_day_and_event_id() -> None:
    objects = FakeObjects()
    ttl_record = sample()["Records"][0]

    archived = Archiver(objects, stream_stores=STORES).archive(ttl_record)

    assert archived is not None
    key = "archive/preferences/acme/2026/11/26/7f3c1a9e52d04b6f8e21c0d4a9b5e613.json"
    assert archived.key == key
    assert (archived.store, archived.tenant, archived.unknown_store) == ("preferences", "acme", False)
    document = objects.objects[key]
    assert document["item"] == {
        "pk": "acme",
        "sk": "HIST#ada%40acme#2026-05-30T08:15:02.417+00:00#0000000001",
        "kind": "preference_history",
        "subject": "ada@acme",
        "overrides": {"theme": "dark", "pinned_dashboards": ["overview", "coverage"], "locale": "en-GB"},
        "version": 1,
        "changed_at": "2026-05-30T08:15:02.417+00:00",
        "changed_by": "ada@acme",
        "reason": "user_update",
        "expires_at": 1795680902,
    }
    assert document["keys"] == {"pk": "acme", "sk": document["item"]["sk"]}
    assert document["removed_at"] == "2026-11-26T10:35:36+00:00"
    assert document["event_id"] == ttl_record["eventID"]
    assert document["sequence_number"] == ttl_record["dynamodb"]["SequenceNumber"]
    assert (document["store"], document["tenant"], document["region"]) == ("preferences", "acme", "eu-west-1")


def test_user_removals_and_modifications_are_ignored() -> None:
    objects = FakeObjects()
    archiver = Archiver(objects, stream_stores=STORES)
    _, user_remove, modify = sample()["Records"]

    assert archiver.archive(user_remove) is None
    assert archiver.archive(modify) is None
    forged = {**modify, "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}}
    assert archiver.archive(forged) is None  # a MODIFY is never a TTL removal
    assert objects.puts == 0


def test_a_redelivered_record_overwrites_the_same_object_with_the_same_document() -> None:
    objects = FakeObjects()
    archiver = Archiver(objects, stream_stores=STORES)
    ttl_record = sample()["Records"][0]

    first = archiver.archive(ttl_record)
    snapshot = copy.deepcopy(objects.objects)
    second = archiver.archive(copy.deepcopy(ttl_record))

    assert first == second
    assert objects.puts == 2
    assert objects.objects == snapshot


def test_the_ttl_filter_pattern_and_the_archiver_agree_on_the_sample() -> None:
    records = sample()["Records"]
    assert [matches(TTL_REMOVAL_PATTERN, r) for r in records] == [True, False, False]
    assert [is_ttl_removal(r) for r in records] == [True, False, False]


def test_a_table_the_function_was_not_told_about_keeps_its_name_as_the_store() -> None:
    objects = FakeObjects()
    archived = Archiver(objects, stream_stores={}).archive(sample()["Records"][0])
    assert archived is not None
    assert archived.unknown_store
    assert archived.key.startswith("archive/ddgui-preferences/acme/")


def test_key_segments_cannot_escape_their_prefix() -> None:
    record = sample()["Records"][0]
    record["dynamodb"]["Keys"]["pk"] = {"S": "../other#jobs"}
    archived = Archiver(FakeObjects(), stream_stores=STORES).archive(record)
    assert archived is not None
    assert archived.tenant == "../other"
    assert archived.key.startswith("archive/preferences/..%2Fother/2026/")


def test_without_an_event_id_the_sequence_number_names_the_object() -> None:
    record = sample()["Records"][0]
    del record["eventID"]
    archived = Archiver(FakeObjects(), stream_stores=STORES).archive(record)
    assert archived is not None
    assert archived.key.endswith("/418500000000021376059413.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["dynamodb"].pop("OldImage"), "old image"),
        (lambda r: r["dynamodb"].pop("ApproximateCreationDateTime"), "ApproximateCreationDateTime"),
        (lambda r: r.update(eventSourceARN="arn:aws:kinesis:eu-west-1:1:stream/x"), "stream ARN"),
        (lambda r: r["dynamodb"]["Keys"].pop("pk"), "pk"),
    ],
)
def test_a_ttl_removal_that_cannot_be_archived_is_an_error(change: Any, message: str) -> None:
    record = sample()["Records"][0]
    change(record)
    with pytest.raises(ArchiveError, match=message):
        Archiver(FakeObjects(), stream_stores=STORES).archive(record)


def test_stream_arn_names_the_table() -> None:
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/DdGui-eu-west-1-State-Prefs-1X/stream/2026-11-27T09"
    assert table_name(arn) == "DdGui-eu-west-1-State-Prefs-1X"


def test_archive_key_uses_the_utc_day() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 2, 23, 59, tzinfo=UTC)
    assert archive_key(store="s", tenant="t", removed_at=at, record_id="e") == "archive/s/t/2026/01/02/e.json"


def test_settings_read_the_manifest_bucket_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "POWERTOOLS_SERVICE_NAME": "gui_archiver",
        "GUI_REGION": "eu-west-1",
        MANIFEST.bucket.env_var: "bucket-1",
        STREAM_STORES_ENV: json.dumps(STORES),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ArchiverSettings()  # type: ignore[call-arg]
    assert settings.data_bucket == "bucket-1"
    assert settings.stream_stores == STORES


# -- the handler: Powertools batch processing over the archiver ---------------------------------


@pytest.fixture
def archiver_handler() -> Any:
    """The real handler module, loaded as a cold start with a local environment; its archiver is
    then given a fake object store so nothing leaves the process."""
    fn = MANIFEST.function("gui_archiver")
    env = {
        "POWERTOOLS_SERVICE_NAME": fn.name,
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
        "GUI_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        MANIFEST.bucket.env_var: "bucket-1",
        STREAM_STORES_ENV: json.dumps(STORES),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return load_handler(fn, env)


def _context() -> Any:
    return lambda_context(MANIFEST.function("gui_archiver"), "eu-west-1")


def _all_wrapped(handler: Any) -> Any:
    while hasattr(handler, "__wrapped__"):
        handler = handler.__wrapped__
    return handler


def test_handler_archives_the_ttl_removal_and_reports_no_failure(archiver_handler: Any) -> None:
    objects = FakeObjects()
    _all_wrapped(archiver_handler).__globals__["archiver"] = Archiver(objects, stream_stores=STORES)

    answer = archiver_handler(sample(), _context())

    assert answer == {"batchItemFailures": []}
    assert list(objects.objects) == [
        "archive/preferences/acme/2026/11/26/7f3c1a9e52d04b6f8e21c0d4a9b5e613.json"
    ]


def test_handler_reports_only_the_record_that_failed(archiver_handler: Any) -> None:
    event = sample()
    second = copy.deepcopy(event["Records"][0])
    second["eventID"] = "a1" * 16
    second["dynamodb"]["SequenceNumber"] = "418500000000021376059999"
    event["Records"].append(second)
    objects = FakeObjects(fail_keys=("a1a1",))
    _all_wrapped(archiver_handler).__globals__["archiver"] = Archiver(objects, stream_stores=STORES)

    answer = archiver_handler(event, _context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": "418500000000021376059999"}]}
    assert len(objects.objects) == 1


def _with_binary(record: dict[str, Any]) -> dict[str, Any]:
    """The record with binary attributes as Lambda's event carries them: base64 text (`B`, `BS`, and
    inside a map)."""
    changed = copy.deepcopy(record)
    image = changed["dynamodb"]["OldImage"]
    image["digest"] = {"B": "3q2+7w=="}  # bytes DE AD BE EF
    image["chunks"] = {"BS": ["AAE=", "/w=="]}
    image["overrides"]["M"]["avatar"] = {"B": "iVBORw=="}
    return changed


def test_a_ttl_removal_with_binary_attributes_is_archived_whole() -> None:
    """Issue 12, #13: a binary attribute in a stream image (base64 text in Lambda's event; boto3's
    deserializer wants bytes) failed the record, so the item was never archived."""
    objects = FakeObjects()
    record = _with_binary(sample()["Records"][0])

    archived = Archiver(objects, stream_stores=STORES).archive(record)

    assert archived is not None
    document = objects.objects[archived.key]
    # plain values: binary as its base64 text; the typed image keeps every attribute's type
    assert document["item"]["digest"] == "3q2+7w=="
    assert document["item"]["chunks"] == ["/w==", "AAE="]
    assert document["item"]["overrides"]["avatar"] == "iVBORw=="
    assert document["image"] == record["dynamodb"]["OldImage"]


def test_handler_archives_a_binary_item_without_failing_the_batch(archiver_handler: Any) -> None:
    objects = FakeObjects()
    _all_wrapped(archiver_handler).__globals__["archiver"] = Archiver(objects, stream_stores=STORES)
    event = sample()
    event["Records"][0] = _with_binary(event["Records"][0])

    assert archiver_handler(event, _context()) == {"batchItemFailures": []}
    assert len(objects.objects) == 1
