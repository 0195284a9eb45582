"""Teachers → targets: one function per kind of training target, each returning a :class:`Target`.

=============================  =====================================================================
``hard(data)``                 t = (1 + y)/2 (binary) or the one-hot rows of y (C classes)
``soft(teacher, T)``           the teacher's σ(f/T) (binary) or softmax(f/T) (C classes) on the
                               training inputs
``biased(name, values, …)``    soft labels from a biased-label generator (:mod:`kd_theory.biased`)
``crowd(name, p, …)``          an aggregator's posterior (soft) or its label (hard) from a crowd
=============================  =====================================================================

and the teachers whose logits feed :func:`soft`:

``network_teacher(key, data, …)``   a wide two-layer network trained on the hard labels
``kernel_teacher(key, data, …)``    the kernel-limit teacher of the theory (no temperature)
``teacher_from_logits(…)``          any other model's logits on the three splits (VGG, SBT, …)
"""
from __future__ import annotations

import json

import numpy as np

from kd_theory.data import Dataset
from kd_theory.protocol.task import Target, Teacher

SPLITS = ("train", "val", "test")


def soft_name(temperature: float) -> str:
    """The engine's name of the soft target at temperature T: "soft@T=4"."""
    return f"soft@T={temperature:g}"


def hard(data: Dataset, name: str = "hard") -> Target:
    """The hard labels as a target: (1 + y)/2 ∈ {0, 1} for labels ±1, the one-hot rows for C classes."""
    y = np.asarray(data.y_train)
    if data.num_classes == 2:
        values = ((1.0 + y) / 2.0).astype(np.float32)
    else:
        values = np.eye(data.num_classes, dtype=np.float32)[y.astype(np.int64)]
    return Target(name, "hard", values, {"temperature": None})


def soft(teacher: Teacher, temperature: float = 1.0, name: str | None = None) -> Target:
    """The teacher's soft labels on the training inputs at temperature T."""
    from kd_theory import teachers
    logits = np.asarray(teacher.logits["train"])
    values = teachers.soft_labels(logits, temperature, 2 if logits.ndim == 1 else logits.shape[-1])
    return Target(name or soft_name(temperature), "soft", np.asarray(values, np.float32),
                  {"temperature": float(temperature), "teacher": teacher.name})


def biased(name: str, values, generator: str, **knob) -> Target:
    """Soft labels from a biased-label generator ("smoothing", "noise", "partial", "temperature", "sbt",
    …) with its knob values (ε, σ, q, r, T, α, …)."""
    return Target(name, "biased", np.asarray(values, np.float32), {"generator": generator, **knob})


def crowd(name: str, posterior, aggregator: str, hard_label: bool = False) -> Target:
    """A crowd's training target: an aggregator's posterior P(label = +1) per task (soft), or its label
    1[p > 1/2] (``hard_label``; a tie goes to the lower label)."""
    p = np.asarray(posterior, np.float32)
    return Target(name, "crowd", (p > 0.5).astype(np.float32) if hard_label else p,
                  {"aggregator": aggregator, "form": "hard" if hard_label else "soft"})


def _accuracy(logits, y, num_classes: int) -> float:
    from kd_theory import losses
    if num_classes == 2:
        return float(losses.accuracy(np.asarray(logits), np.asarray(y)))
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(y)))


def teacher_from_logits(name: str, kind: str, data: Dataset, logits: dict, **info) -> Teacher:
    """A teacher from its logits on the splits of ``data`` it has ("train", "val", "test"); its accuracy
    on each is computed here."""
    labels = {"train": data.y_train, "val": data.y_val, "test": data.y_test}
    logits = {k: np.asarray(v) for k, v in logits.items() if labels.get(k) is not None}
    accuracy = {k: _accuracy(v, labels[k], data.num_classes) for k, v in logits.items()}
    return Teacher(name, kind, logits, accuracy, info)


def data_fingerprint(data: Dataset) -> str:
    """A hash of a data set's splits (what a teacher trained on it depends on)."""
    import hashlib
    h = hashlib.sha256(f"{data.name}/{data.num_classes}".encode())
    for arr in (data.X_train, data.y_train, data.X_val, data.y_val, data.X_test, data.y_test):
        if arr is not None:
            h.update(np.ascontiguousarray(arr, np.float32).tobytes())
    return h.hexdigest()[:16]


def cached_teacher(directory: str | None, payload: dict, data: Dataset, make) -> Teacher:
    """``make()`` (a function returning a :class:`Teacher` of ``data``), or the same teacher read back from
    ``directory``/teachers when it was trained before with the same ``payload`` (everything that determines
    it: kind, settings, key) on the same data. Long runs resume without retraining their teachers."""
    if directory is None:
        return make()
    from kd_theory.results import ArrayStore
    store = ArrayStore(directory, "teachers")
    key = store.key(dict(payload, data=data_fingerprint(data)))
    saved = store.get(key)
    if saved is not None:
        meta = json.loads(str(saved.pop("meta")))
        return teacher_from_logits(meta["name"], meta["kind"], data, saved, **meta["info"])
    teacher = make()
    store.put(key, meta=np.asarray(json.dumps({"name": teacher.name, "kind": teacher.kind,
                                               "info": dict(teacher.info)})), **teacher.logits)
    return teacher


def _splits(data: Dataset) -> dict:
    return {k: x for k, x in (("train", data.X_train), ("val", data.X_val), ("test", data.X_test)) if x is not None}


def network_teacher(key, data: Dataset, *, name: str = "network", width: int = 512, steps: int = 2000,
                    learning_rate: float = 0.01, optimizer: str = "adam", batch_size: int | None = None,
                    progress: bool = False) -> Teacher:
    """A wide two-layer ReLU network trained on the hard training labels
    (:func:`kd_theory.teachers.train_network_teacher`), evaluated on every split; ``progress`` shows a bar."""
    from kd_theory import nets, teachers
    from kd_theory.progress import step_reporter
    reporter = step_reporter(steps, f"teacher {name} ({data.name})", progress)
    params = teachers.train_network_teacher(key, data.X_train, data.y_train, width=width, steps=steps,
                                            learning_rate=learning_rate, optimizer=optimizer,
                                            batch_size=batch_size, num_classes=data.num_classes, progress=reporter)
    logits = {k: np.asarray(nets.apply(params, x)) for k, x in _splits(data).items()}
    return teacher_from_logits(name, "network", data, logits, width=width, steps=steps, learning_rate=learning_rate,
                               optimizer=optimizer, batch_size=batch_size)


def kernel_teacher(key, data: Dataset, *, name: str = "kernel", num_gates: int = 4096, **solver) -> Teacher:
    """The kernel-limit teacher z_i = E_z[φ_{x_i}(z)ᵀ v*(z)] of the theory, fit on the training split
    (:func:`kd_theory.margin.kernel_teacher_logits`), evaluated on every split. Binary tasks only."""
    from kd_theory import margin
    splits = _splits(data)
    both = np.concatenate(list(splits.values()))
    z = np.asarray(margin.kernel_teacher_logits(data.X_train, data.y_train, both, num_gates=num_gates, key=key,
                                                **solver))
    bounds = np.cumsum([0] + [len(x) for x in splits.values()])
    logits = {k: z[a:b] for k, a, b in zip(splits, bounds[:-1], bounds[1:])}
    return teacher_from_logits(name, "kernel", data, logits, num_gates=num_gates)
