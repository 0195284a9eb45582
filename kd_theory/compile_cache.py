"""JAX's persistent compilation cache, on by default for the experiments: a sweep compiled once is loaded
from disk the next time (on CPU and GPU alike), so re-running an experiment spends well under a second
compiling. The folder is ``$KD_CACHE_DIR/jax`` (default ``~/.cache/kd-theory/jax``); the launcher's
``--compilation_cache=off`` turns it off, ``--compilation_cache=DIR`` moves it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle

MIN_COMPILE_SECONDS = 0.2  # programs that compile faster than this are not worth a file


def default_directory() -> str:
    root = os.environ.get("KD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kd-theory")
    return os.path.join(root, "jax")


def enable(directory: str | None = None) -> str:
    """Turn the persistent cache on in ``directory`` (default :func:`default_directory`); returns it.
    A folder that cannot be created leaves the cache off (a warning, never an error)."""
    import warnings

    import jax
    directory = os.path.abspath(directory or default_directory())
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        warnings.warn(f"compilation cache {directory} cannot be created ({exc}); compiling without it")
        return ""
    _set_directory(directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


def disable():
    _set_directory(None)


def _set_directory(directory: str | None):
    """Point JAX's cache at ``directory``. JAX opens its cache folder once, at the first compile that uses it,
    and keeps it whatever the config says later; a changed folder therefore also resets JAX's cache, so the
    next compile opens the new one (a process that moves or turns off the cache, e.g. the benchmark, which
    gives every timed run a fresh folder)."""
    import logging

    import jax
    if jax.config.jax_compilation_cache_dir != directory:
        from jax.experimental.compilation_cache import compilation_cache as jax_cache
        jax.config.update("jax_compilation_cache_dir", directory)
        # reset_cache logs "Resetting cache at …" at INFO, which the launcher's absl logging would print
        # before every run's own output (and before a refusal's "error: …" line)
        logger = logging.getLogger("jax._src.compilation_cache")
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            jax_cache.reset_cache()
        finally:
            logger.setLevel(level)


def directory() -> str | None:
    """The folder in use, or None when the cache is off."""
    import jax
    return jax.config.jax_compilation_cache_dir or None


# ------------------------------------------------------------------------------------- compiled programs
# JAX's cache skips XLA's compile but a rerun still traces and lowers the Python program (about a second
# for a sweep chunk). The sweep engine therefore also stores its compiled programs themselves
# (jax.experimental.serialize_executable) in PROGRAMS_FOLDER inside the cache folder, keyed by everything
# that determines the executable: a rerun loads them in milliseconds.

PROGRAMS_FOLDER = "kd-programs"
MAX_PROGRAM_BYTES = 2 * 2**30  # the least recently used programs are deleted beyond this
_UNKEYED_CONFIG = ("jax_compilation_cache", "jax_persistent_cache", "jax_log", "jax_explain", "jax_debug_log")


def program_directory() -> str | None:
    """The folder of stored engine programs, or None when the cache is off."""
    root = directory()
    return os.path.join(root, PROGRAMS_FOLDER) if root else None


def _environment() -> tuple:
    """What else determines a compiled program: the JAX and jaxlib versions, the backend's version,
    64-bit mode, the default matmul precision, XLA's flags, and the sources of the engine (a changed
    formula must never load an old executable)."""
    import jax
    import jaxlib
    from kd_theory.sweep.store import ENGINE_VERSION
    try:
        platform_version = jax.devices()[0].client.platform_version
    except Exception:  # not every backend exposes its client
        platform_version = jax.default_backend()
    config = sorted((k, repr(v)) for k, v in getattr(jax.config, "values", {}).items()
                    if not k.startswith(_UNKEYED_CONFIG))
    return (jax.__version__, jaxlib.__version__, platform_version, bool(jax.config.jax_enable_x64),
            str(jax.config.jax_default_matmul_precision), os.environ.get("XLA_FLAGS", ""), ENGINE_VERSION,
            _plan_source(), config)


@functools.cache
def _plan_source() -> str:
    """The hash of plan.py's source, read once a process (like ENGINE_VERSION, at first use)."""
    from kd_theory.results import source_hash
    from kd_theory.sweep import plan
    return source_hash(plan)


def program_key(key, args) -> str | None:
    """The file name of a compiled program: a hash of ``key`` (names, shapes, options, devices), the
    shapes, dtypes and placements of ``args`` and the environment (``_environment``: versions, backend, flags);
    None when the cache is off."""
    if program_directory() is None:
        return None
    import jax
    layout = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype), str(getattr(a, "sharding", ""))), args)
    devices = tuple((d.platform, d.device_kind, d.id) for d in key[-1]) if isinstance(key[-1], tuple) else ()
    text = repr((key, devices, layout, jax.tree.structure(args), _environment()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_program(name: str | None, devices):
    """The stored program ``name`` loaded onto ``devices``, or None (not stored, unreadable, or
    written by something else: it is then compiled again and overwritten)."""
    folder = program_directory()
    if not name or folder is None:
        return None
    path = os.path.join(folder, name + ".pkl")
    if not os.path.exists(path):
        return None
    try:
        from jax.experimental import serialize_executable
        with open(path, "rb") as fh:
            serialized, in_tree, out_tree = pickle.load(fh)
        os.utime(path)  # recently used: pruned last
        return serialize_executable.deserialize_and_load(serialized, in_tree, out_tree,
                                                          backend=devices[0].platform,
                                                          execution_devices=list(devices))
    except Exception as exc:  # a damaged or foreign file: removed, compiled instead (stored again when storable)
        import warnings
        warnings.warn(f"stored program {path} cannot be loaded ({type(exc).__name__}: {exc}); compiling again")
        try:
            os.remove(path)
        except OSError:
            pass
        return None


_JAX_CACHE_HITS = 0   # '/jax/compilation_cache/cache_hits' events seen by this process


def _count_cache_hit(event: str, **kwargs):
    global _JAX_CACHE_HITS
    if event == "/jax/compilation_cache/cache_hits":
        _JAX_CACHE_HITS += 1


@functools.cache
def _listen_for_cache_hits():
    import jax
    jax.monitoring.register_event_listener(_count_cache_hit)


def compile_lowered(lowered):
    """(compiled, storable): ``lowered.compile()``, and whether the result may be stored with
    :func:`store_program`. An executable that JAX loaded from its own persistent cache is not: on XLA's CPU
    backend its serialisation lacks the compiled functions, and loading it fails at the first call ("Function
    … not found"; reproduced by deleting kd-programs/ between two runs, tested)."""
    _listen_for_cache_hits()
    hits = _JAX_CACHE_HITS
    compiled = lowered.compile()
    return compiled, _JAX_CACHE_HITS == hits


def store_program(name: str, compiled) -> bool:
    """Write a compiled program (atomically); False when this backend cannot serialise it."""
    folder = program_directory()
    if folder is None:
        return False
    try:
        from jax.experimental import serialize_executable
        payload = pickle.dumps(serialize_executable.serialize(compiled))
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, os.path.join(folder, name + ".pkl"))
        _prune(folder)
        return True
    except Exception:  # serialisation unsupported here, or a read-only folder: JAX's own cache remains
        return False


def _prune(folder: str, limit: int = MAX_PROGRAM_BYTES):
    """Delete the least recently used stored programs until the folder holds at most ``limit`` bytes."""
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".pkl"):
            stat = entry.stat()
            entries.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        try:
            os.remove(path)
            total -= size
        except OSError:
            pass
