"""The event consumers' one residency check (gui_core.tenancy.homed_here): a tenant homed here is
admitted; one unknown here or homed elsewhere is refused with the quarantine's reason, and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gui_core.tenancy import NotHomedHere, Tenant, homed_here

HOMES = {"acme": "eu-west-1", "globex": "us-east-1"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """gui_core.tenancy's log records, heard on the logger itself (gui_core stops propagating to the
    root logger once a handler has structured it)."""
    records = Records()
    log = logging.getLogger("gui_core.tenancy")
    log.addHandler(records)
    try:
        yield records.records
    finally:
        log.removeHandler(records)


class Directory:
    def get(self, tenant_id: str) -> Tenant | None:
        home = HOMES.get(tenant_id)
        return Tenant.from_item({"pk": tenant_id, "home_region": home}) if home else None


class Unreachable:
    def get(self, tenant_id: str) -> Tenant | None:
        raise ConnectionError("DynamoDB is unreachable")


def test_a_tenant_homed_here_is_admitted_silently(logged: list[logging.LogRecord]) -> None:
    tenant = homed_here(Directory(), "acme", region="eu-west-1", what="record 1")

    assert (tenant.id, tenant.home_region) == ("acme", "eu-west-1")
    assert logged == []


@pytest.mark.parametrize(
    ("tenant", "reason", "message"),
    [
        ("nobody", "unknown_tenant", "tenant nobody is unknown here"),
        ("globex", "wrong_region", "tenant globex is homed in us-east-1, not eu-west-1"),
    ],
)
def test_a_tenant_not_homed_here_is_refused_with_its_reason_and_a_warning(
    tenant: str, reason: str, message: str, logged: list[logging.LogRecord]
) -> None:
    with pytest.raises(NotHomedHere) as refused:
        homed_here(Directory(), tenant, region="eu-west-1", what="JobStatusChanged of job-1")

    assert (refused.value.reason, str(refused.value)) == (reason, message)
    assert [(r.levelno, r.getMessage()) for r in logged] == [
        (logging.WARNING, f"JobStatusChanged of job-1 refused: {message}")
    ]


def test_a_failed_lookup_is_no_refusal() -> None:
    with pytest.raises(ConnectionError):
        homed_here(Unreachable(), "acme", region="eu-west-1", what="record 1")
