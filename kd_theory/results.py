"""One results format for every experiment and executor: atomic files, environment stamps, resumable
units of work (:class:`ResultStore`) and a lock on an output folder (:func:`lock_output_dir`).

Every file is written to a temporary name in the same directory and renamed into place, so a reader
(or a crash) never sees half a file; it gets the usual permissions (0666 minus the umask).
"""
from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import os
import platform
import secrets
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from typing import NamedTuple


def _git_commit() -> str:
    """The commit of the source tree this code runs from (with "+dirty" when it has uncommitted changes),
    or "unknown" outside a git checkout."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+dirty" if dirty else "")) if head else "unknown"


def environment_info() -> dict:
    """What made a result: versions, backend, devices, host."""
    import jax
    import jaxlib
    import numpy as np
    devices = jax.devices()
    return {
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "numpy_version": np.__version__,
        "backend": jax.default_backend(),
        "device": str(devices[0].device_kind),
        "device_count": len(devices),
        "devices": [str(d) for d in devices],
        "x64": bool(jax.config.jax_enable_x64),
        # float32 matmuls on a GPU may run in TF32 unless this is "float32"/"highest" (it changes the digits)
        "matmul_precision": jax.config.jax_default_matmul_precision or "default",
        "compilation_cache": jax.config.jax_compilation_cache_dir or "off",
        "python": sys.version.split()[0],
        "git_commit": _git_commit(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _create_temporary(directory: str, name: str) -> tuple[int, str]:
    """A new file ``directory/.tmp-…-name`` opened for writing, created with mode 0666 so that the
    kernel applies the umask (``tempfile.mkstemp`` would make it 0600, unreadable by the group)."""
    while True:
        tmp = os.path.join(directory, f".tmp-{secrets.token_hex(6)}-{name[:100]}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = _create_temporary(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(obj):
    import numpy as np
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n"


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, to_json(obj))


def rows_to_csv(rows: list[dict]) -> str:
    """One row per dict; the columns are the union of keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _csv_value(text: str):
    """A cell of :func:`rows_to_csv` back as the value it was written from: "" → None, True/False, an int,
    a float (repr round-trips exactly, nan and inf included), else the string."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def rows_from_csv(text: str) -> list[dict]:
    """The rows :func:`rows_to_csv` wrote, each with every column (a key a row lacked reads None)."""
    return [{k: _csv_value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def atomic_write_csv(path: str, rows: list[dict]) -> None:
    atomic_write_text(path, rows_to_csv(rows))


def atomic_save_figure(path: str, fig, dpi: int = 130) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=os.path.splitext(path)[1].lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


class CorruptResultWarning(UserWarning):
    """A stored unit of work could not be read: it was moved aside to ``*.corrupt`` and is computed again."""


def source_hash(*modules) -> str:
    """A hash of the source files of ``modules``: stored work is reused only by the same math."""
    h = hashlib.sha256()
    for module in modules:
        with open(module.__file__, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16]


def payload_key(payload: dict) -> str:
    """The stable name of a unit of work: sha256 of the JSON of ``payload`` (sorted keys), 24 hex digits.

    ``payload`` holds everything that determines the unit's result; NumPy scalars and arrays count as
    their values, anything else that JSON cannot hold is a TypeError (``str()`` of it would not be stable).
    """
    def value(obj):
        import numpy as np
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(f"a result key's payload must be JSON data; got a {type(obj).__name__}: {obj!r}")
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=value).encode()).hexdigest()[:24]


def runs_checksum(runs: dict) -> str:
    """sha256 of the canonical JSON of a store file's runs: a damaged digit that still parses is caught."""
    return hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()


def _rows_problem(saved) -> str | None:
    """What is wrong with the contents of a store file, or None: it must be
    {"info": …, "runs": {key: [row, …]}, "sha256": runs_checksum(runs)}."""
    if not isinstance(saved, dict) or not isinstance(saved.get("runs"), dict):
        return 'not an object with a "runs" object'
    for key, rows in saved["runs"].items():
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            return f'"runs"[{key!r}] is not a list of rows (objects)'
    if saved.get("sha256") != runs_checksum(saved["runs"]):
        return 'its "sha256" does not match its runs (damaged, or written by hand)'
    return None


def _move_aside(path: str) -> str:
    """Rename ``path`` to ``path.corrupt`` (``.corrupt-2``, … if taken), keeping every earlier one."""
    aside, n = f"{path}.corrupt", 2
    while os.path.exists(aside):
        aside, n = f"{path}.corrupt-{n}", n + 1
    os.replace(path, aside)
    return aside


class ResultStore:
    """Finished units of work of a long experiment, kept on disk so that a rerun into the same folder reuses them.

    ``DIRECTORY/NAMESPACE/PREFIX-<name>.json`` holds ``{"info": …, "runs": {key: [row, …]}}`` for one unit
    (:meth:`put`) or several finished together (:meth:`put_many`: the runs of a sweep chunk). A key is
    :meth:`key` of everything that determines the unit's rows, so changed settings miss and are computed
    anew while unchanged units are reused whatever else changed. Each file is written atomically the moment
    its units finish: an interrupted experiment loses only the units in flight. A file that cannot be read
    (half a file from a full disk, a hand edit) is renamed to ``*.corrupt`` with a :class:`CorruptResultWarning`
    naming it, and its units count as not done (they are computed again). Each file carries the sha256 of its
    runs, so damage that still parses as JSON (a changed digit) is caught the same way.

        store = ResultStore(out.path, "levels", prefix="level")
        key = store.key({"noise_var": v, "settings": settings})
        rows = store.get(key)
        if rows is None:
            rows = train_level(v)
            store.put(key, rows, {"noise_var": v})
    """

    key = staticmethod(payload_key)

    def __init__(self, directory: str, namespace: str, prefix: str = "unit"):
        self.directory = os.path.join(directory, namespace)
        self.prefix = prefix
        self._done: dict | None = None

    def _read(self, path: str) -> dict:
        try:
            with open(path, encoding="utf-8") as fh:
                saved = json.load(fh)
            problem = _rows_problem(saved)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            problem = str(exc)
        if problem is None:
            return saved["runs"]
        aside = _move_aside(path)
        warnings.warn(f"{path} is not a readable {self.prefix} file ({problem}); moved it to {aside} and "
                      "its results will be computed again", CorruptResultWarning, stacklevel=4)
        return {}

    def load(self) -> dict:
        """{key: rows} of every unit stored so far (the files are read once; :meth:`put` adds to it)."""
        if self._done is None:
            self._done = {}
            pattern = os.path.join(glob.escape(self.directory), f"{glob.escape(self.prefix)}-*.json")
            for path in sorted(glob.glob(pattern)):
                self._done.update(self._read(path))
        return dict(self._done)

    def get(self, key: str) -> list | None:
        """The rows stored under ``key``, or None when that unit is not done."""
        if self._done is None:
            self.load()
        return self._done.get(key)

    def put(self, key: str, rows: list, info: dict | None = None) -> str:
        """Store the rows of one finished unit; returns the file written."""
        return self.put_many({key: rows}, info)

    def put_many(self, rows_by_key: dict, info: dict | None = None) -> str:
        """Store several finished units in one file (named by their keys); returns the file written."""
        for key, rows in rows_by_key.items():
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise TypeError(f"the rows of {key!r} must be a list of dicts; got {type(rows).__name__}")
        name = hashlib.sha256("".join(sorted(rows_by_key)).encode()).hexdigest()[:16]
        path = os.path.join(self.directory, f"{self.prefix}-{name}.json")
        # through JSON first, so that the checksum is of exactly what a reader will parse
        runs = json.loads(to_json(rows_by_key))
        atomic_write_json(path, {"info": info, "runs": runs, "sha256": runs_checksum(runs)})
        if self._done is not None:
            self._done.update(runs)   # what a rerun would read back
        return path


class ArrayStore:
    """Finished array-valued units (a trained teacher's logits, …) kept on disk like :class:`ResultStore`'s rows:
    ``DIRECTORY/NAMESPACE/<key>.npz``, written atomically, keyed by :func:`payload_key`. An unreadable file
    is moved aside with a :class:`CorruptResultWarning` and counts as not done."""

    key = staticmethod(payload_key)

    def __init__(self, directory: str, namespace: str):
        self.directory = os.path.join(directory, namespace)

    def get(self, key: str) -> dict | None:
        """{name: array} stored under ``key``, or None."""
        import numpy as np
        path = os.path.join(self.directory, f"{key}.npz")
        if not os.path.isfile(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                return {name: saved[name] for name in saved.files}
        # BadZipFile: truncated, bad CRC; NotImplementedError: a damaged compression-method field; RuntimeError: a
        # damaged flag bit read as "encrypted"; zlib.error: stored data read as deflated
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError, RuntimeError,
                zlib.error) as exc:
            aside = _move_aside(path)
            warnings.warn(f"{path} is not readable ({exc}); moved it to {aside}, it will be computed again",
                          CorruptResultWarning, stacklevel=2)
            return None

    def put(self, key: str, **arrays) -> str:
        import numpy as np
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path = os.path.join(self.directory, f"{key}.npz")
        atomic_write_bytes(path, buf.getvalue())
        return path


def check_writable_dir(path: str) -> str:
    """Prove that ``path`` is (or can be created as) a writable directory, creating nothing.

    Raises ``PermissionError`` naming the path; the directory itself is made at the first write.
    """
    path = os.path.abspath(path)
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise PermissionError(f"--out={path} is not usable: {probe} exists and is not a directory")
    try:  # a real write: os.access says yes to root even on a read-only file system
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise PermissionError(f"--out={path} is not writable ({exc.strerror or exc} in {probe})") from exc
    return path


LOCK_FILE = "run.lock"
_HELD_LOCKS: set = set()   # the tokens of the locks this process holds


class OutputLocked(RuntimeError):
    """Another run holds the output folder's lock; the message names it and the lock file."""


class StaleLockWarning(UserWarning):
    """A lock left by a run that is no longer running (killed) was taken over."""


class FolderLock(NamedTuple):
    path: str            # the lock file
    token: str           # this holder's random token (written in the file)
    created: tuple       # folders that taking the lock created, deepest first (removed again if left empty)


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (field 22 of /proc/PID/stat: clock ticks since boot), where /proc says:
    tells the process that wrote a lock from a later one that got the same pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _is_running(holder: dict) -> bool:
    """Whether the process that wrote ``holder`` (a lock's contents) still runs; True when this cannot be
    told (another host)."""
    pid = holder.get("pid")
    if holder.get("host") != platform.node() or not isinstance(pid, int) or pid <= 0:
        return True
    if pid == os.getpid():
        return holder.get("token") in _HELD_LOCKS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    recorded, now = holder.get("process_start"), _process_start(pid)
    return recorded is None or now is None or recorded == now


def _read_lock(path: str, attempts: int = 20) -> dict | None:
    """The contents of lock file ``path``; None if it is gone; {} if it stays unreadable (a lock being
    written by the O_EXCL fallback is empty for a moment)."""
    for _ in range(attempts):
        try:
            with open(path, encoding="utf-8") as fh:
                holder = json.load(fh)
            if isinstance(holder, dict):
                return holder
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return {}


def _create_lock(path: str, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists (then False). A complete temporary file is
    hard-linked into place, so a reader never sees an empty lock; where links are not supported the
    file is created with O_EXCL and then written."""
    directory = os.path.dirname(path)
    fd, tmp = _create_temporary(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            pass
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return True
    finally:
        os.unlink(tmp)


def _remove_stale(path: str, holder: dict) -> None:
    """Remove the lock ``path`` if it still is ``holder``'s: it is renamed first (atomic, so of two runs
    taking it over only one removes it), and put back if a live run replaced it meanwhile."""
    aside = f"{path}.stale-{secrets.token_hex(4)}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if (_read_lock(aside, attempts=1) or {}).get("token") != holder.get("token"):
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    os.unlink(aside)


def _describe(holder: dict) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started_utc', '?')}")


def acquire_output_lock(directory: str) -> FolderLock:
    """Take ``directory/run.lock`` (creating the folder), holding this run's pid, host and start time.

    A lock held by a running process raises :class:`OutputLocked` naming that process and the lock file;
    a lock whose process no longer runs on this host (a killed run) is taken over with a
    :class:`StaleLockWarning`. A lock from another host cannot be checked and counts as held."""
    directory = os.path.abspath(directory)
    created, probe = [], directory
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        created.append(probe)
        probe = os.path.dirname(probe)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, LOCK_FILE)
    token = secrets.token_hex(8)
    me = {"pid": os.getpid(), "host": platform.node(), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
          "process_start": _process_start(os.getpid()), "argv": list(sys.argv), "token": token}
    for _ in range(10):  # each turn either takes the lock, refuses, or removes a stale one
        if _create_lock(path, to_json(me)):
            _HELD_LOCKS.add(token)
            return FolderLock(path, token, tuple(created))
        holder = _read_lock(path)
        if holder is None:  # released meanwhile
            continue
        if not holder:
            raise OutputLocked(f"{directory} is locked by {path}, which names no owner; if no other run writes "
                               f"into this folder, delete {path} and run again")
        if _is_running(holder):
            raise OutputLocked(f"{directory} is in use by another run: {_describe(holder)} (lock file {path}). "
                               f"Wait for it to finish or choose another output folder; if that run is no "
                               f"longer running, delete {path} and run again")
        warnings.warn(f"taking over the lock {path} of a run that is no longer running: {_describe(holder)}",
                      StaleLockWarning, stacklevel=2)
        _remove_stale(path, holder)
    raise OutputLocked(f"could not take the lock {path}: other runs keep taking it")


def release_output_lock(lock: FolderLock) -> None:
    """Remove the lock file (if it is still this holder's) and the folders taking it created, if left empty."""
    _HELD_LOCKS.discard(lock.token)
    if (_read_lock(lock.path, attempts=1) or {}).get("token") == lock.token:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock.path)
    for folder in lock.created:
        try:
            os.rmdir(folder)
        except OSError:  # not empty (results were written): keep it and its parents
            break


@contextlib.contextmanager
def lock_output_dir(directory: str):
    """``with lock_output_dir(path):`` — one run at a time writes into ``path`` (see :func:`acquire_output_lock`)."""
    lock = acquire_output_lock(directory)
    try:
        yield lock
    finally:
        release_output_lock(lock)


class OutputDir:
    """The folder an experiment writes into; every write is atomic."""

    def __init__(self, path: str):
        self.path = check_writable_dir(path)

    def lock(self):
        """``with out.lock():`` — hold the folder's ``run.lock`` while writing (:func:`lock_output_dir`)."""
        return lock_output_dir(self.path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def write_json(self, name: str, obj) -> str:
        atomic_write_json(self.file(name), obj)
        return self.file(name)

    def write_text(self, name: str, text: str) -> str:
        atomic_write_text(self.file(name), text)
        return self.file(name)

    def write_csv(self, name: str, rows: list[dict]) -> str:
        atomic_write_csv(self.file(name), rows)
        return self.file(name)

    def save_figure(self, name: str, fig) -> str:
        atomic_save_figure(self.file(name), fig)
        return self.file(name)
