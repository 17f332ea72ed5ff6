"""How the C heap gives memory back (glibc's malloc, the allocator of Python's larger blocks).

glibc maps a block of 128 KB or more on its own and unmaps it when it is freed, but the first
time such a block is freed it raises that threshold to the block's size, for good: after one
scrypt check (a 16 MB block, service/accounts.py) every block up to 16 MB comes from the heap,
and what is freed there is given back only from the heap's top. The arrays of recordings
rendered together (2,000 calls ending at once) then stayed in the RSS after they were freed:
248 to 318 MB once the calls had ended, where the live streams had needed 159; 160 to 167 with
the threshold set (docs/BENCHMARKS.md, "The C heap's large blocks given back"). Nothing on a
frame's path allocates a block that large.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MAPPED_FROM_BYTES = 128 * 1024  # glibc's own starting threshold


def return_large_blocks() -> bool:
    """Have blocks of MAPPED_FROM_BYTES or more always mapped on their own, so that freeing one
    gives its memory back. False where the C library is not glibc (nothing changed)."""
    # The process's own symbols, the C library's among them (ctypes.util.find_library would
    # run ldconfig in a subprocess to name it).
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        log.debug("no glibc mallopt here: the C heap keeps its own thresholds")
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MAPPED_FROM_BYTES))
