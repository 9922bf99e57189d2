"""The registered migrations against the manifest and the functions that run them."""

from __future__ import annotations

import pytest

from gui_core.migrations.model import ItemMigration, ObjectMigration, Status
from gui_migrate.migrations.m0001_inbox_audience_key import InboxAudienceKey, audience_key
from gui_migrate.registry import MIGRATIONS
from gui_migrate.settings import MigrateSettings
from gui_notifications import repository, use_cases
from local.memory_table import MemoryTable
from stacks.manifest import MANIFEST, Access

RUNNERS = ("gui_migrate", "gui_migrate_worker")


@pytest.mark.parametrize("function", RUNNERS)
def test_every_registered_migrations_target_is_granted_to_the_functions_that_run_it(function: str) -> None:
    fn = MANIFEST.function(function)
    settings_fields = {field.alias for field in MigrateSettings.model_fields.values()}
    for migration in MIGRATIONS:
        if isinstance(migration, ItemMigration):
            store = MANIFEST.store(migration.store)
            assert fn.stores.get(store.name) is Access.READ_WRITE, (migration.id, store.name)
            assert store.env_var in settings_fields, f"MigrateSettings needs {store.env_var}"
        elif isinstance(migration, ObjectMigration):
            assert fn.bucket_access is Access.READ_WRITE, migration.id
            assert migration.prefix in fn.bucket_prefixes, migration.id
    assert fn.stores["migrations"] is Access.READ_WRITE
    assert fn.stores["tenants"] is Access.READ_SCAN  # the tenants homed here, read with a Scan
    assert fn.sends_to == ("migration-work",)


def test_the_settings_name_a_table_for_every_store_a_migration_changes() -> None:
    stores = {m.store for m in MIGRATIONS if isinstance(m, ItemMigration)}
    settings = MigrateSettings.model_validate(
        {
            "POWERTOOLS_SERVICE_NAME": "gui_migrate",
            "GUI_REGION": "eu-west-1",
            "TENANTS_TABLE": "t",
            "MIGRATIONS_TABLE": "m",
            "INBOX_TABLE": "i",
            "JOBS_TABLE": "j",
            "PREFERENCES_TABLE": "p",
            "ARTIFACTS_TABLE": "a",
            "METRICS_TABLE": "x",
            "MIGRATION_WORK_QUEUE_URL": "https://q",
        }
    )
    assert stores <= set(settings.table_names())


def test_each_second_pass_repeats_its_first_and_the_inbox_gates_wait_for_theirs() -> None:
    """A second pass (`_again`) repeats and requires its first, over the same target; the inbox's readers
    wait for the second passes of the copies and the counters, not for their first passes."""
    by_id = {m.id: m for m in MIGRATIONS}
    again = [m for m in MIGRATIONS if m.id.endswith("_again")]
    assert "0006_inbox_assignee_copies_again" in by_id
    for second in again:
        assert second.repeats is not None, second.id
        assert second.repeats in second.requires, second.id
        assert second.target == by_id[second.repeats].target, second.id
    for gate in (use_cases.ASSIGNEE_MIGRATION, use_cases.COUNTERS_MIGRATION):
        assert by_id[gate].repeats is not None, gate


def test_the_inbox_migration_writes_the_key_the_repository_writes() -> None:
    for tenant, audience in (("acme", "*"), ("acme", "ada@acme"), ("a#b", "x")):
        assert audience_key(tenant, audience) == repository.audience_key(tenant, audience)
    assert InboxAudienceKey.sort_prefix == repository.PREFIX
    assert InboxAudienceKey.id == "0001_inbox_audience_key"


def test_the_inbox_migration_changes_only_items_without_the_key() -> None:
    migration = InboxAudienceKey()
    old = {"pk": "acme", "sk": "NOTE#n1", "audience": "ada@acme"}

    change = migration.upgrade(old)

    assert change is not None
    assert change.values == {"tenant_audience": "acme#ada@acme"}
    assert "attribute_not_exists" in change.condition.expression
    assert migration.upgrade({**old, "tenant_audience": "acme#ada@acme"}) is None


def test_statuses_are_the_ledgers_four() -> None:
    assert [s.value for s in Status] == ["pending", "running", "done", "failed"]


def test_a_command_on_an_item_read_before_the_migration_keeps_its_audience_key() -> None:
    """A command reads an item, the migration sets its key, the command writes the item whole: the
    write must not take the key away (the migration would count the item done, and the index would
    miss it)."""
    table = MemoryTable()
    inbox = repository.InboxRepository(table, retention_days=90)
    item = inbox.new_item(
        "acme", {"id": "n0123456789abcdef", "category": "job", "severity": "info", "title": "t"}
    )
    del item[repository.AUDIENCE_KEY]  # written before the migration
    table.put(item)
    read = inbox.get("acme", "n0123456789abcdef")
    assert read is not None
    change = InboxAudienceKey().upgrade(read)
    assert change is not None
    table.update({"pk": "acme", "sk": read["sk"]}, change.values, condition=change.condition)

    inbox.save({**read, "status": "read", "version": read["version"] + 1})

    saved = inbox.get("acme", "n0123456789abcdef")
    assert saved is not None
    assert saved["status"] == "read"
    assert saved[repository.AUDIENCE_KEY] == "acme#*"
