"""Named PRNG key streams, so that no code adds magic offsets to seeds.

    student_key(base_seed, seed)       = fold_in(PRNGKey(base_seed), seed)
    stream_key(seed, name, index=0)    = fold_in(fold_in(PRNGKey(seed), STREAMS[name]), index)

Student runs are keyed by their seed alone, so hard and soft runs of one seed share their
initialisation (a paired comparison). Every other consumer of randomness (teachers, margin gates,
data splits, ...) draws from its own named stream, indexed by e.g. the data set, so that adding a
consumer or a data set never changes the keys of the others.
"""
from __future__ import annotations

import jax

# Stream ids are fixed numbers (not hashes of the names) so that they never change with Python's hashing;
# they are ≥ 2³⁰ so that they cannot collide with student seeds folded into the same root.
STREAMS = {"teacher": 2**30, "margin": 2**30 + 1, "labels": 2**30 + 2, "data": 2**30 + 3}


def student_key(base_seed, seed):
    """The PRNG key of student seed ``seed``: fold_in(PRNGKey(base_seed), seed)."""
    return jax.random.fold_in(jax.random.PRNGKey(base_seed), seed)


def stream_key(seed: int, name: str, index: int = 0):
    """The key of item ``index`` (e.g. a data set's index) of the named stream ``name`` under ``seed``."""
    if name not in STREAMS:
        raise ValueError(f"unknown key stream {name!r}; allowed: {', '.join(STREAMS)}")
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), STREAMS[name]), index)
