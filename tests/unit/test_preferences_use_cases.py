"""The preferences' use cases called as a door other than REST would call them
(gui_preferences.use_cases), over the real repository on a table in memory: a write needs the tag
the caller read (428 without, 412 for a stale one) and answers the next; a key the tenant locks cannot
be changed; a view is private to its owner, changed by its owner only, and a shared one deleted by an
admin too."""

from __future__ import annotations

import pytest

from gui_core.context import RequestContext
from gui_core.errors import NotFound, PreconditionFailed, PreconditionRequired
from gui_core.migrations.gate import Always
from gui_preferences.logic import NotOwner, PreferenceLocked
from gui_preferences.models import PreferenceValues, TenantPolicyInput, ViewInput
from gui_preferences.repository import PreferencesRepository
from gui_preferences.use_cases import (
    PreferencesPorts,
    create_view,
    delete_view,
    read_preferences,
    read_view,
    replace_preferences,
    replace_tenant_policy,
    replace_view,
)
from local.memory_table import MemoryTable


def caller(subject: str, *scopes: str) -> RequestContext:
    return RequestContext(
        "acme", subject, frozenset({"gui:preferences", *scopes}), (), "eu-west-1", "r", None, None, 0
    )


ADA, BOB, ADMIN = caller("ada@acme"), caller("bob@acme"), caller("root@acme", "gui:admin")


def ports() -> PreferencesPorts:
    return PreferencesPorts(PreferencesRepository(MemoryTable(), history_days=1), Always())  # type: ignore[arg-type]


def test_a_write_needs_the_tag_read_and_answers_the_next() -> None:
    preferences = ports()
    read = read_preferences(preferences, ADA)
    dark = PreferenceValues(theme="dark")
    with pytest.raises(PreconditionRequired):
        replace_preferences(preferences, ADA, dark, if_match=None)
    written = replace_preferences(preferences, ADA, dark, if_match=read.etag)
    assert (written.body.effective.theme, written.body.version) == ("dark", 1)
    assert written.etag != read.etag == '"p0.t0"'
    with pytest.raises(PreconditionFailed):
        replace_preferences(preferences, ADA, PreferenceValues(theme="light"), if_match=read.etag)
    assert read_preferences(preferences, ADA).etag == written.etag


def test_a_key_the_tenant_locks_cannot_be_changed() -> None:
    preferences = ports()
    policy = TenantPolicyInput(defaults=PreferenceValues(locale="de-DE"), locked_keys=["locale"])
    replace_tenant_policy(preferences, ADMIN, policy, if_match="*")
    read = read_preferences(preferences, ADA)
    assert read.body.effective.locale == "de-DE"
    with pytest.raises(PreferenceLocked) as refused:
        replace_preferences(preferences, ADA, PreferenceValues(locale="fr-FR"), if_match=read.etag)
    assert refused.value.extensions["key"] == "locale"


def test_a_view_is_private_to_its_owner_and_changed_by_its_owner_only() -> None:
    preferences = ports()
    private = create_view(preferences, ADA, ViewInput(name="mine", module="coverage")).body
    shared = create_view(preferences, ADA, ViewInput(name="ours", module="coverage", visibility="tenant"))
    with pytest.raises(NotFound):
        read_view(preferences, BOB, private.id)  # another user's private view is not revealed
    assert read_view(preferences, BOB, shared.body.id).etag == shared.etag == '"v1"'
    with pytest.raises(NotOwner):
        replace_view(
            preferences, BOB, shared.body.id, ViewInput(name="theirs", module="coverage"), if_match=None
        )
    renamed = replace_view(
        preferences,
        ADA,
        shared.body.id,
        ViewInput(name="ours, renamed", module="coverage", visibility="tenant"),
        if_match='"v1"',
    )
    assert (renamed.body.name, renamed.etag) == ("ours, renamed", '"v2"')
    with pytest.raises(NotOwner):
        delete_view(preferences, BOB, shared.body.id, if_match=None)
    delete_view(preferences, ADMIN, shared.body.id, if_match=None)
    with pytest.raises(NotFound):
        read_view(preferences, ADA, shared.body.id)
