"""The process's C allocator (glibc only): its settings (``tune``) and the memory handed back after loading
(``release``).

Why ``tune``: glibc's malloc hands blocks of more than 128 KB (a threshold it raises to the largest block
freed, up to 32 MB) to the kernel as fresh pages, and gives freed memory at the top of its heap back once more
than twice that threshold is free. The unstructured MMRM makes a few arrays of 1–3 MB per Newton step, 7–9
steps per fit: each came back as new pages, zeroed by the kernel and faulted in one by one. With blocks under
32 MB kept in the heap and up to 64 MB of freed memory kept for reuse, an LSO-088 fit (unstructured,
Kenward–Roger) went from 61–70 to 47–58 ms in ``bench.mmrm``; cached and plain pandas callbacks did not change.

The price is up to 64 MB of freed memory that a worker keeps per malloc arena instead of returning it;
gunicorn recycles workers (``max_requests``) in any case. Values set by the operator in the environment
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``) are left as they are.
"""

from __future__ import annotations

import ctypes
import gc
import os

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's own upper bound for its moving threshold
TRIM_THRESHOLD = 64 << 20
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def _glibc(function: str):
    """The C library's ``function``, or None where the C library is not glibc (macOS, musl)."""
    try:
        return getattr(ctypes.CDLL("libc.so.6"), function)
    except (OSError, AttributeError):
        return None


def tune() -> bool:
    """Apply the settings above to this process (and to the workers it forks). True when applied: False on a
    C library without ``mallopt`` (macOS, musl) or when the operator has set the allocator in the environment."""
    if any(k in os.environ for k in OPERATOR_SETTINGS):
        return False
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; both or neither (one alone is slower than the defaults: it stops glibc
    # from moving the other)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1


def release() -> None:
    """Hand the memory freed while loading back to the system (pyarrow's pool, then the C heap).

    Reading and validating leave freed buffers that the allocators keep: on a 4.6-million-row
    study the process held 2.4 GB for 0.5 GB of frames; after this, 0.7 GB. It matters twice
    with ``gunicorn --preload``: every worker starts from the loader's footprint.
    """
    gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # an older pyarrow without release_unused: nothing to do
        pass
    trim = _glibc("malloc_trim")
    if trim is not None:  # elsewhere the allocator keeps its own policy
        trim(0)
