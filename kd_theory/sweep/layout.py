"""How the runs of one chunk sit in its compiled program: width classes of packed slices.

Runs whose tasks have the same shape (n_train, n_test, n_val, d, C) and whose widths fall in the same
*width class* form a *group*: one piece of the program whatever their widths and data sets. A group's
runs are packed, widest first, into *slices* of S neurons: every neuron of a run sits in one slice,
next to neurons of other runs of the group on the same data set. A slice carries, per neuron, its
run's slot k < K in the slice, its position in that run and the run's width; the network outputs are
sums over the neurons of each slot. The neurons of a group come in *granules* of g consecutive neurons
of one run (g divides every width of the group): the output is a contraction over each granule (a
reshape, fused with the matrix product's neighbours) followed by a sum over the S/g granules of each
slot, and the residual is gathered back per granule, not per neuron. The unused tail of a slice is
inert padding (width 0: output weight 0, learning rate 0). Slices are split over V devices (V × L).

Width classes (``EngineOptions.layout``):

* ``"classes"`` (default): two classes per task shape. Runs of width ≤ S (S = ``slice_neurons``/C) are
  packed together in slices of S neurons; wider runs are packed in slices as wide as the widest of them.
  Each class sums in granules of the gcd of its widths (g = 1 below 8). Measured on CPU (BUILD_NOTES.md
  §8): slices of ≤ 1,024 neurons keep a step's (S, n) temporaries in cache, granule sums are as fast as
  per-width blocks, and a sweep compiles one piece per class, not one per width.
* ``"packed"``: one class per task shape, slices of S = 4,096 neurons, granule 1 (sums per neuron).
* ``"blocks"``: one class per width, g = the width (a run is a granule): the first engine's layout.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from kd_theory import nets
from kd_theory.sweep.plan import EngineOptions, Run, Task


class GroupData(NamedTuple):
    """The data sets of one group, stacked: (D, n, d), (D, n), (D, n_test, d), (D, n_test), and the
    validation sets (D, n_val, d), (D, n_val) (n_val = 0 when the tasks have none)."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


class GroupInputs(NamedTuple):
    """Per slice (leading axes V × L): its data set, and per run slot k < K and per neuron s < S."""
    dataset: np.ndarray       # (V, L) index into GroupData
    seeds: np.ndarray         # (V, L, K) the student seed of each slot's run (its key: rng.student_key)
    targets: np.ndarray       # (V, L, K, n) or (V, L, K, n, C)
    lr: np.ndarray            # (V, L, K) learning rate η
    radius: np.ndarray        # (V, L, K) projection radius B/√m (inf: plain GD)
    run_width: np.ndarray     # (V, L, K) width m of the slot's run (0: empty slot)
    slot: np.ndarray          # (V, L, S) the run slot of each neuron
    position: np.ndarray      # (V, L, S) the neuron's index j < m inside its run (−1: padding)


@dataclasses.dataclass(frozen=True)
class GroupShape:
    """The static shape of one group: what its compiled piece depends on (not the widths)."""
    n_train: int
    n_test: int
    dim: int
    num_classes: int
    n_datasets: int
    devices: int
    slices_per_device: int
    slice_neurons: int
    slots: int
    n_val: int = 0
    granule: int = 1     # g: neurons of one run summed by a reshape before the sum over slots (g | S)


@dataclasses.dataclass
class Group:
    shape: GroupShape
    datasets: list
    data: GroupData
    inputs: GroupInputs
    where: dict          # chunk-local run index -> (v, l, k)


def _pack(widths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing bin packing of run widths into slices of ``capacity`` neurons; returns the
    run indices of each slice (widths ≤ capacity)."""
    bins, room = [], []
    for i in sorted(range(len(widths)), key=lambda i: (-widths[i], i)):
        for b, free in enumerate(room):
            if widths[i] <= free:
                bins[b].append(i)
                room[b] -= widths[i]
                break
        else:
            bins.append([i])
            room.append(capacity - widths[i])
    return bins


MIN_GRANULE = 8  # below this a class sums per neuron (g = 1)


def width_classes(widths: list[int], num_outputs: int, options: EngineOptions) -> dict[tuple, list[int]]:
    """The width classes of a task shape's runs (given by their widths; ``options`` resolved for the
    platform): {(class key, granule): [indices into ``widths``]}."""
    S = max(1, options.slice_neurons // max(1, num_outputs))
    if options.layout == "packed":
        keys = [(0, 1)] * len(widths)
    elif options.layout == "blocks":
        keys = [(w, w) for w in widths]
    else:
        level = [int(w > S) for w in widths]
        gcd = {}
        for w, c in zip(widths, level):
            gcd[c] = math.gcd(gcd.get(c, 0), w)
        keys = [(c, gcd[c] if gcd[c] >= MIN_GRANULE else 1) for c in level]
    classes: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        classes.setdefault(key, []).append(i)
    return classes


def _slice_capacity(neurons_per_dataset, widths, granule: int, slice_neurons: int) -> int:
    """S: ``slice_neurons`` (at most the most neurons one data set needs, then each data set fills one
    slice), rounded down to a multiple of the granule, and no less than the widest run."""
    S = min(slice_neurons, max(neurons_per_dataset))
    return max(max(widths), granule * (S // granule))


def layout_chunk(runs: list[Run], tasks: dict[str, Task], options: EngineOptions, n_devices: int = 1) -> list[Group]:
    """The groups of a chunk's runs (all of them, in the order given), as host arrays.

    ``options`` resolved for the platform (:meth:`EngineOptions.for_platform`).
    """
    by_shape: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        by_shape.setdefault(tasks[run.dataset].shape, []).append(i)
    groups = []
    for (n, n_test, n_val, dim, num_classes), shape_members in sorted(by_shape.items()):
        outputs = tasks[runs[shape_members[0]].dataset].objective_outputs
        classes = width_classes([runs[i].width for i in shape_members], outputs, options)
        for (level, granule), positions in sorted(classes.items()):
            members = [shape_members[j] for j in positions]
            groups.append(_layout_group(runs, tasks, members, options, n_devices, granule,
                                        level > 0 or options.layout == "blocks"))
    return groups


def _layout_group(runs, tasks, members, options, n_devices, granule, own_width) -> Group:
    """The slices of one width class (``members``: chunk-local run indices). ``own_width``: the class
    holds runs wider than ``slice_neurons`` (slices as wide as its widest run) or one width ("blocks")."""
    dtype = np.dtype(options.dtype)
    first = tasks[runs[members[0]].dataset]
    n, n_test, n_val, dim, num_classes = first.shape
    datasets = sorted({runs[i].dataset for i in members})
    outputs = first.objective_outputs
    widths = [runs[i].width for i in members]
    per_dataset = [sum(runs[i].width for i in members if runs[i].dataset == name) for name in datasets]
    S = options.slice_neurons // max(1, outputs)
    if own_width and options.layout != "blocks":
        S = max(widths)
    capacity = _slice_capacity(per_dataset, widths, granule, S)
    slices = []  # (dataset index, [chunk-local run indices])
    for d_index, name in enumerate(datasets):
        mine = [i for i in members if runs[i].dataset == name]
        slices += [(d_index, [mine[j] for j in b]) for b in _pack([runs[i].width for i in mine], capacity)]
    per_device = -(-len(slices) // n_devices)
    slices += [(0, [])] * (per_device * n_devices - len(slices))  # empty slices: all padding
    K = max(len(s) for _, s in slices)
    target_shape = (n,) + first.objective.output_shape(num_classes)
    total = len(slices)
    ds_index = np.zeros(total, np.int32)
    seeds = np.zeros((total, K), np.int32)
    targets = np.zeros((total, K) + target_shape, dtype)
    lr = np.zeros((total, K), dtype)
    radius = np.full((total, K), np.inf, dtype)
    run_width = np.zeros((total, K), np.int32)
    slot = np.zeros((total, capacity), np.int32)
    position = np.full((total, capacity), -1, np.int32)  # −1: padding
    where = {}
    for s, (d_index, members_s) in enumerate(slices):
        ds_index[s] = d_index
        start = 0
        for k, i in enumerate(members_s):
            run = runs[i]
            seeds[s, k] = run.seed
            targets[s, k] = np.asarray(tasks[run.dataset].targets[run.target], dtype)
            lr[s, k] = run.lr
            radius[s, k] = nets.projection_radius(run.B, run.width)
            run_width[s, k] = run.width
            slot[s, start:start + run.width] = k
            position[s, start:start + run.width] = np.arange(run.width)
            start += run.width
            where[i] = divmod(s, per_device) + (k,)
    split = lambda a: a.reshape((n_devices, per_device) + a.shape[1:])
    inputs = GroupInputs(*(split(a) for a in (ds_index, seeds, targets, lr, radius, run_width, slot, position)))
    empty = {"X_val": np.zeros((0, dim)), "y_val": np.zeros((0,))}  # tasks without a validation set
    field_of = lambda task, field: empty[field] if getattr(task, field) is None else getattr(task, field)
    stack = lambda field: np.stack([np.asarray(field_of(tasks[name], field), dtype) for name in datasets])
    data = GroupData(*(stack(f) for f in GroupData._fields))
    shape = GroupShape(n, n_test, dim, num_classes, len(datasets), n_devices, per_device, capacity, K, n_val,
                       granule)
    return Group(shape, datasets, data, inputs, where)
