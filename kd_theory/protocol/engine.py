"""How an experiment runs its sweeps: one :class:`EngineConfig`, built once from the config's ``engine``
section, used for every sweep of the experiment.

    engine = EngineConfig.from_config(config.engine)
    result = engine.run(runs, tasks, steps=(100, 300), out_dir=out.path)
"""
from __future__ import annotations

from typing import NamedTuple

DTYPES = ("float32", "float64")


class EngineConfig(NamedTuple):
    """dtype of the students, the memory budget of a chunk (None: measured from the device, see
    :func:`kd_theory.sweep.default_memory_budget_gb`), the executor ("local", "submitit-local", "slurm")
    with its Slurm settings, and whether progress is reported."""
    dtype: str = "float32"
    memory_budget_gb: float | None = None
    executor: str = "local"
    slurm_partition: str | None = None
    slurm_timeout_min: int = 60
    progress: bool = True

    @classmethod
    def from_config(cls, section) -> "EngineConfig":
        """From a config section with the fields of this class (an ml_collections ConfigDict or a dict)."""
        get = section.get if hasattr(section, "get") else lambda k, d=None: getattr(section, k, d)
        return cls(**{k: get(k, default) for k, default in cls._field_defaults.items()})

    def executor_for(self, out_dir: str | None):
        """The sweep executor; submitit ones keep their files under ``out_dir``/submitit."""
        from kd_theory import sweep
        params = {}
        if self.executor == "slurm":
            params = {"timeout_min": int(self.slurm_timeout_min)}
            if self.slurm_partition:
                params["slurm_partition"] = self.slurm_partition
        return sweep.make_executor(self.executor, out_dir, **params)

    def options(self, *, steps, init: str = "symmetric", train_output_layer: bool = False, base_seed: int = 0):
        """The engine options of a sweep with this dtype."""
        from kd_theory import sweep
        return sweep.EngineOptions(steps=tuple(int(s) for s in steps), init=init,
                                   train_output_layer=bool(train_output_layer), dtype=self.dtype,
                                   base_seed=int(base_seed))

    def run(self, runs, tasks: dict, *, steps, out_dir: str | None = None, init: str = "symmetric",
            train_output_layer: bool = False, base_seed: int = 0):
        """:func:`kd_theory.sweep.run_sweep` of ``runs`` on ``tasks`` (engine tasks, or protocol
        :class:`~kd_theory.protocol.task.Task` objects, which are converted); finished chunks are stored
        under ``out_dir`` (a rerun resumes)."""
        from kd_theory import sweep
        from kd_theory.protocol.task import Task
        tasks = {k: t.sweep_task() if isinstance(t, Task) else t for k, t in tasks.items()}
        options = self.options(steps=steps, init=init, train_output_layer=train_output_layer, base_seed=base_seed)
        return sweep.run_sweep(runs, tasks, options, out_dir=out_dir, memory_budget_gb=self.memory_budget_gb,
                               executor=self.executor_for(out_dir), progress=self.progress)
