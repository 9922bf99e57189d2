"""The search group's ports built from settings: one way for every door (the REST app, the GraphQL
API). A container keeps the tenants' indexes it opened (`LocalIndexes`): in place on the region's
shared file system when it mounts one (`SEARCH_SHARED_DIR`, gui_search.shared), else copies in its
/tmp fetched from S3 by version."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from gui_core.objects import ObjectStore, s3_client
from gui_search.shared import shared_versions
from gui_search.store import IndexStore, LocalIndexes, remove_stale_roots
from gui_search.use_cases import SearchPorts

if TYPE_CHECKING:
    from gui_search.settings import SearchSettings

# Open indexes a container keeps on the shared file system unless SEARCH_MAX_TENANTS says otherwise:
# each holds its maps and a reader's heap, in a function of 1 GB, and a tenant let go costs only a
# reopen in place, no download.
SHARED_MAX_OPEN = 64


def build_ports(
    settings: SearchSettings, *, indexes: LocalIndexes | None = None, objects: ObjectStore | None = None
) -> SearchPorts:
    """`objects`: the bucket's client made already (at the cold start, where the function's
    credentials are resolved)."""
    if indexes is None:
        bucket = objects or ObjectStore(settings.data_bucket, s3_client(settings.region))
        store = IndexStore(bucket, prefix=settings.search_prefix)
        # A folder of this container's own: containers of the local runtime share one /tmp.
        root = settings.cache_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        shared = shared_versions(store, settings.shared_dir)
        indexes = LocalIndexes(
            store,
            root,
            check_s=settings.manifest_check_s,
            max_bytes=settings.cache_mb << 20 if shared is None else None,
            max_tenants=settings.max_tenants or (SHARED_MAX_OPEN if shared is not None else None),
            shared=shared,
        )
        # What a process before this one in the same /tmp left (Lambda restarts a runtime that
        # crashed in the same execution environment): it would not count against this budget.
        remove_stale_roots(settings.cache_dir)
    return SearchPorts(indexes)
