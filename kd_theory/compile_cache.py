"""JAX's persistent compilation cache, on by default for the experiments: a sweep compiled once is loaded
from disk the next time (on CPU and GPU alike), so re-running an experiment spends well under a second
compiling. The folder is ``$KD_CACHE_DIR/jax`` (default ``~/.cache/kd-theory/jax``); the launcher's
``--compilation_cache=off`` turns it off, ``--compilation_cache=DIR`` moves it.
"""
from __future__ import annotations

import os

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
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


def disable():
    import jax
    jax.config.update("jax_compilation_cache_dir", None)


def directory() -> str | None:
    """The folder in use, or None when the cache is off."""
    import jax
    return jax.config.jax_compilation_cache_dir or None
