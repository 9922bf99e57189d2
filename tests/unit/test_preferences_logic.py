"""Merging tenant defaults with user overrides, policy locks and entity tags."""

from __future__ import annotations

import pytest

from gui_core.errors import PreconditionFailed, PreconditionRequired
from gui_preferences.logic import (
    SYSTEM_DEFAULTS,
    changed_locked_keys,
    effective_preferences,
    preferences_etag,
    require_match,
)


def test_no_defaults_no_overrides_gives_system_defaults() -> None:
    assert effective_preferences({}, {}, []) == SYSTEM_DEFAULTS


def test_user_override_beats_tenant_default_beats_system_default() -> None:
    defaults = {"theme": "light", "locale": "de-DE"}
    overrides = {"theme": "dark"}
    effective = effective_preferences(defaults, overrides, [])
    assert effective["theme"] == "dark"
    assert effective["locale"] == "de-DE"
    assert effective["density"] == SYSTEM_DEFAULTS["density"]


def test_locked_key_takes_the_tenant_value_even_with_an_old_override() -> None:
    effective = effective_preferences({"density": "compact"}, {"density": "comfortable"}, ["density"])
    assert effective["density"] == "compact"


def test_locked_key_without_tenant_value_takes_the_system_default() -> None:
    assert effective_preferences({}, {"theme": "dark"}, ["theme"])["theme"] == "system"


def test_default_filters_merge_per_module_and_per_filter() -> None:
    defaults = {
        "default_filters": {"coverage": {"status": ["active"], "owner": "team-a"}, "mapping": {"x": 1}}
    }
    overrides = {"default_filters": {"coverage": {"owner": "me"}, "jobs": {"state": "failed"}}}
    effective = effective_preferences(defaults, overrides, [])
    assert effective["default_filters"] == {
        "coverage": {"status": ["active"], "owner": "me"},
        "mapping": {"x": 1},
        "jobs": {"state": "failed"},
    }


def test_a_locked_module_filter_ignores_the_user_but_others_merge() -> None:
    defaults = {"default_filters": {"governance": {"severity": "high"}}}
    overrides = {"default_filters": {"governance": {"severity": "low"}, "cost": {"period": "30d"}}}
    effective = effective_preferences(defaults, overrides, ["default_filters.governance"])
    assert effective["default_filters"] == {"governance": {"severity": "high"}, "cost": {"period": "30d"}}


def test_locking_all_default_filters_ignores_every_user_filter() -> None:
    effective = effective_preferences(
        {}, {"default_filters": {"cost": {"period": "30d"}}}, ["default_filters"]
    )
    assert effective["default_filters"] == {}


def test_merging_does_not_mutate_its_inputs() -> None:
    defaults = {"default_filters": {"coverage": {"a": 1}}}
    effective_preferences(defaults, {"default_filters": {"coverage": {"b": 2}}}, [])
    assert defaults == {"default_filters": {"coverage": {"a": 1}}}


@pytest.mark.parametrize(
    ("current", "proposed", "locked", "changed"),
    [
        ({}, {"theme": "dark"}, ["theme"], ["theme"]),  # setting a locked key
        ({"theme": "dark"}, {"theme": "dark"}, ["theme"], []),  # unchanged: allowed
        ({"theme": "dark"}, {}, ["theme"], ["theme"]),  # removing it is a change too
        ({}, {"theme": "dark"}, ["density"], []),
        ({}, {"default_filters": {"cost": {"p": 1}}}, ["default_filters.cost"], ["default_filters.cost"]),
        ({}, {"default_filters": {"jobs": {"p": 1}}}, ["default_filters.cost"], []),
        ({}, {"default_filters": {"jobs": {"p": 1}}}, ["default_filters"], ["default_filters"]),
        ({}, {"locale": "fr-FR", "theme": "dark"}, ["theme", "locale"], ["locale", "theme"]),
    ],
)
def test_changed_locked_keys(current: dict, proposed: dict, locked: list[str], changed: list[str]) -> None:
    assert changed_locked_keys(current, proposed, locked) == changed


def test_etag_changes_with_either_version() -> None:
    tags = {preferences_etag(u, t) for u in (0, 1) for t in (0, 1)}
    assert len(tags) == 4
    assert all(tag.startswith('"') and tag.endswith('"') for tag in tags)


def test_if_match_rules() -> None:
    require_match('"p1.t0"', '"p1.t0"')
    require_match('"x", "p1.t0"', '"p1.t0"')
    require_match("*", '"p1.t0"')
    require_match(None, '"p1.t0"', required=False)
    with pytest.raises(PreconditionRequired):
        require_match(None, '"p1.t0"')
    with pytest.raises(PreconditionRequired):
        require_match("  ", '"p1.t0"')
    with pytest.raises(PreconditionFailed):
        require_match('"p0.t0"', '"p1.t0"')
    with pytest.raises(PreconditionFailed):
        require_match('W/"p1.t0"', '"p1.t0"')  # weak tags never match If-Match
