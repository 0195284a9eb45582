"""Named random streams: every random choice an experiment makes is drawn from one of these, derived from
the run's one ``seed``, so that no code adds magic offsets to seeds and two experiments that draw from
the same stream with the same indices get the same numbers.

    key = stream_key(seed, "teacher", "digits-full")      # a JAX key
    rng = numpy_rng(seed, "split", "digits")              # a NumPy Generator
    s = stream_seed(seed, "noise", "cifar-cat-dog")        # an int seed for functions that take one

The streams (``STREAMS``) and what each draws, with the indices the experiments use:

==========  ========================================================================================
student     a student's initialisation, index = the student seed s. Its key is
            ``fold_in(PRNGKey(seed), s)`` (the sweep engine's keying, kept so that hard and soft
            students of seed s share their initialisation: every soft − hard gap is paired)
teacher     a teacher's initialisation and minibatch order; index = data set name [, teacher index]
split       train / validation / test splits; index = the image collection ("digits", "mnist", …)
subset      training subsets (the selection subset); index = data set name, size; biased_soft's CNN validation
            subset: index = "cnn-validation", task name
noise       fixed per-example input noise ξ (the deep experiment); index = data set name
gates       Monte-Carlo gates of margin estimates and the kernel teacher; index = data set, draw
labels      generated soft labels (biased-label generators); index = generator, set index
crowd       simulated crowds (skills and answers); index = variant, size, crowd seed
data        synthetic data sets (separable data with a set margin, sampled noisy XOR); index = name
partition   start vectors of the spectral task-type partition; index = crowd name
bootstrap   bootstrap resamples of seeds; index = what is resampled
==========  ========================================================================================

An index is an int (folded in as is) or a string (folded in as its CRC-32, which never changes with
Python's hashing). Stream ids are fixed numbers ≥ 2³⁰ so that they cannot collide with student seeds
folded into the same root key.
"""
from __future__ import annotations

import zlib

import jax
import numpy as np

STREAMS = {"teacher": 2**30, "gates": 2**30 + 1, "labels": 2**30 + 2, "data": 2**30 + 3, "split": 2**30 + 4,
           "subset": 2**30 + 5, "noise": 2**30 + 6, "crowd": 2**30 + 7, "partition": 2**30 + 8,
           "bootstrap": 2**30 + 9}
STUDENT = "student"


def _stream_id(name: str) -> int:
    if name not in STREAMS:
        raise ValueError(f"unknown random stream {name!r}; allowed: {STUDENT}, {', '.join(STREAMS)}")
    return STREAMS[name]


def index_value(index) -> int:
    """An index as the integer folded into a key: ints as they are (0 ≤ i < 2³¹), strings by CRC-32."""
    if isinstance(index, str):
        return zlib.crc32(index.encode("utf-8")) % 2**31
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)) or not 0 <= index < 2**31:
        raise ValueError(f"a stream index must be a string or an integer in 0..2³¹−1; got {index!r}")
    return int(index)


def student_key(seed: int, student_seed: int):
    """The key of student seed ``student_seed``: fold_in(PRNGKey(seed), student_seed)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), student_seed)


def stream_key(seed: int, name: str, *indices):
    """The JAX key of ``indices`` in stream ``name`` under ``seed``:
    fold_in(…fold_in(fold_in(PRNGKey(seed), id(name)), i₁)…, i_k)."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), _stream_id(name))
    for index in indices:
        key = jax.random.fold_in(key, index_value(index))
    return key


def stream_entropy(seed: int, name: str, *indices) -> list[int]:
    """The NumPy SeedSequence entropy of ``indices`` in stream ``name``: [seed, id(name), i₁, …]."""
    return [int(seed), _stream_id(name), *(index_value(i) for i in indices)]


def numpy_rng(seed: int, name: str, *indices) -> np.random.Generator:
    """A NumPy Generator for ``indices`` in stream ``name`` (independent of the JAX version)."""
    return np.random.default_rng(stream_entropy(seed, name, *indices))


def stream_seed(seed: int, name: str, *indices) -> int:
    """An int seed in 0..2³¹−1 for ``indices`` in stream ``name``, for functions that take an int."""
    return int(np.random.SeedSequence(stream_entropy(seed, name, *indices)).generate_state(1)[0] % 2**31)
