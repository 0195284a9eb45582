"""One results format for every experiment and executor: atomic files, environment stamps.

Every file is written to a temporary name in the same directory and renamed into place, so a reader
(or a crash) never sees half a file.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import tempfile
import time


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
        "platform": platform.platform(),
        "hostname": platform.node(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def atomic_write_bytes(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
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


def atomic_write_csv(path: str, rows: list[dict]) -> None:
    atomic_write_text(path, rows_to_csv(rows))


def atomic_save_figure(path: str, fig, dpi: int = 130) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=os.path.splitext(path)[1].lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


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


class OutputDir:
    """The folder an experiment writes into; every write is atomic."""

    def __init__(self, path: str):
        self.path = check_writable_dir(path)

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
