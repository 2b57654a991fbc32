"""The sync's helper processes (one landing process per marketplace, one dbt worker): how they
start, talk, wait between syncs and end, in one place.

A helper gets this process's environment with the project importable (settings, secrets
included, travel over its stdin, never in the environment), and is killed by the kernel when
the process that started it dies (`PR_SET_PDEATHSIG`): a killed sync must not leave a helper
writing into dlt's folders or building dbt models under the next sync.

A helper serves jobs one at a time (`Helper.ask` here, `serve` in the helper): each job a
pickle on its stdin, each answer a pickle on a pipe of its own, so whatever a library prints
cannot corrupt the hand-over. With INVSYNC_KEEP_HELPERS=1, between syncs a helper waits in
this process's pool (`lease`): a process that syncs more than once (an agency's script, the
test suite) pays the helpers' imports (dbt ~2-3 s, dlt and the sources ~1 s of CPU each) once.
Off by default: a kept helper holds its memory while the rest of the sync runs.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import os
import pickle
import signal
import struct
import subprocess
import sys
import queue
import threading
from typing import Any, BinaryIO, Callable, Iterator, Sequence

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


# How a helper allocates, unless the environment says otherwise. A landing process parses
# hundreds of megabytes of answers in short-lived pieces, from several threads (dlt's pool):
# glibc's per-thread arenas and pyarrow's mimalloc pool kept what was freed, so a 100,000-product
# Ozon landing held ~470 MB at its end for ~20 MB of live Python objects and Arrow buffers. One
# arena and Arrow on the system allocator: ~320 MB, the same CPU (benchmarks/results.md).
HELPER_ALLOCATION = {"MALLOC_ARENA_MAX": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}


def environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**HELPER_ALLOCATION, **os.environ, "PYTHONPATH": path}


class _Spawner:
    """Starts helpers from one long-lived daemon thread of this process.

    The kernel sends the death signal when the *thread* that started a helper ends, not only
    its process: started from this thread, a helper started for a landing thread of a sync
    outlives that thread and can serve the process's next sync, and it still dies with the
    process. A forked child of this process gets a spawner (and a pool) of its own.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="invsync-helper-spawner", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            call, done = self._jobs.get()
            try:
                done["result"] = call()
            except BaseException as exc:  # noqa: BLE001 - raised again in the asking thread
                done["error"] = exc
            done["event"].set()

    def run(self, call: Callable[[], Any], timeout: float = 60) -> Any:
        done: dict[str, Any] = {"event": threading.Event()}
        self._jobs.put((call, done))
        if not done["event"].wait(timeout):
            raise RuntimeError(f"could not start a helper process within {timeout:g} s")
        if "error" in done:
            raise done["error"]
        return done["result"]


_SPAWNER: _Spawner | None = None  # started on first use (and anew in a forked child)
_SPAWNER_LOCK = threading.Lock()


def _spawner() -> _Spawner:
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = _Spawner()
        return _SPAWNER


def start(module: str, *args: str, pass_fds: Sequence[int] = ()) -> subprocess.Popen:
    """`python -m <module> <args>` with a pipe on its stdin."""
    return _spawner().run(lambda: subprocess.Popen(
        [sys.executable, "-m", module, *args], stdin=subprocess.PIPE, pass_fds=tuple(pass_fds),
        env=environment(), cwd=str(PROJECT_ROOT), preexec_fn=_die_with_parent))


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


HEADER = struct.Struct("!I")


def send(stream: BinaryIO, payload: Any) -> None:
    data = pickle.dumps(payload)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next message, or None when the other side closed the pipe."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    size = HEADER.unpack(header)[0]
    return pickle.loads(stream.read(size))


# The cyclic garbage collector's thresholds in a helper (CPython's defaults: 700, 10, 10). A
# helper allocates millions of short-lived containers (parsed API answers, dbt's nodes), and
# with the defaults a collection runs every 700 of them and rescans the survivors: a quarter
# of a landing process's CPU (a 100,000-product Ozon landing: 13.6 -> 10.4 s). Reference
# counting still frees everything acyclic at once; only cycles wait longer to be collected.
HELPER_GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """After the helper's imports: their objects leave the collector's scans for good
    (`gc.freeze`), and collections run far less often (`HELPER_GC_THRESHOLDS`)."""
    gc.freeze()
    gc.set_threshold(*HELPER_GC_THRESHOLDS)


def serve(handle: Callable[[Any], Any], result_fd: int) -> int:
    """The helper's side: answer each job until the parent closes stdin."""
    tune_gc()
    with os.fdopen(result_fd, "wb") as results:
        while (job := receive(sys.stdin.buffer)) is not None:
            send(results, handle(job))
    return 0


class Helper:
    """A helper process: `python -m <module> <result fd>` (its main calls `serve`)."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.busy = False  # a job sent and its answer not read yet: never to be reused then
        read_end, write_end = os.pipe()
        try:
            self.process = start(module, str(write_end), pass_fds=(write_end,))
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._results = os.fdopen(read_end, "rb")

    def ask(self, job: Any) -> Any:
        """Send a job and wait for its answer; None if the helper ended without one."""
        self.busy = True
        try:
            assert self.process.stdin is not None
            send(self.process.stdin, job)
            answer = receive(self._results)
        except (BrokenPipeError, OSError):
            return None
        if answer is not None:
            self.busy = False
        return answer

    def exit_code(self, timeout: float = 5) -> int | None:
        """The helper's exit code once it ended (None if it is still running after `timeout`)."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float = 60) -> None:
        finish(self.process, timeout)
        self._results.close()


_IDLE: dict[str, list[Helper]] = {}
_IDLE_LOCK = threading.Lock()
# A helper that grew beyond this after a large account's sync is ended, not kept: an idle
# process holding its peak memory would cost more than its imports save (~1-3 s of CPU).
KEEP_BELOW_MB = 400


def resident_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux /proc); 0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def keepable(helper: Helper, keep: bool) -> bool:
    """Whether a helper may wait for the next sync: keeping is on (INVSYNC_KEEP_HELPERS), and it
    is alive, not mid-job and not grown large."""
    return keep and helper.alive and not helper.busy and resident_mb(helper.process.pid) < KEEP_BELOW_MB


@contextlib.contextmanager
def lease(module: str, keep: bool) -> Iterator[Helper]:
    """A helper of `module` for one sync's use: an idle one of this process, else a new one.

    Concurrent syncs get different helpers. With `keep` (Settings.keep_helpers), after a clean
    use the helper waits for the next sync; otherwise, or after an error (it may be mid-job, or
    its state unknown), it is closed.
    """
    with _IDLE_LOCK:
        idle = _IDLE.get(module, [])
        helper = idle.pop() if idle else None
    if helper is not None and not helper.alive:
        helper.close(timeout=5)  # died while idle: reap it, free its pipes
        helper = None
    helper = helper or Helper(module)
    try:
        yield helper
    except BaseException:
        helper.close(timeout=30)
        raise
    if not keepable(helper, keep):
        helper.close(timeout=30)
        return
    with _IDLE_LOCK:
        _IDLE.setdefault(module, []).append(helper)


def _forget_after_fork() -> None:
    """In a forked child: the parent's helpers and spawner thread are the parent's (no thread
    is started here: this also runs between fork and exec of a `preexec_fn` subprocess)."""
    global _SPAWNER, _SPAWNER_LOCK, _IDLE_LOCK
    _IDLE.clear()
    _IDLE_LOCK, _SPAWNER_LOCK = threading.Lock(), threading.Lock()
    _SPAWNER = None


os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def close_idle() -> None:
    """End the helpers waiting in the pool (at exit; they would die with this process anyway)."""
    with _IDLE_LOCK:
        idle = [h for helpers in _IDLE.values() for h in helpers]
        _IDLE.clear()
    for helper in idle:
        helper.close(timeout=30)
