from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gui_core.dynamo import Condition, Delete, Put
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

# The layout of the jobs' list keys as gui_jobs.repository writes it (a unit test keeps them equal).
KEYED = "keyed_status"
FILTERS: dict[str, tuple[str, ...]] = {
    "v": ("verb",),
    "s": ("status",),
    "a": ("requested_by",),
    "vs": ("verb", "status"),
    "va": ("verb", "requested_by"),
    "sa": ("status", "requested_by"),
    "vsa": ("verb", "status", "requested_by"),
}
STATUS_FILTERS = tuple(name for name, fields in FILTERS.items() if "status" in fields)


def key_item(tenant: str, name: str, job: Mapping[str, Any], status: str) -> dict[str, Any]:
    """One key item of a job, as `gui_jobs.repository.filter_items` writes it."""
    values = tuple(str(status if f == "status" else job[f]) for f in FILTERS[name])
    prefix = f"JF#{name}#" + "".join(f"{quote(v, safe='')}#" for v in values)
    return {
        "pk": tenant,
        "sk": prefix + quote(str(job["id"]), safe=""),
        "kind": "job_key",
        "job_id": job["id"],
    }


class JobsFilterKeys(ItemMigration):
    """Expand step of the jobs list's filters (issue 14): every job gets its key items, one per filter
    (verb, status, actor and their combinations), and `keyed_status`, the status they were written
    for. The writers of this release write them with each job; this writes them for the jobs stored
    before, each job with its key items in one transaction, only while the job still has the status
    and the key items it was read with. A job whose status moved since its key items were written
    (by a release that did not know them) has those moved. Run again, it is the second pass: it finds
    only jobs a release before this one wrote meanwhile."""

    id = "0010_jobs_filter_keys"
    description = (
        "Jobs get their list keys (JF#<filter>#<values>#<job id>, one per filter) and keyed_status, "
        "so GET /jobs serves its filters from keys."
    )
    phase = Phase.EXPAND
    store = "jobs"
    sort_prefix = "JOB#"  # gui_jobs.repository.JOB_PREFIX

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        status = str(item["status"])
        keyed = item.get(KEYED)
        if keyed == status:
            return None
        tenant = str(item["pk"])
        names = {"#s": "status", "#k": KEYED}
        if keyed is None:
            writes: tuple[Put | Delete, ...] = tuple(
                Put(key_item(tenant, name, item, status)) for name in FILTERS
            )
            condition = Condition("#s = :s AND attribute_not_exists(#k)", names=names, values={":s": status})
        else:
            stale = (key_item(tenant, name, item, str(keyed)) for name in STATUS_FILTERS)
            writes = (
                *(Delete({"pk": k["pk"], "sk": k["sk"]}) for k in stale),
                *(Put(key_item(tenant, name, item, status)) for name in STATUS_FILTERS),
            )
            condition = Condition("#s = :s AND #k = :k", names=names, values={":s": status, ":k": str(keyed)})
        return ItemChange(values={KEYED: status}, condition=condition, also=writes)
