"""Finished work on disk: one file per finished chunk, written atomically, so an interrupted sweep
resumes where it stopped. Rows are keyed by a hash of everything that determines a run's result
(its coordinates, its data and targets, the engine options), so a rerun with the same ``out`` skips
exactly the runs already done, whatever the chunking."""
from __future__ import annotations

import glob
import hashlib
import json
import os

from kd_theory.results import atomic_write_json

def _engine_version() -> str:
    """A hash of the sources that determine a run's numbers: stored rows are reused only by the same
    math (a change to the network, the losses or the compiled program invalidates them)."""
    from kd_theory import losses, nets
    from kd_theory.sweep import layout, program
    h = hashlib.sha256()
    for module in (nets, losses, layout, program):
        with open(module.__file__, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16]


ENGINE_VERSION = _engine_version()


def run_hash(run, task_fingerprint: str, options) -> str:
    payload = json.dumps({"run": run.coords(), "task": task_fingerprint, "steps": list(options.steps),
                          "init": options.init, "train_output_layer": options.train_output_layer,
                          "dtype": options.dtype, "base_seed": options.base_seed, "engine": ENGINE_VERSION},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class ChunkStore:
    """``DIR/chunks/chunk-<hash>.json``: {run hash: [row per checkpoint]} for the runs of one chunk."""

    def __init__(self, directory: str):
        self.directory = os.path.join(directory, "chunks")

    def load(self) -> dict:
        done = {}
        for path in sorted(glob.glob(os.path.join(self.directory, "chunk-*.json"))):
            with open(path) as fh:
                done.update(json.load(fh)["runs"])
        return done

    def save(self, rows_by_hash: dict, info: dict) -> str:
        name = hashlib.sha256("".join(sorted(rows_by_hash)).encode()).hexdigest()[:16]
        path = os.path.join(self.directory, f"chunk-{name}.json")
        atomic_write_json(path, {"info": info, "runs": rows_by_hash})
        return path
