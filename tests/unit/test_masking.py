"""License masks: restricted fields removed or masked, reported, and left alone for licensed callers."""

from __future__ import annotations

import copy

from gui_core.masking import MASK, LicensePolicy, apply_license

POLICY = LicensePolicy.from_record(
    {
        "license_tag": "DD-Commercial-2026",
        "restricted_fields": {
            "source_uri": "remove",
            "licensing.notes": "mask",
            "nodes.vendor_terms": "mask",
        },
    }
)
DOCUMENT = {
    "id": "a1",
    "source_uri": "s3://vendor/raw.csv",
    "licensing": {"notes": "Vendor terms apply", "tag": "DD"},
    "nodes": [{"id": "n1", "vendor_terms": "secret"}, {"id": "n2"}, {"id": "n3", "vendor_terms": 7}],
}


def test_restricted_fields_are_removed_or_masked_and_listed() -> None:
    masked = apply_license(DOCUMENT, POLICY, frozenset({"gui:artifacts"}))
    assert "source_uri" not in masked.document
    assert masked.document["licensing"] == {"notes": MASK, "tag": "DD"}
    assert masked.document["nodes"] == [
        {"id": "n1", "vendor_terms": MASK},
        {"id": "n2"},
        {"id": "n3", "vendor_terms": None},
    ]
    assert masked.license_block() == {
        "tag": "DD-Commercial-2026",
        "masked_fields": ["licensing.notes", "nodes.vendor_terms", "source_uri"],
    }


def test_the_original_document_is_not_changed() -> None:
    apply_license(DOCUMENT, POLICY, frozenset())
    assert DOCUMENT["source_uri"] == "s3://vendor/raw.csv"
    assert DOCUMENT["nodes"][0]["vendor_terms"] == "secret"


def test_callers_with_the_license_scope_see_everything_but_still_get_the_tag() -> None:
    masked = apply_license(DOCUMENT, POLICY, frozenset({"gui:license:restricted"}))
    assert masked.document == DOCUMENT
    assert masked.license_block() == {"tag": "DD-Commercial-2026", "masked_fields": []}


def test_fields_absent_from_the_document_are_not_reported() -> None:
    masked = apply_license({"id": "x"}, POLICY, frozenset())
    assert masked.masked_fields == ()


def test_no_policy_means_unrestricted() -> None:
    policy = LicensePolicy.from_record(None)
    masked = apply_license(DOCUMENT, policy, frozenset())
    assert masked.document == DOCUMENT
    assert masked.license_tag == "unrestricted"


def test_a_list_of_fields_means_remove() -> None:
    policy = LicensePolicy.from_record({"license_tag": "T", "restricted_fields": ["source_uri"]})
    assert "source_uri" not in apply_license(DOCUMENT, policy, frozenset()).document


def test_sharing_what_no_path_reaches_masks_alike_and_leaves_the_original_alone() -> None:
    policies = [
        POLICY,
        LicensePolicy.from_record({"license_tag": "T", "restricted_fields": ["source_uri", "nodes.id"]}),
        LicensePolicy.from_record(
            {"license_tag": "T", "restricted_fields": {"licensing": "mask", "licensing.tag": "remove"}}
        ),
    ]
    for policy in policies:
        original = copy.deepcopy(DOCUMENT)
        deep = apply_license(original, policy, frozenset())
        shared = apply_license(original, policy, frozenset(), share_untouched=True)
        assert shared.document == deep.document
        assert shared.masked_fields == deep.masked_fields
        assert original == DOCUMENT  # nothing changed in place, nested fields included
    # What no restricted path goes through is the original's own object, not a copy of it.
    masked = apply_license(DOCUMENT, POLICY, frozenset(), share_untouched=True).document
    assert masked["licensing"] is not DOCUMENT["licensing"]
    assert masked["nodes"][1] is DOCUMENT["nodes"][1]  # no `vendor_terms` in it
    search_hit = {"id": "a", "tags": ["x"], "source_text": "raw", "licensing_notes": "n"}
    policy = LicensePolicy.from_record(
        {"license_tag": "T", "restricted_fields": {"source_text": "remove", "licensing_notes": "mask"}}
    )
    masked = apply_license(search_hit, policy, frozenset(), share_untouched=True).document
    assert masked == {"id": "a", "tags": ["x"], "licensing_notes": MASK}
    assert masked["tags"] is search_hit["tags"]
    assert search_hit["source_text"] == "raw"
