"""The sync's helper processes (one landing process per marketplace, one dbt worker): how they
start and end, in one place.

A helper gets this process's environment with the project importable (settings, secrets
included, travel over its stdin, never in the environment), and is killed by the kernel when
the process that started it dies (`PR_SET_PDEATHSIG`): a killed sync must not leave a helper
writing into dlt's folders or building dbt models under the next sync.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from typing import Sequence

from pipelines.config import PROJECT_ROOT

PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the forked child: the pre-exec hook must do nothing but the call
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    _PRCTL.argtypes = (ctypes.c_int, ctypes.c_ulong)
    _PRCTL.restype = ctypes.c_int
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _PRCTL = None
_KILL = int(signal.SIGKILL)


def _die_with_parent() -> None:
    """Runs in the new process before exec."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, _KILL)


def environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def start(module: str, *args: str, pass_fds: Sequence[int] = ()) -> subprocess.Popen:
    """`python -m <module> <args>` with a pipe on its stdin."""
    return subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.PIPE, pass_fds=tuple(pass_fds),
                            env=environment(), cwd=str(PROJECT_ROOT), preexec_fn=_die_with_parent)


def finish(process: subprocess.Popen, timeout: float) -> None:
    """Close its stdin (a helper ends when it does) and wait; kill it after `timeout` seconds."""
    if process.stdin is not None and not process.stdin.closed:
        with contextlib.suppress(BrokenPipeError):  # it died with a job still unread
            process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
