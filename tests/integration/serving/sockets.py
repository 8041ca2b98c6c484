"""Which TCP ports a process and its descendants listen on, read from /proc (Linux)."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

from tests.processes import descendants


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:  # /proc/net/tcp stores each 32-bit word in host (little-endian) order
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = struct.unpack("<4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))


def listening_sockets() -> dict[str, tuple[str, int]]:
    """Socket inode → (address, port) of every listening TCP socket on the machine."""
    table = {}
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                address, port = fields[1].split(":")
                table[fields[9]] = (_address(address), int(port, 16))
    return table


def listeners(root: int) -> dict[int, tuple[str, list[tuple[str, int]]]]:
    """pid → (command line, listening addresses) for ``root`` and its descendants."""
    table, found = listening_sockets(), {}
    for pid in descendants(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:  # the process ended meanwhile
            continue
        inodes = {t[len("socket:[") : -1] for t in targets if t.startswith("socket:[")}
        found[pid] = (command.strip(), sorted(table[i] for i in inodes if i in table))
    return found


def is_loopback(address: str) -> bool:
    return address in ("::1", "::ffff:127.0.0.1") or address.startswith("127.")
