"""docs/gui/backend_support_api.md: its generated sections are what `local.api_doc` makes now from
the OpenAPI and AsyncAPI documents, the manifest and the code (regenerated in memory and compared),
and they cover every route, every problem code and every live message."""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

import pytest

from gui_core.errors import ProblemError
from gui_jobs.models import PARAMETER_MODELS
from local import api_doc
from stacks.manifest import MANIFEST


@pytest.fixture(scope="module")
def sources() -> api_doc.Sources:
    return api_doc.load_sources()


def test_the_document_is_current(sources: api_doc.Sources) -> None:
    current = api_doc.DOC.read_text(encoding="utf-8")
    fresh = api_doc.render(current, sources)
    diff = "\n".join(
        list(
            difflib.unified_diff(
                current.splitlines(), fresh.splitlines(), "committed", "generated", lineterm=""
            )
        )[:60]
    )
    assert fresh == current, f"{api_doc.DOC.name} is stale: run {api_doc.REGENERATE}\n{diff}"


def test_every_manifest_route_is_in_the_catalog_with_its_scope_and_policy(sources: api_doc.Sources) -> None:
    endpoints = api_doc.endpoints(sources)
    # One operation per route, but POST /jobs/{id}: one per verb (gui_jobs.routes.document_per_verb).
    assert len(endpoints) == len(MANIFEST.routes()) - 1 + len(PARAMETER_MODELS)
    assert {(e.method, e.route.full_path) for e in endpoints} == {
        (route.method, route.full_path) for route, _ in MANIFEST.routes()
    }
    without_policy = [f"{e.method} {e.path}" for e in endpoints if e.policy is None]
    assert not without_policy, f"routes whose router policy was not found: {without_policy}"
    text = "\n".join(api_doc.render_endpoints(sources))
    for endpoint in endpoints:
        row = next(line for line in text.splitlines() if f"| `{endpoint.operation['operationId']}` |" in line)
        if endpoint.route.field_scopes:  # GraphQL: each field demands its own
            assert "| each field's |" in row, row
            continue
        assert endpoint.route.scope is not None
        assert f"`{endpoint.route.scope}`" in row, row


def _subclasses(cls: type[ProblemError]) -> set[type[ProblemError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_problem_code_of_the_code_is_listed_with_its_status(sources: api_doc.Sources) -> None:
    """The table reads the error classes from the source; the imported classes must agree with it."""
    api_doc.route_policies(MANIFEST)  # imports every routed function's routes (and what they import)
    for fn in MANIFEST.all_functions():
        for module in ("logic", "repository", "engine", "routes"):
            if (api_doc.FUNCTIONS_DIR / fn.package / f"{module}.py").exists():
                importlib.import_module(f"{fn.package}.{module}")
    listed = {(e.status, e.code) for e in api_doc.error_codes(sources.manifest)}
    # The backend's own classes (a test may define more for its own purposes).
    classes = {c for c in _subclasses(ProblemError) if "code" in vars(c) and c.__module__.startswith("gui_")}
    assert classes
    for cls in classes:
        assert (str(cls.status), cls.code) in listed, f"{cls.__module__}.{cls.__qualname__}"
    for response in MANIFEST.gateway_responses:
        assert any(code == response.code for _, code in listed), response


def test_every_live_message_and_channel_is_listed(sources: api_doc.Sources) -> None:
    channels = "\n".join(api_doc.render_channels(sources))
    messages = "\n".join(api_doc.render_messages(sources))
    for name in sources.asyncapi["channels"]:
        assert f"| `{name}` |" in channels
    for name in sources.asyncapi["operations"]:
        assert f"| `{name}` |" in channels
    for name in sources.asyncapi["components"]["messages"]:
        assert f"| `{name}` |" in messages


def test_check_reports_a_stale_copy_and_a_rewrite_fixes_it(tmp_path: Path) -> None:
    current = api_doc.DOC.read_text(encoding="utf-8")
    stale = current.replace("| `get_tenant` |", "| `get_tenant_old` |", 1)
    assert stale != current
    copy = tmp_path / "api.md"
    copy.write_text(stale, encoding="utf-8")
    assert api_doc.main(["--check", "--doc", str(copy)]) == 1
    assert copy.read_text(encoding="utf-8") == stale, "--check writes nothing"
    assert api_doc.main(["--doc", str(copy)]) == 0
    assert copy.read_text(encoding="utf-8") == current
    assert api_doc.main(["--check", "--doc", str(copy)]) == 0


def test_a_document_without_its_markers_is_refused(sources: api_doc.Sources) -> None:
    current = api_doc.DOC.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="each generated section once"):
        api_doc.render(current.replace("<!-- generated:errors:end -->", ""), sources)
    with pytest.raises(ValueError, match="each generated section once"):
        api_doc.render(
            current + "\n<!-- generated:errors:start -->\n<!-- generated:errors:end -->\n", sources
        )


def test_the_output_is_deterministic(sources: api_doc.Sources) -> None:
    current = api_doc.DOC.read_text(encoding="utf-8")
    assert api_doc.render(current, sources) == api_doc.render(current, api_doc.load_sources())
