"""Process environment for fast CPU training.

glibc's default allocator returns large activation buffers to the OS every step, which
doubled CPU step times here (measured on the course machine). These settings must be in the
environment *before* the process starts; :func:`ensure_fast_allocator` re-executes the
current command with them when they are missing. No paper equation.
"""
from __future__ import annotations

import os
import sys

ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "1073741824",
}


def allocator_env_ok() -> bool:
    """True when the tuned glibc allocator settings are in this process's environment."""
    return all(os.environ.get(k) == v for k, v in ALLOCATOR_ENV.items())


def ensure_fast_allocator() -> None:
    """Re-exec this Python command with the allocator settings if they are missing
    (Linux/glibc only; set ``CODI_NO_REEXEC=1`` to disable)."""
    if allocator_env_ok() or os.environ.get("CODI_NO_REEXEC") or not sys.platform.startswith("linux"):
        return
    env = dict(os.environ, **ALLOCATOR_ENV)
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
