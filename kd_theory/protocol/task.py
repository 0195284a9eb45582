"""A task of the experiments: data splits, the training targets of every label type, and the teachers.

    task = Task.build(dataset, [targets.hard(dataset), targets.soft(teacher, 4.0)], teachers=[teacher])
    engine_task = task.sweep_task()                 # what the sweep engine trains on
    select_task = task.subset(indices)              # the same targets on a training subset

Every experiment builds its data through this one shape, whatever the labels are (hard labels, a
teacher's soft labels at a temperature, biased soft labels, crowd posteriors).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple

import numpy as np

from kd_theory.data import Dataset

LABEL_TYPES = ("hard", "soft", "biased", "crowd")


class Teacher(NamedTuple):
    """A teacher: its ``name``, ``kind`` ("network", "kernel", "sbt", "vgg", …), its logits on each split
    (``logits["train" | "val" | "test"]``: (n,) for binary tasks, (n, C) for C classes), its accuracy on
    each split, and what else describes it (``info``: width, steps, …)."""
    name: str
    kind: str
    logits: Mapping[str, np.ndarray]
    accuracy: Mapping[str, float]
    info: Mapping = {}

    def summary(self) -> dict:
        """Everything but the logits, for results.json."""
        return {"name": self.name, "kind": self.kind, **{f"{k}_acc": v for k, v in self.accuracy.items()},
                **dict(self.info)}


class Target(NamedTuple):
    """The training target of one label type: ``name`` (the engine's target name, e.g. "soft@T=4"),
    ``label`` (one of :data:`LABEL_TYPES`), ``values`` t ∈ [0, 1]^n (binary: the probability of +1) or
    (n, C) probability rows, and ``info`` (temperature, generator and knob, aggregator, …)."""
    name: str
    label: str
    values: np.ndarray
    info: Mapping = {}

    def coords(self) -> dict:
        """The coordinates a run of this target carries: its label type and the info's scalars."""
        return {"label": self.label, **{k: v for k, v in self.info.items() if isinstance(v, (int, float, str))}}


@dataclasses.dataclass(frozen=True)
class Task:
    """One data set with its train / validation / test splits (``data``), the training targets of every
    label type by name, and the teachers whose logits gave the soft ones."""
    name: str
    data: Dataset
    targets: Mapping[str, Target]
    teachers: Mapping[str, Teacher] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, data: Dataset, targets, teachers=(), name: str | None = None) -> "Task":
        """A task of ``data`` with the given targets (an iterable of :class:`Target`) and teachers; two
        targets or teachers of one name are an error."""
        targets, teachers = list(targets), list(teachers)
        for what, items in (("target", targets), ("teacher", teachers)):
            names = [t.name for t in items]
            if len(set(names)) != len(names):
                raise ValueError(f"task {name or data.name!r}: two {what}s share a name: "
                                 f"{sorted({n for n in names if names.count(n) > 1})}")
        n = len(data.y_train)
        for t in targets:
            if len(t.values) != n:
                raise ValueError(f"task {name or data.name!r}: target {t.name!r} has {len(t.values)} rows for "
                                 f"{n} training examples")
            if t.label not in LABEL_TYPES:
                raise ValueError(f"target {t.name!r}: label type {t.label!r}; allowed: {', '.join(LABEL_TYPES)}")
        return cls(name or data.name, data, {t.name: t for t in targets}, {t.name: t for t in teachers})

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    def sweep_task(self):
        """The sweep engine's task: the splits and every target's values."""
        from kd_theory import sweep
        d = self.data
        return sweep.Task(d.X_train, d.y_train, d.X_test, d.y_test,
                          {name: np.asarray(t.values, np.float32) for name, t in self.targets.items()},
                          num_classes=d.num_classes, X_val=d.X_val, y_val=d.y_val)

    def subset(self, indices, name: str | None = None) -> "Task":
        """The same task trained on the training examples ``indices`` (every target sliced alike;
        validation, test and teachers unchanged)."""
        idx = np.asarray(indices)
        data = dataclasses.replace(self.data, X_train=self.data.X_train[idx], y_train=self.data.y_train[idx],
                                   info=dict(self.data.info, train_subset=int(len(idx))))
        targets = {k: t._replace(values=np.asarray(t.values)[idx]) for k, t in self.targets.items()}
        return dataclasses.replace(self, name=name or self.name, data=data, targets=targets)

    def teacher_summaries(self) -> list[dict]:
        """One dict per teacher (accuracies on every split and its info), for results.json."""
        return [dict(t.summary(), dataset=self.name) for t in self.teachers.values()]

    def split_sizes(self) -> dict:
        return {"n_train": int(len(self.data.y_train)), "n_val": int(0 if self.data.y_val is None else
                                                                      len(self.data.y_val)),
                "n_test": int(len(self.data.y_test))}
