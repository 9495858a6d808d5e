"""What must stay locked for the latest snapshot to restore: asked of the gateway after a run.

Object Lock retention is set when an object is written; a pack written a year ago and still used
by today's snapshot would otherwise become deletable once its lock runs out. After each backup the
agent names every object the new snapshot needs — itself, the packs of its blobs, the index files,
the key slots and the configuration — and the gateway extends the lock of those whose end is near.
Extending only ever lengthens a retention, so a compromised agent gains nothing by abusing it.
"""

from __future__ import annotations

from .index import PREFIX as INDEX_PREFIX
from .keys import PREFIX as KEYS_PREFIX
from .pack import pack_name
from .repository import CONFIG, Repository
from .snapshot import PREFIX as SNAPSHOT_PREFIX
from .snapshot import Snapshot, read_tree


def referenced_objects(repo: Repository, snapshot: Snapshot) -> list[str]:
    """Storage names `snapshot` needs to be restored, sorted."""
    blob_ids = [bytes.fromhex(tree_id) for tree_id in snapshot.tree]
    for node in read_tree(repo, snapshot):
        blob_ids.extend(bytes.fromhex(chunk) for chunk in node.chunks)
    located = repo.index.locate_many(blob_ids)
    names = {pack_name(location.pack_id) for location in located.values()}
    names.add(SNAPSHOT_PREFIX + snapshot.snapshot_id)
    names.add(CONFIG)
    for prefix in (INDEX_PREFIX, KEYS_PREFIX):
        names.update(info.name for info in repo.storage.list(prefix))
    return sorted(names)
