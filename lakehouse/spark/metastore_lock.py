"""One process at a time may open the embedded Derby metastore: say so plainly.

Derby itself fails a second JVM with `XSDB6` deep in a stack trace. Every command
of ours that starts Spark takes this lock first, so a second one stops at once with
a message that names the holder and what to do. The `cluster` target's metastore is
a shared database (lakehouse/engine/), and Databricks has its own: no lock there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

from filelock import Timeout

from lakehouse.paths import Lake
from lakehouse.profile import embedded_metastore
from lakehouse.storage.files import local_file_lock, lock_holder


class MetastoreBusy(RuntimeError):
    """Another process holds the lake's Derby metastore."""


@contextmanager
def metastore_lock(metastore_dir: Path) -> Iterator[None]:
    """One try (no waiting) at the lock file `<metastore>/lakehouse.lock`; `MetastoreBusy` names its holder."""
    lock_path = metastore_dir / "lakehouse.lock"
    lock = local_file_lock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise MetastoreBusy(
            f"The Derby metastore under {metastore_dir} is in use by process "
            f"{lock_holder(lock_path).removeprefix('pid ')}. "
            "The embedded metastore admits one process at a time: wait for that "
            "command to finish (or stop it), then run this one again. To work in "
            "parallel, give another lake with --lake, or use the cluster engine."
        ) from None
    try:
        yield
    finally:
        os.truncate(lock_path, 0)  # still held: nobody else writes it
        lock.release()


# A killed writer's lease expires within the seam's lease time (15 s); a new writer waits that long.
WRITER_LOCK_WAIT_S = 45.0


@contextmanager
def lake_lock(lake: Lake) -> Iterator[None]:
    """What a writer of the lake holds: the Derby lock where Python jobs use the embedded
    metastore (nothing where the metastore is shared: the cluster target, Databricks) and,
    for a lake on Azure storage, the lake's writer lease (`_state/writer.lock`): two machines
    with their own metastores never build one lake at once (Delta's log store on Blob storage
    keeps commits apart within one Spark driver only). Databricks jobs run one task at a time
    on the lake and take no lease."""
    with ExitStack() as held:
        held.enter_context(metastore_lock(lake.metastore) if embedded_metastore(lake.settings) else nullcontext())
        if not lake.is_local and not lake.settings.on_databricks:
            held.enter_context(
                lake.files.lock(
                    Lake.writer_lock_key, timeout=WRITER_LOCK_WAIT_S, what=f"the lake {lake.root}'s writer lease"
                )
            )
        yield
