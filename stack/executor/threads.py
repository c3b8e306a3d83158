"""Worker thread set-up: CPU affinity, SCHED_FIFO and nice where permitted; said once if not."""

from __future__ import annotations

import ctypes
import logging
import os
import threading

log = logging.getLogger(__name__)
_warned: set[str] = set()
_warn_lock = threading.Lock()

try:
    # PyDLL keeps the GIL across the call. A CDLL call would release and retake it after every
    # callback, which restarts other threads' switch-interval wait: a worker running callbacks
    # shorter than the interval back to back would then starve the timer thread indefinitely.
    _sched_getcpu = ctypes.PyDLL(None, use_errno=True).sched_getcpu
    _sched_getcpu.restype = ctypes.c_int
except (OSError, AttributeError):  # not glibc / not Linux
    _sched_getcpu = None


def current_cpu() -> int:
    """The CPU core the calling thread runs on, -1 where unknown."""
    return _sched_getcpu() if _sched_getcpu is not None else -1


def _warn_once(key: str, message: str) -> None:
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message)


def configure_worker_thread(
    executor: str, cores: tuple[int, ...], priority: int, nice: int = 0
) -> None:
    """Pin the calling thread to ``cores``; give it SCHED_FIFO ``priority`` and ``nice``
    (0 leaves either as it is).

    Linux keeps a nice value per thread, so ``nice`` weights only this worker within the process.
    """
    if cores and hasattr(os, "sched_setaffinity"):
        available = os.sched_getaffinity(0)
        usable = set(cores) & available
        if not usable:
            _warn_once(
                f"cores:{executor}",
                f"executor {executor}: cores {list(cores)} not available here "
                f"(have {sorted(available)}); not pinning",
            )
        else:
            if usable != set(cores):
                _warn_once(
                    f"somecores:{executor}",
                    f"executor {executor}: cores {sorted(set(cores) - usable)} not available; "
                    f"pinning to {sorted(usable)}",
                )
            os.sched_setaffinity(0, usable)
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (PermissionError, OSError, AttributeError) as exc:
            _warn_once(
                "fifo",
                f"SCHED_FIFO priority {priority} not permitted ({exc}); worker threads run under "
                "the normal scheduler (grant CAP_SYS_NICE or an rtprio limit to enable it)",
            )
    if nice and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as exc:  # PermissionError: a negative value without CAP_SYS_NICE
            _warn_once(
                f"nice:{executor}",
                f"executor {executor}: nice {nice} not permitted ({exc}); its threads keep the "
                "process's nice value (a negative value needs CAP_SYS_NICE or a nice limit)",
            )
