"""Give a worker's freed memory back to the system after each task.

A worker that has stored a 4K sheet has decoded it (50-70 MB of pixels) and held the
provider's answer as bytes and base64 text. Python frees all of it when the task ends, but
glibc keeps the freed pages in the process's heap for the next allocation, so each worker stays
at the high-water mark of the largest task it ever ran: measured with 4 image workers after
three rounds of 4K sheets, 99 MB each at rest against 12 MB for a worker that only cast.
`malloc_trim(0)` hands the free pages back (a few milliseconds); it is called after every task
by the worker command (django-q2's `post_execute_in_worker` signal).

Elsewhere than glibc (macOS, musl) there is no malloc_trim, and release() does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)


def _malloc_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release() -> bool:
    """Return the heap's free pages to the system; True when some were given back."""
    if _TRIM is None:
        return False
    return bool(_TRIM(0))


def release_after_task(sender: object = None, **kwargs: object) -> None:
    """django-q2 `post_execute_in_worker` receiver."""
    release()
