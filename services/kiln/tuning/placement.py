"""Giving back the CPUs of trials the scheduler stopped.

When Tune stops a trial it kills the trial's actor, and with it the Ray Train controller the
trial started. The controller's placement group (the workers' CPUs) is not fate-shared with
the controller while the job lives: Ray Train V2 leaves its removal to a cleaner actor that
asks the State API whether the controller is alive, and that question fails where no
dashboard runs or several Ray instances share a machine, so the CPUs would stay reserved and
the next trial would wait forever. The search driver therefore removes the placement groups
of its own job whose creating actor is dead (never detached ones, never those a driver
created): such a group can serve nobody any more.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger(__name__)


def _actor_groups() -> list[Any]:
    """This job's live placement groups that an actor created (GCS records)."""
    import ray
    from ray._private.state import state
    from ray.core.generated import gcs_pb2

    accessor = state._connect_and_get_accessor()
    job = ray.get_runtime_context().get_job_id()
    groups = []
    for raw in accessor.get_placement_group_table():
        info = gcs_pb2.PlacementGroupTableData.FromString(raw)
        if info.state == gcs_pb2.PlacementGroupTableData.REMOVED or info.is_detached:
            continue
        if ray.ActorID(info.creator_actor_id).is_nil() or info.creator_job_id.hex() != job:
            continue
        groups.append(info)
    return groups


def free_orphaned_placement_groups() -> int:
    """Remove this job's placement groups whose creator actor is dead; return how many."""
    import ray
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    removed = 0
    for info in _actor_groups():
        if info.creator_actor_dead:
            group_id = ray.PlacementGroupID(info.placement_group_id)
            remove_placement_group(PlacementGroup(group_id))
            logger.info("removed placement group %s of a stopped trial", group_id.hex())
            removed += 1
    return removed


def release_all_trials(timeout_s: float = 30.0) -> None:
    """After the search: wait (bounded) until every trial's controller is gone, freeing the
    groups of those that were killed, so the CPUs are free for whatever runs next."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        free_orphaned_placement_groups()
        if not _actor_groups():
            return
        time.sleep(0.5)
