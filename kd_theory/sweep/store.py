"""Finished work of a sweep on disk: a :class:`kd_theory.results.ResultStore` with one file per finished
chunk, so an interrupted sweep resumes where it stopped. Rows are keyed by a hash of everything that
determines a run's result (its coordinates, its data and targets, the engine options, the engine's
sources), so a rerun with the same ``out`` skips exactly the runs already done, whatever the chunking."""
from __future__ import annotations

from kd_theory.results import ResultStore, payload_key, source_hash


def _engine_version() -> str:
    """A hash of the sources that determine a run's numbers: stored rows are reused only by the same
    math (a change to the network, the losses or the compiled program invalidates them)."""
    from kd_theory import losses, nets
    from kd_theory.sweep import layout, program
    return source_hash(nets, losses, layout, program)


ENGINE_VERSION = _engine_version()


def run_hash(run, task_fingerprint: str, options) -> str:
    return payload_key({"run": run.coords(), "task": task_fingerprint, "steps": list(options.steps),
                        "init": options.init, "train_output_layer": options.train_output_layer,
                        "dtype": options.dtype, "base_seed": options.base_seed, "engine": ENGINE_VERSION})


def chunk_store(directory: str) -> ResultStore:
    """``DIR/chunks/chunk-<hash>.json``: {run hash: [row per checkpoint]} for the runs of one chunk (the
    layout of earlier versions, whose folders therefore resume)."""
    return ResultStore(directory, "chunks", prefix="chunk")
