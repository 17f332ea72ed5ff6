"""Large blocks freed after a large temporary one go back to the system."""

from __future__ import annotations

import subprocess
import sys

# Run in a process of its own: glibc's thresholds are the process's, and move for good.
SCRIPT = """
import os, sys
from callrec.heap import return_large_blocks

if sys.argv[1] == "set":
    assert return_large_blocks()

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

scratch = bytearray(16 << 20)  # a scrypt check's block: it raises glibc's own threshold
del scratch
before = rss()
blocks = [bytearray(1 << 20) for _ in range(64)]  # arrays of recordings rendered together
del blocks[:-1]  # all but the last freed: the last holds the heap's top, if they are in it
print((rss() - before) >> 20)
"""


def _kept_mb(setting: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, setting], capture_output=True, text=True, check=True
    )
    return int(run.stdout)


def test_freed_large_blocks_leave_the_rss() -> None:
    assert _kept_mb("set") <= 4
    assert _kept_mb("glibc's own") >= 48  # what it was: the freed 63 MB kept in the heap
