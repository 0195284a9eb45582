"""Width classes, granules and slices side by side: the same runs whatever the layout."""
import numpy as np
import pytest

from kd_theory import sweep
from kd_theory.sweep import layout

# slice_neurons=32: widths 8, 16, 24 share slices of 32 neurons in granules of 8; 48 and 64 (> 32) form the
# wide class, slices of 64 neurons with granules of 16; "blocks" makes one class per width (granule = the width).
LAYOUTS = [("classes", "map"), ("classes", "vmap"), ("packed", "vmap")]
# "blocks" (the 2026-11-22 layout) compiles one program per width, half of this test's time with both slice layouts:
# each slice layout is checked once, binary with one, multiclass with the other (map and vmap are checked on both
# class counts by the layouts above)
BLOCKS_SLICE_LAYOUT = {2: "vmap", 3: "map"}


def _grid():
    return sweep.grid(dataset=["a", "b"], width=[8, 16, 24, 48, 64], target=["hard", "soft"], seed=[0, 3],
                      lr=[2.0], B=[None, 0.7])


def test_the_classes_layout_has_width_classes_with_granules(two_tasks):
    tasks = two_tasks()
    runs = [r for r in _grid() if r.dataset == "a"]
    options = sweep.EngineOptions(steps=(5,), slice_neurons=32, layout="classes").for_platform("cpu")
    groups = layout.layout_chunk(runs, tasks, options, 1)
    by_granule = {g.shape.granule: g for g in groups}
    assert sorted(by_granule) == [8, 16]
    narrow, wide = by_granule[8], by_granule[16]
    assert narrow.shape.slice_neurons == 32 and wide.shape.slice_neurons == 64
    widths = lambda g: sorted({int(w) for w in g.inputs.run_width.ravel() if w})
    assert widths(narrow) == [8, 16, 24] and widths(wide) == [48, 64]
    # every run sits whole in one slice, on granule boundaries, and nowhere else
    for group in groups:
        slot, position = group.inputs.slot[0], group.inputs.position[0]
        for l in range(slot.shape[0]):
            starts = np.flatnonzero(position[l] == 0)
            assert all(s % group.shape.granule == 0 for s in starts)
    assert sum(len(g.where) for g in groups) == len(runs)
    blocks = layout.layout_chunk(runs, tasks, options.__class__(steps=(5,), slice_neurons=32, layout="blocks")
                                 .for_platform("cpu"), 1)
    assert sorted(g.shape.granule for g in blocks) == [8, 16, 24, 48, 64]


@pytest.mark.parametrize("num_classes", [2, 3])
def test_every_layout_and_slice_layout_gives_the_rows_of_the_reference_trainer(num_classes, two_tasks,
                                                                              assert_rows_close, one_by_one):
    tasks = two_tasks(num_classes=num_classes)
    runs = _grid()
    base = dict(steps=(6, 20), init="standard", train_output_layer=True, base_seed=2, slice_neurons=32 * num_classes)
    packed = sweep.run_sweep(runs, tasks, sweep.EngineOptions(**base, layout="packed", slice_layout="map"),
                             progress=False).rows
    key = lambda r: (r["dataset"], r["width"], r["target"], r["seed"], r["B"])
    # five runs trained alone (the reference trainer compiles each): every width, target, seed, radius and data set
    checked = {("a", 8, "hard", 0, None), ("b", 16, "soft", 3, 0.7), ("a", 24, "soft", 0, 0.7),
               ("b", 48, "hard", 3, None), ("a", 64, "hard", 3, 0.7)}
    reference = {key(run.coords()): one_by_one(run, tasks[run.dataset], sweep.EngineOptions(**base))
                 for run in runs if key(run.coords()) in checked}
    assert len(reference) == len(checked)
    for name, slice_layout in [("packed", "map"), *LAYOUTS, ("blocks", BLOCKS_SLICE_LAYOUT[num_classes])]:
        rows = packed if (name, slice_layout) == ("packed", "map") else sweep.run_sweep(
            runs, tasks, sweep.EngineOptions(**base, layout=name, slice_layout=slice_layout), progress=False).rows
        for k, want in reference.items():  # each layout against runs trained one by one by the reference trainer
            assert_rows_close([r for r in rows if key(r) == k], want, tasks)
        assert [r["width"] for r in rows] == [r["width"] for r in packed]
        assert_rows_close(rows, packed, tasks, atol=1e-6)   # and against each other, every run, more tightly
        for got, want in zip(rows, packed):
            assert got["max_move_B"] == pytest.approx(want["max_move_B"], rel=1e-4, abs=1e-6), (name, slice_layout)


def test_the_platform_decides_slices_and_their_layout():
    options = sweep.EngineOptions()
    cpu, gpu = options.for_platform("cpu"), options.for_platform("gpu")
    assert (cpu.slice_layout, cpu.slice_neurons) == ("map", sweep.plan.DEFAULT_SLICE_NEURONS["cpu"])
    assert (gpu.slice_layout, gpu.slice_neurons) == ("vmap", sweep.plan.DEFAULT_SLICE_NEURONS["accelerator"])
    forced = sweep.EngineOptions(slice_layout="vmap", slice_neurons=64).for_platform("cpu")
    assert (forced.slice_layout, forced.slice_neurons) == ("vmap", 64)
    with pytest.raises(ValueError, match="unknown slice_layout 'scan'; allowed: auto, map, vmap"):
        sweep.EngineOptions(slice_layout="scan").validate()
    with pytest.raises(ValueError, match="unknown layout 'rows'; allowed: classes, packed, blocks"):
        sweep.EngineOptions(layout="rows").validate()
