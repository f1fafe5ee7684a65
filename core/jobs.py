"""Background jobs: heavy work in a bounded pool of worker processes, records that outlive the page.

A job is one call `func(*args, progress=..., **kwargs)` run in its own worker process, forked from
a fork server that imported the job modules once (core/job_preload.py; the app has threads, so
never fork the app itself; a fresh interpreter per job cost 5-10 s of imports). A scheduler thread in the app process
starts queued jobs when a slot is free: at most `workers` run at once (`MW_WORKERS`, default the
cores this process may use) and at most `per_user` per owner (`MW_JOBS_PER_USER`), so one person
cannot take every worker. Each job limits its own native threads (OpenMP/BLAS through the
environment and threadpoolctl; DuckDB through `duckdb_connect()`, which every worker that opens
DuckDB uses) to `threads_per_job()` so running jobs never ask for more threads than there are cores.

Records are small JSON files `<folder>/<id>.json` (written atomically: temp file + os.replace),
so any session, or another process, reads the current state from disk. The worker reports progress
through a pipe that the scheduler drains into the record; the scheduler is the only writer of a
running job's record. The result (whatever `func` returns) is pickled by the worker into the job's
own folder `<folder>/<id>/result.joblib`; cancelling a job terminates its process within a few
seconds and removes that folder, so nothing half-written is left. A new JobRunner on the same
folder (a server restart) marks queued and running jobs of a dead runner as interrupted, never done.

Workers never open the workspace database: pass them the data (a DataFrame is pickled through the
process pipe, a large file goes as `inputs`, linked into the job's folder) and let the app process
record the result in the workspace when it picks it up (core.data.load_job: a load's rows as Parquet).

    runner = JobRunner(ws.folder / "jobs")
    job_id = runner.submit("train", train_job, df, settings, owner="maria", table="customers")
    runner.get(job_id).progress, runner.get(job_id).step, runner.get(job_id).place
    runner.cancel(job_id); runner.wait(job_id, timeout=60); runner.result(job_id)
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import importlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from core import config
from core.errors import DataError

_LOG = logging.getLogger(__name__)

Progress = Callable[[float, str], None]  # progress(share 0..1, step name), as a job function receives it
State = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled", "interrupted"})
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
RESULT_FILE = "result.joblib"
PAYLOAD_FILE = ".input.pickle"  # the job's arguments, read (and removed) by the worker
JOB_DIR_ENV = "MW_JOB_DIR"
JOB_THREADS_ENV = "MW_JOB_THREADS"  # inside a worker: the native threads this job may use
_KILL_AFTER_S = 2.0  # after SIGTERM, SIGKILL a worker that is still alive
_LIVE_RUNNERS: set[str] = set()  # tokens of the runners alive in this process


# ------------------------------------------------------------------ thread limits
def workers() -> int:
    """Worker processes that may run at once (MW_WORKERS; default: the cores this process may use)."""
    return config.job_workers()


def threads_per_job(n_workers: int | None = None) -> int:
    """Native threads one job may use: max(1, cores // workers), so running jobs never exceed the cores."""
    return max(1, config.usable_cores() // max(1, n_workers or workers()))


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Limit OpenMP/BLAS threads to `n` inside the block (environment variables and threadpoolctl).

    The environment variables also reach libraries loaded later (a BLAS imported inside the block);
    threadpoolctl caps the thread pools of libraries already loaded. Both are restored afterwards.
    """
    n = max(1, int(n))
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    for name in THREAD_ENV:
        os.environ[name] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=n):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def job_threads() -> int:
    """The threads heavy native code may use here: the job's own limit inside a worker, else threads_per_job()."""
    value = os.environ.get(JOB_THREADS_ENV, "")
    return max(1, int(value)) if value.isdigit() else threads_per_job()


def duckdb_connect(database: str = ":memory:", *, threads: int | None = None,
                   config: dict[str, Any] | None = None) -> Any:
    """A DuckDB connection whose `threads` setting is the job's limit (job_threads(), or `threads`).

    DuckDB starts one thread per core by default and ignores OMP_NUM_THREADS, so a worker that
    opens DuckDB must go through here (or pass `threads` itself); `config` adds other settings
    (set at connect: a connection may lock its configuration afterwards). Extension auto-install
    and auto-load are off unless `config` turns them on.
    """
    import duckdb

    settings: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    settings.update(config or {})
    settings["threads"] = max(1, int(threads or job_threads()))
    return duckdb.connect(database, config=settings)


# ------------------------------------------------------------------ records
@dataclasses.dataclass
class Job:
    """One job's record as stored in `<folder>/<id>.json`.

    `progress` is a fraction (0..1) with `step` naming the current step; times are UNIX seconds;
    `error` is a message for people (no traceback); `result` names the result file inside the job
    folder once done; `picked_up` says the app has taken the result up (see `pick_up`); `place` (1 = next) is filled in for queued jobs when the record is read.
    """

    id: str
    owner: str
    kind: str
    table: str | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    state: State = "queued"
    progress: float = 0.0
    step: str = "Waiting for a free worker"
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    result: str | None = None
    pid: int | None = None
    runner: dict[str, Any] = dataclasses.field(default_factory=dict)
    picked_up: bool = False
    place: int | None = None

    @property
    def finished(self) -> bool:
        """Whether the job is over (done, failed, cancelled or interrupted)."""
        return self.state in FINISHED

    @property
    def seconds(self) -> float | None:
        """Seconds the job has run so far (or ran), None before it started."""
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    def to_json(self) -> str:
        """The record as JSON (without the computed `place`)."""
        data = dataclasses.asdict(self)
        data.pop("place", None)
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> Job:
        """A record read back from JSON; unknown keys are ignored."""
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_script_main() -> Iterator[None]:
    """While a worker is spawned: no __main__ module for it to run again.

    "spawn" makes the child import the parent's __main__ first. In the app that is Streamlit's
    stand-in for the last script run (app.py): each worker would run the app's script before its
    job (seconds of imports; with login on it stops at the sign-in check and the worker dies).
    A module without a file or spec tells multiprocessing to leave __main__ alone. Restored after,
    unless a script run has installed its own meanwhile.
    """
    import sys
    import types

    with _MAIN_LOCK:
        saved = sys.modules.get("__main__")
        if saved is None or (getattr(saved, "__spec__", None) is None and not getattr(saved, "__file__", None)):
            yield
            return
        stand_in = types.ModuleType("__main__")
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            if sys.modules.get("__main__") is stand_in:
                sys.modules["__main__"] = saved


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _proc_start(pid: int) -> str | None:
    """The start time of process `pid` (from /proc), to tell a live runner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runner_alive(runner: dict[str, Any]) -> bool:
    """Whether the runner that owns a record is still alive (in this process or another)."""
    pid = runner.get("pid")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return runner.get("token") in _LIVE_RUNNERS
    if not _pid_alive(pid):
        return False
    start = runner.get("start")
    return start is None or _proc_start(pid) in (None, start)


def short_error(e: BaseException) -> str:
    """A message for people: a DataError's text as is, anything else as 'Type: message' (no traceback)."""
    if isinstance(e, DataError):
        return str(e)
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = text[:300]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# ------------------------------------------------------------------ the worker process
def current_job_dir() -> Path | None:
    """Inside a job: its own folder, for files it writes (removed if the job is cancelled or fails)."""
    value = os.environ.get(JOB_DIR_ENV)
    return Path(value) if value else None


def _app_settings() -> dict[str, str]:
    """The app's MW_* settings now: a worker forked from the fork server gets them as they are at
    submit time, not as they were when the server started."""
    return {k: v for k, v in os.environ.items() if k.startswith("MW_")}


def _worker_main(target: str, payload_file: str, threads: int, job_dir: str,
                 conn: multiprocessing.connection.Connection, parent: int,
                 settings: dict[str, str] | None = None) -> None:
    """Entry point of a worker process: the app's settings and thread limits first, then the job."""
    if settings is not None:
        for name in [k for k in os.environ if k.startswith("MW_") and k not in settings]:
            del os.environ[name]
        os.environ.update(settings)
    for name in THREAD_ENV:  # before numpy/sklearn are imported: the payload is unpickled below
        os.environ[name] = str(threads)
    os.environ[JOB_THREADS_ENV] = str(threads)  # read by duckdb_connect() and job_threads()
    os.environ[JOB_DIR_ENV] = job_dir
    Path(job_dir).mkdir(parents=True, exist_ok=True)

    def watch_parent() -> None:  # an orphaned worker (the app was killed) stops by itself
        while True:
            time.sleep(1.0)
            if not _pid_alive(parent):  # its parent is the fork server, so ask about the app itself
                os._exit(3)

    threading.Thread(target=watch_parent, daemon=True).start()

    def progress(share: float, message: str = "") -> None:
        try:
            conn.send(("progress", min(max(float(share), 0.0), 1.0), str(message)[:200]))
        except (OSError, ValueError):
            pass

    try:
        module, _, name = target.partition(":")
        func = getattr(importlib.import_module(module), name)
        payload = Path(payload_file)
        args, kwargs = pickle.loads(payload.read_bytes())
        payload.unlink(missing_ok=True)
        with limit_threads(threads):
            value = func(*args, progress=progress, **kwargs)
        folder = Path(job_dir)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{RESULT_FILE}.tmp"
        import joblib

        joblib.dump(value, tmp)
        os.replace(tmp, folder / RESULT_FILE)
        conn.send(("done", RESULT_FILE))
    except BaseException as e:  # noqa: BLE001 - every failure becomes the job's message
        if not isinstance(e, DataError):
            _LOG.error("job failed:\n%s", traceback.format_exc())
        with contextlib.suppress(OSError, ValueError):
            conn.send(("failed", short_error(e)))
    finally:
        with contextlib.suppress(OSError):
            conn.close()


PRELOAD_MODULE = "core.job_preload"
_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None


def _context() -> Any:
    """The multiprocessing context workers start from: a fork server that has imported the job
    modules once (core/job_preload.py), so a worker starts in milliseconds instead of the seconds
    a fresh interpreter spends importing pandas and scikit-learn. The server is started clean
    (never forked from the app's threads) and in the background, so the first job rarely waits."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([PRELOAD_MODULE])  # and not __main__: the app's script must not run
            threading.Thread(target=_start_fork_server, name="mw-job-forkserver", daemon=True).start()
            _CONTEXT = ctx
        return _CONTEXT


def _start_fork_server() -> None:
    from multiprocessing import forkserver

    with contextlib.suppress(Exception), _no_script_main():
        forkserver.ensure_running()


def _target_name(func: Callable[..., Any]) -> str:
    module, name = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or module == "__main__" or "." in name or "<" in name:
        raise DataError(f"{name or func!r} cannot run as a job: pass a top-level function of an importable module.")
    return f"{module}:{name}"


@dataclasses.dataclass
class _Pending:
    job_id: str
    target: str
    payload: bytes


@dataclasses.dataclass
class _Running:
    job_id: str
    process: Any  # multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    finished: bool = False


# ------------------------------------------------------------------ the runner
class JobRunner:
    """Runs jobs in at most `workers` processes at once, at most `per_user` per owner.

    One runner per process (the app caches it); other runners on the same folder may read records
    (`get`, `jobs`) and ask for a cancel, which the owning runner carries out. Creating a runner
    marks queued and running jobs of runners that are gone as interrupted. Each owner's newest
    `keep` finished jobs are kept; older ones (record and files) are removed when the owner submits.
    """

    def __init__(self, folder: str | os.PathLike[str], *, workers: int | None = None,
                 per_user: int | None = None, keep: int = 30) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"The jobs folder cannot be created ({e.strerror}). Ask an admin to check that "
                            "the server may write to the workspace folder.") from None
        self.workers = max(1, int(workers)) if workers else config.job_workers()
        self.per_user = max(1, int(per_user)) if per_user else config.jobs_per_user(self.workers)
        self.threads = threads_per_job(self.workers)
        self.keep = max(1, int(keep))
        self._token = uuid.uuid4().hex
        self._me = {"pid": os.getpid(), "start": _proc_start(os.getpid()), "token": self._token}
        _LIVE_RUNNERS.add(self._token)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = False
        self._queue: list[_Pending] = []
        self._running: dict[str, _Running] = {}
        self._thread: threading.Thread | None = None
        self._ctx = _context()
        self._recover()
        atexit.register(self.shutdown)

    # ------------------------------------------------------------ records on disk
    def _record_path(self, job_id: str) -> Path:
        if not job_id or not all(c.isalnum() or c == "-" for c in job_id):
            raise DataError(f"'{job_id}' is not a job id.")
        return self.folder / f"{job_id}.json"

    def job_dir(self, job_id: str) -> Path:
        """The job's own folder (its input and result files)."""
        return self._record_path(job_id).with_suffix("")

    def _read(self, job_id: str) -> Job | None:
        try:
            return Job.from_json(self._record_path(job_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as e:
            _LOG.warning("job record %s unreadable: %s", job_id, e)
            return None

    def _write(self, job: Job) -> None:
        _write_atomic(self._record_path(job.id), job.to_json())

    def _update(self, job_id: str, **changes: Any) -> Job | None:
        with self._lock:
            job = self._read(job_id)
            if job is None:
                return None
            for k, v in changes.items():
                setattr(job, k, v)
            self._write(job)
            return job

    def _all(self) -> list[Job]:
        out = []
        for path in self.folder.glob("*.json"):
            job = self._read(path.stem)
            if job is not None:
                out.append(job)
        out.sort(key=lambda j: (j.created, j.id))
        return out

    @staticmethod
    def _with_places(jobs: list[Job]) -> list[Job]:
        place = 0
        for job in jobs:  # oldest first
            if job.state == "queued":
                place += 1
                job.place = place
            else:
                job.place = None
        return jobs

    def _recover(self) -> None:
        """Mark queued/running jobs whose runner is gone as interrupted (a restart), never done."""
        for job in self._all():
            if job.state in ACTIVE and not _runner_alive(job.runner):
                with contextlib.suppress(OSError):
                    self._discard_files(job.id)
                self._update(job.id, state="interrupted", ended=time.time(), step="Interrupted",
                             error="The server restarted while this job was "
                                   f"{'running' if job.state == 'running' else 'waiting'}; start it again.")

    # ------------------------------------------------------------ reading
    def get(self, job_id: str) -> Job:
        """The job's current record (place in the queue filled in); DataError for an unknown id."""
        jobs = self._with_places(self._all())
        for job in jobs:
            if job.id == job_id:
                return job
        raise DataError(f"No job '{job_id}': it may have been cleaned up. Start it again.")

    def jobs(self, owner: str | None = None, *, kind: str | None = None, limit: int | None = None) -> list[Job]:
        """Jobs (of one owner / kind), newest first, queued ones with their place in the queue."""
        jobs = [j for j in self._with_places(self._all())
                if (owner is None or j.owner == owner) and (kind is None or j.kind == kind)]
        jobs.reverse()
        return jobs[:limit] if limit else jobs

    def latest(self, owner: str, kind: str, table: str | None, settings: dict[str, Any]) -> Job | None:
        """The owner's newest job of this kind on this table with exactly these settings (None if none)."""
        wanted = json.loads(json.dumps(settings, default=str))
        for job in self.jobs(owner, kind=kind):
            if job.table == table and job.settings == wanted:
                return job
        return None

    # ------------------------------------------------------------ submitting and scheduling
    def submit(self, kind: str, func: Callable[..., Any], *args: Any, owner: str, table: str | None = None,
               settings: dict[str, Any] | None = None, inputs: Sequence[str | os.PathLike[str]] = (),
               **kwargs: Any) -> str:
        """Queue `func(*args, progress=..., **kwargs)` as a job; returns its id at once.

        `func` must be a top-level function of an importable module; it gets a `progress(share,
        message)` callable. Arguments are pickled to the worker (a DataFrame travels whole).
        `inputs`: files the job reads (a large upload), linked (or copied) into the job's folder
        under their own names before it is queued, so the job finds them in current_job_dir() and
        they go with the folder when the job is cancelled, fails or is cleaned up; the caller's
        files stay where they are.
        """
        target = _target_name(func)
        try:
            payload = pickle.dumps((args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise DataError(f"The job's input cannot be sent to a worker ({short_error(e)}).") from None
        job = Job(id=f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}", owner=str(owner), kind=kind,
                  table=table, settings=json.loads(json.dumps(settings or {}, default=str)),
                  created=time.time(), runner=dict(self._me))
        with self._lock:
            if self._stop:
                raise DataError("The job runner has stopped; reload the page to start the job again.")
            self.prune(job.owner)
            if inputs:
                self._link_inputs(job.id, [Path(p) for p in inputs])
            self._write(job)
            self._queue.append(_Pending(job.id, target, payload))
            self._ensure_thread()
        self._wake.set()
        return job.id

    def _link_inputs(self, job_id: str, inputs: list[Path]) -> None:
        """Hard-link (instant; a copy across file systems) each input file into the job's folder."""
        folder = self.job_dir(job_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for src in inputs:
                dest = folder / src.name
                try:
                    os.link(src, dest)
                except OSError:
                    shutil.copyfile(src, dest)
        except OSError as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise DataError(f"The job's input file could not be prepared ({e.strerror or e}). Check that the "
                            "server has free disk space in the workspace folder, then try again.") from None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="mw-jobs", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the scheduler must keep going
                _LOG.exception("job scheduler step failed")
            conns = [r.conn for r in list(self._running.values()) if not r.finished]
            if conns:
                try:
                    multiprocessing.connection.wait(conns, timeout=0.2)
                except (OSError, ValueError):  # a connection closed by cancel() meanwhile
                    time.sleep(0.05)
            else:
                self._wake.wait(0.5)
                self._wake.clear()

    def _tick(self) -> None:
        with self._lock:
            for running in list(self._running.values()):
                self._drain(running)
            for job_id in [p.job_id for p in self._queue] + list(self._running):
                if (self.folder / f"{job_id}.cancel").exists():
                    self.cancel(job_id)
            self._start_free_slots()

    def _start_free_slots(self) -> None:
        while len(self._running) < self.workers:
            per_owner: dict[str, int] = {}
            for job_id in self._running:
                job = self._read(job_id)
                if job is not None:
                    per_owner[job.owner] = per_owner.get(job.owner, 0) + 1
            chosen = None
            for pending in self._queue:
                job = self._read(pending.job_id)
                if job is None or job.state != "queued":
                    continue
                if per_owner.get(job.owner, 0) < self.per_user:
                    chosen = pending
                    break
            if chosen is None:
                return
            self._queue.remove(chosen)
            self._start(chosen)

    def _start(self, pending: _Pending) -> None:
        job_dir = self.job_dir(pending.job_id)
        receive, send = self._ctx.Pipe(duplex=False)
        # The input goes through a file in the job's folder, not the spawn pipe: a worker that dies
        # while starting would leave a large write to that pipe blocked (and this scheduler with it).
        payload_file = job_dir / PAYLOAD_FILE
        process = self._ctx.Process(
            target=_worker_main, name=f"mw-job-{pending.job_id}",
            args=(pending.target, str(payload_file), self.threads, str(job_dir), send, os.getpid(),
                  _app_settings()))
        try:
            job_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic_bytes(payload_file, pending.payload)
            pending.payload = b""
            with _no_script_main():
                process.start()
        except Exception as e:  # noqa: BLE001 - OSError (no memory, no processes left) or a spawn refused
            self._update(pending.job_id, state="failed", ended=time.time(), step="Failed",
                         error=f"The job could not start ({getattr(e, 'strerror', None) or short_error(e)}). "
                               "Try again later.")
            return
        finally:
            send.close()
        self._running[pending.job_id] = _Running(pending.job_id, process, receive)
        self._update(pending.job_id, state="running", started=time.time(), pid=process.pid, step="Starting",
                     progress=0.0)

    def _drain(self, running: _Running) -> None:
        """Apply the worker's messages to its record; finish the job when its process has ended."""
        job_id = running.job_id
        last_progress = None
        outcome: tuple[Any, ...] | None = None
        # Asked before reading the pipe: a worker that sends "done" and exits between the read and
        # this check would otherwise look like one that died without a word.
        alive = running.process.is_alive()
        try:
            while running.conn.poll():
                message = running.conn.recv()
                if message[0] == "progress":
                    last_progress = message
                else:
                    outcome = message
        except (EOFError, OSError):
            running.finished = True
        if last_progress is not None and outcome is None:
            self._update(job_id, progress=last_progress[1], step=last_progress[2])
        if outcome is not None:
            running.finished = True
            # The result file is complete before "done" is sent: record it first, then reap the
            # worker (its exit can take a second on a busy machine; the user need not wait for it).
            if outcome[0] == "done":
                self._update(job_id, state="done", progress=1.0, step="Done", ended=time.time(), result=outcome[1])
            else:
                self._discard_files(job_id)
                self._update(job_id, state="failed", ended=time.time(), step="Failed", error=outcome[1])
            running.process.join(timeout=5)
            self._forget(running)
        elif running.finished or not alive:
            running.process.join(timeout=1)
            code = running.process.exitcode
            self._discard_files(job_id)
            self._update(job_id, state="failed", ended=time.time(), step="Failed",
                         error=f"The worker process stopped unexpectedly (exit code {code}); it may have run out "
                               "of memory. Try fewer rows or features.")
            self._forget(running)

    def _forget(self, running: _Running) -> None:
        self._running.pop(running.job_id, None)
        with contextlib.suppress(OSError):
            running.conn.close()
        with contextlib.suppress(ValueError, AttributeError):
            running.process.close()

    def _discard_files(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        (self.folder / f"{job_id}.cancel").unlink(missing_ok=True)

    @staticmethod
    def _terminate(process: Any) -> None:
        if process.is_alive():
            process.terminate()
            process.join(_KILL_AFTER_S)
        if process.is_alive():
            process.kill()
            process.join(_KILL_AFTER_S)

    # ------------------------------------------------------------ cancel, wait, result
    def cancel(self, job_id: str) -> Job:
        """Stop a queued or running job (within a few seconds) and remove its files; no-op when finished.

        A job of another runner (another process) is asked to stop through a flag file that its
        runner acts on.
        """
        with self._lock:
            job = self.get(job_id)
            if job.finished:
                return job
            pending = next((p for p in self._queue if p.job_id == job_id), None)
            running = self._running.get(job_id)
            if pending is None and running is None:  # owned by another runner
                if _runner_alive(job.runner):
                    _write_atomic(self.folder / f"{job_id}.cancel", "cancel")
                    return job
                return self._update(job_id, state="interrupted", ended=time.time(), step="Interrupted") or job
            if pending is not None:
                self._queue.remove(pending)
            if running is not None:
                self._terminate(running.process)
                self._forget(running)
            self._discard_files(job_id)
            updated = self._update(job_id, state="cancelled", ended=time.time(), step="Cancelled", result=None)
        self._wake.set()
        return updated or job

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.05) -> Job:
        """The job once it has finished, or its current record when `timeout` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.finished or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(poll)

    def result(self, job_id: str) -> Any:
        """What the job's function returned (loaded from the job folder); DataError unless it is done."""
        job = self.get(job_id)
        if job.state != "done" or not job.result:
            raise DataError(job.error or f"The job is {job.state}; it has no result yet.")
        import joblib

        try:
            return joblib.load(self.job_dir(job_id) / job.result)
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            raise DataError(f"The job's result cannot be read ({short_error(e)}); start the job again.") from None

    def pick_up(self, job_id: str) -> bool:
        """True once per finished job: the first caller records its result (e.g. a run in the model store)."""
        with self._lock:
            job = self._read(job_id)
            if job is None or job.state != "done" or job.picked_up:
                return False
            job.picked_up = True
            self._write(job)
            return True

    def prune(self, owner: str) -> int:
        """Remove the owner's finished jobs beyond the newest `keep` (records and files); returns how many."""
        finished = [j for j in self.jobs(owner) if j.finished]
        for job in finished[self.keep:]:
            self._discard_files(job.id)
            self._record_path(job.id).unlink(missing_ok=True)
        return max(0, len(finished) - self.keep)

    def delete(self, job_id: str) -> None:
        """Forget a finished job: its record and files (a running or queued one is cancelled first)."""
        job = self.get(job_id)
        if not job.finished:
            self.cancel(job_id)
        self._discard_files(job_id)
        self._record_path(job_id).unlink(missing_ok=True)

    def shutdown(self) -> None:
        """Stop the scheduler; running and queued jobs are stopped and marked interrupted."""
        with self._lock:
            if self._stop:
                return
            self._stop = True
            for pending in self._queue:
                self._update(pending.job_id, state="interrupted", ended=time.time(), step="Interrupted",
                             error="The server stopped before this job started; start it again.")
            self._queue.clear()
            for running in list(self._running.values()):
                self._terminate(running.process)
                self._forget(running)
                self._discard_files(running.job_id)
                self._update(running.job_id, state="interrupted", ended=time.time(), step="Interrupted",
                             error="The server stopped while this job ran; start it again.")
        _LIVE_RUNNERS.discard(self._token)
        self._wake.set()
        with contextlib.suppress(Exception):
            atexit.unregister(self.shutdown)
