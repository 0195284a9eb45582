"""The persistent caches: JAX's compilation cache and the engine's stored programs."""
import os

import jax
import pytest

from kd_theory import compile_cache, sweep


@pytest.fixture
def cache_dir(tmp_path):
    before = compile_cache.directory()
    folder = compile_cache.enable(str(tmp_path / "cache"))
    yield folder
    if before:
        compile_cache.enable(before)
    else:
        compile_cache.disable()


def test_a_moved_cache_is_written_in_its_new_folder(tmp_path):
    """JAX opens its cache folder once per process; enable() with another folder must still move it."""
    import jax.numpy as jnp
    before, min_time = compile_cache.directory(), jax.config.jax_persistent_cache_min_compile_time_secs
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    try:
        compile_cache.enable(first)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # store even these small programs
        jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.25)(jnp.arange(7.0)).block_until_ready()
        in_first = set(os.listdir(first))
        assert in_first
        compile_cache.enable(second)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.jit(lambda x: jnp.cos(x) * 5.0 - 0.5)(jnp.arange(9.0)).block_until_ready()
        assert os.listdir(second) and set(os.listdir(first)) == in_first
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_time)
        if before:
            compile_cache.enable(before)
        else:
            compile_cache.disable()


def _sweep(sweep_script, cache):
    tasks, _ = sweep_script.small_problem(n_seeds=1)
    runs = sweep.grid(dataset=["xor"], width=[4, 8, 16], target=["hard", "soft"], seed=[0, 1], lr=[1.0])
    return sweep.run_sweep(runs, tasks, sweep.EngineOptions(steps=(3, 9)), progress=False, cache=cache)


def test_a_rerun_loads_the_stored_programs_and_gives_the_same_rows(cache_dir, sweep_script):
    first_cache = sweep.ProgramCache()
    first = _sweep(sweep_script, first_cache)
    stored = sorted(os.listdir(compile_cache.program_directory()))
    assert first_cache.loaded == 0 and len(stored) == 2 and all(f.endswith(".pkl") for f in stored)  # init, advance
    jax.clear_caches()
    again_cache = sweep.ProgramCache()
    again = _sweep(sweep_script, again_cache)
    assert again_cache.loaded == 2 and sorted(os.listdir(compile_cache.program_directory())) == stored
    assert again.rows == first.rows
    # other options are another program: compiled, not loaded
    other_cache = sweep.ProgramCache()
    tasks, _ = sweep_script.small_problem(n_seeds=1)
    sweep.run_sweep(sweep.grid(dataset=["xor"], width=[4], target=["hard"], seed=[0]), tasks,
                    sweep.EngineOptions(steps=(3, 9)), progress=False, cache=other_cache)
    assert other_cache.loaded == 0 and len(os.listdir(compile_cache.program_directory())) == 4


def test_a_damaged_stored_program_is_compiled_again(cache_dir, sweep_script):
    first = _sweep(sweep_script, sweep.ProgramCache())
    folder = compile_cache.program_directory()
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "r+b") as fh:
            fh.truncate(100)
    jax.clear_caches()
    cache = sweep.ProgramCache()
    with pytest.warns(UserWarning, match="cannot be loaded .* compiling again"):
        again = _sweep(sweep_script, cache)
    assert cache.loaded == 0 and again.rows == first.rows
    # removed, and stored anew only when compiled afresh (not from JAX's cache: next test)
    assert all(os.path.getsize(os.path.join(folder, f)) > 100 for f in os.listdir(folder))


def test_a_program_loaded_from_jaxs_cache_is_not_stored(cache_dir, sweep_script):
    """On XLA's CPU backend an executable that JAX loaded from its persistent cache serialises without its
    compiled functions: stored, it failed the next run ("Function bitcast_gather_fusion not found"). Deleting
    the stored programs between two runs made the second compile a JAX-cache hit, the third run the failure."""
    import shutil
    first = _sweep(sweep_script, sweep.ProgramCache())
    folder = compile_cache.program_directory()
    assert len(os.listdir(folder)) == 2
    shutil.rmtree(folder)
    jax.clear_caches()
    second = _sweep(sweep_script, sweep.ProgramCache())      # both programs from JAX's cache: not stored
    assert not os.path.isdir(folder) or not os.listdir(folder)
    jax.clear_caches()
    third = _sweep(sweep_script, sweep.ProgramCache())
    assert second.rows == first.rows and third.rows == first.rows


def test_without_the_cache_nothing_is_stored(sweep_script, tmp_path):
    before = compile_cache.directory()
    compile_cache.disable()
    try:
        cache = sweep.ProgramCache()
        _sweep(sweep_script, cache)
        assert compile_cache.program_directory() is None and cache.loaded == 0
    finally:
        if before:
            compile_cache.enable(before)


def test_the_least_recently_used_programs_go_first(tmp_path):
    for i, size in enumerate([300, 300, 300]):
        path = tmp_path / f"p{i}.pkl"
        path.write_bytes(b"x" * size)
        os.utime(path, (1000 + i, 1000 + i))
    (tmp_path / "other.txt").write_bytes(b"y" * 5000)   # not a program: left alone
    compile_cache._prune(str(tmp_path), limit=650)
    assert sorted(os.listdir(tmp_path)) == ["other.txt", "p1.pkl", "p2.pkl"]
