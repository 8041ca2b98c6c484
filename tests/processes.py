"""The process tree a test or benchmark started, read from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (Ray's GCS, raylet, workers, HAProxy)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found
