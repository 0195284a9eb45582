"""Floating-point precision of a JAX computation, chosen per call."""
from __future__ import annotations

import contextlib

import jax
import numpy as np


def maybe_x64(dtype):
    """A context that turns JAX's 64-bit mode on when ``dtype`` is float64, and does nothing otherwise.

    JAX is 32-bit by default (float64 arrays silently become float32); inside ``jax.enable_x64(True)``
    float64 arrays stay float64. ``dtype``: anything ``np.dtype`` accepts (np.float64, "float64", ...).
    """
    try:
        wide = np.dtype(dtype) == np.float64
    except TypeError:
        raise ValueError(f"maybe_x64: dtype={dtype!r} is not a NumPy dtype (e.g. 'float32', 'float64')") from None
    if wide and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()
