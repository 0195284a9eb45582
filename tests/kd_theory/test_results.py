"""Results files: the resumable store, a damaged store file, the permissions of written files, the
lock on an output folder (held by another process, stale, from another host)."""
import json
import os
import platform
import re
import stat
import subprocess
import sys

import numpy as np
import pytest

from kd_theory import results
from kd_theory.results import CorruptResultWarning, OutputDir, OutputLocked, ResultStore, StaleLockWarning

ROWS = [{"model": "teacher", "seed": 0, "test_acc": 0.9}, {"model": "hard", "seed": 0, "test_acc": 0.75}]


def test_key_is_the_hash_of_the_payload_whatever_its_order_and_number_types():
    payload = {"noise_var": 0.5, "settings": {"seed": 3, "widths": [8, 16]}}
    key = ResultStore.key(payload)
    assert re.fullmatch(r"[0-9a-f]{24}", key)
    assert ResultStore.key({"settings": {"widths": (8, 16), "seed": np.int64(3)}, "noise_var": np.float32(0.5)}) == key
    assert ResultStore.key({"noise_var": 0.25, "settings": {"seed": 3, "widths": [8, 16]}}) != key
    assert ResultStore.key({**payload, "extra": None}) != key
    with pytest.raises(TypeError, match="must be JSON data; got a object"):
        ResultStore.key({"what": object()})


def test_a_rerun_reuses_the_stored_units(tmp_path):
    store = ResultStore(str(tmp_path), "levels", prefix="level")
    first, second = store.key({"v": 0.0}), store.key({"v": 0.5})
    assert store.get(first) is None and store.load() == {}
    path = store.put(first, ROWS, {"noise_var": 0.0})
    assert os.path.dirname(path) == str(tmp_path / "levels") and os.path.basename(path).startswith("level-")
    store.put_many({second: ROWS[:1], "third": [{"test_acc": float("nan")}]}, {"chunk": 1})
    assert store.get(first) == ROWS
    again = ResultStore(str(tmp_path), "levels", prefix="level")   # a new process reads the files
    assert set(again.load()) == {first, second, "third"}
    assert again.get(first) == ROWS and again.get(second) == ROWS[:1]
    assert np.isnan(again.get("third")[0]["test_acc"])              # a diverged run's NaN survives
    assert ResultStore(str(tmp_path), "other").load() == {}              # namespaces do not mix
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh)["info"] == {"noise_var": 0.0}
    with pytest.raises(TypeError, match="rows of 'k' must be a list of dicts"):
        store.put("k", {"test_acc": 1.0})


def _change_a_number(text: str) -> str:
    """The file with the first digit after a colon inside "runs" changed: still valid JSON, a wrong number."""
    at = text.index('"runs"')
    at = next(i for i in range(at, len(text)) if text[i].isdigit() and text[i - 2] == ":")
    return text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1:]


@pytest.mark.parametrize("damage, problem", [
    ("truncated", "Unterminated string|Expecting"),
    ("not an object", 'not an object with a "runs" object'),
    ("rows not a list", r'"runs"\[.*\] is not a list of rows'),
    ("not utf-8", "codec can't decode"),
    ("a changed digit", '"sha256" does not match its runs'),
])
def test_a_damaged_file_is_moved_aside_with_a_warning_naming_it(tmp_path, damage, problem):
    store = ResultStore(str(tmp_path), "levels", prefix="level")
    keep, lose = store.key({"v": 1}), store.key({"v": 2})
    store.put(keep, ROWS)
    path = store.put(lose, ROWS)
    text = open(path, encoding="utf-8").read()
    bad = {"truncated": text[: len(text) // 2].encode(),
           "not an object": json.dumps(list(json.loads(text)["runs"].values())).encode(),
           "rows not a list": json.dumps({"info": None, "runs": {lose: {"test_acc": 0.9}}}).encode(),
           "not utf-8": b"\xff\xfe" + text.encode(),
           "a changed digit": _change_a_number(text).encode()}[damage]
    with open(path, "wb") as fh:
        fh.write(bad)
    again = ResultStore(str(tmp_path), "levels", prefix="level")
    with pytest.warns(CorruptResultWarning, match=re.escape(path) + rf" is not a readable level file \(.*({problem})"):
        assert again.get(lose) is None
    assert again.get(keep) == ROWS                           # the other units are still reused
    assert not os.path.exists(path) and open(path + ".corrupt", "rb").read() == bad
    again.put(lose, ROWS)                                    # computed again, stored under the same name
    assert ResultStore(str(tmp_path), "levels", prefix="level").get(lose) == ROWS
    with open(path, "wb") as fh:                             # damaged twice: the first copy is kept too
        fh.write(bad)
    with pytest.warns(CorruptResultWarning, match=re.escape(path + ".corrupt-2")):
        ResultStore(str(tmp_path), "levels", prefix="level").load()
    assert os.path.exists(path + ".corrupt")


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_written_files_have_the_usual_permissions(tmp_path, umask):
    previous = os.umask(umask)
    try:
        out = OutputDir(str(tmp_path / "out"))
        written = [out.write_json("results.json", {"a": 1}), out.write_csv("runs.csv", [{"a": 1}]),
                   ResultStore(out.path, "chunks", prefix="chunk").put("k", ROWS)]
        written.append(out.write_text("results.json", "replaced\n"))   # an existing file replaced
    finally:
        os.umask(previous)
    for path in written:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask, path
    assert not [f for f in os.listdir(out.path) if f.startswith(".tmp-")]


# a second process: takes the lock on argv[1], says so, then holds it until stdin closes ("hold") or
# exits without releasing it ("die", as a killed run would)
HOLDER = """
import os, sys
from kd_theory.results import acquire_output_lock, release_output_lock
lock = acquire_output_lock(sys.argv[1])
print("locked", flush=True)
if sys.argv[2] == "die":
    os._exit(0)
sys.stdin.readline()
release_output_lock(lock)
"""


def _holder(folder, mode, repo):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), mode], cwd=repo, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == "locked\n", proc.stderr.read()
    return proc


def test_a_folder_locked_by_a_running_process_is_refused_naming_it(tmp_path, repo):
    folder = tmp_path / "out"
    holder = _holder(folder, "hold", repo)
    try:
        lock_file = str(folder / results.LOCK_FILE)
        with pytest.raises(OutputLocked) as err:
            results.acquire_output_lock(str(folder))
        message = str(err.value)
        assert f"pid {holder.pid} on host {platform.node()}, started 20" in message
        assert f"lock file {lock_file}" in message and f"delete {lock_file}" in message
        assert os.path.exists(lock_file)                       # the refused run leaves the lock alone
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0 and not os.path.exists(lock_file)
    with results.lock_output_dir(str(folder)) as lock:        # released: free again
        with open(lock.path, encoding="utf-8") as fh:
            assert json.load(fh)["pid"] == os.getpid()
    assert not os.path.exists(lock_file)


def test_the_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, repo):
    folder = tmp_path / "out"
    dead = _holder(folder, "die", repo)
    dead.wait(timeout=30)
    assert os.path.exists(folder / results.LOCK_FILE)
    with pytest.warns(StaleLockWarning, match=f"no longer running: pid {dead.pid} on host {platform.node()}"):
        lock = results.acquire_output_lock(str(folder))
    with open(lock.path, encoding="utf-8") as fh:
        assert json.load(fh)["token"] == lock.token
    results.release_output_lock(lock)
    assert os.listdir(folder) == []


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/stat"), reason="no /proc to tell processes apart")
def test_a_lock_whose_pid_now_belongs_to_another_process_is_stale(tmp_path):
    # the pid of the lock is alive (our parent) but started at another time: a reused pid (containers!)
    holder = {"pid": os.getppid(), "host": platform.node(), "process_start": "1", "started_utc": "then"}
    (tmp_path / results.LOCK_FILE).write_text(json.dumps(holder))
    with pytest.warns(StaleLockWarning, match=f"pid {os.getppid()}"):
        results.release_output_lock(results.acquire_output_lock(str(tmp_path)))


def test_locks_that_cannot_be_judged_are_held(tmp_path):
    lock_file = tmp_path / results.LOCK_FILE
    lock_file.write_text(json.dumps({"pid": 1, "host": "another-host", "started_utc": "2024-01-01T00:00:00Z"}))
    with pytest.raises(OutputLocked, match="pid 1 on host another-host, started 2024-01-01T00:00:00Z"):
        results.acquire_output_lock(str(tmp_path))
    lock_file.write_text("")
    with pytest.raises(OutputLocked, match=f"names no owner; .*delete {re.escape(str(lock_file))}"):
        results.acquire_output_lock(str(tmp_path))


def test_one_process_cannot_lock_a_folder_twice_and_an_unused_new_folder_is_removed(tmp_path):
    folder = tmp_path / "new" / "out"
    with results.lock_output_dir(str(folder)):
        with pytest.raises(OutputLocked, match=f"pid {os.getpid()}"):
            results.acquire_output_lock(str(folder))
    assert not (tmp_path / "new").exists()                     # a failed run leaves no empty folder behind
    with results.lock_output_dir(str(folder)):
        OutputDir(str(folder)).write_text("results.json", "{}\n")
    assert os.listdir(folder) == ["results.json"]


def test_rows_read_back_from_csv_are_the_rows_written():
    rows = [{"dataset": "full", "width": 4, "lr": 0.1 + 0.2, "B": None, "acc": float(np.float32(0.9133)),
             "diverged": False, "loss": float("nan"), "big": float("inf"), "steps": 1000},
            {"dataset": "reduced", "width": 8, "lr": 2048.0, "B": 4.0, "acc": 1e-300, "diverged": True,
             "loss": -0.0, "big": 3.0, "steps": 10, "extra": "x y"}]
    back = results.rows_from_csv(results.rows_to_csv(rows))
    assert back[0].pop("extra") is None                       # a column the first row lacked reads None
    for written, read in zip(rows, back, strict=True):
        assert read.keys() == written.keys()
        for key, value in written.items():
            got = read[key]
            assert type(got) is type(value), (key, got, value)
            assert got == value or (value != value and got != got), (key, got, value)
