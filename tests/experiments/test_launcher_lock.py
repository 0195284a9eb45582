"""Two runs into one --out: the second is refused (exit code 2), naming the first and its lock file."""
import os
import platform
import subprocess
import sys

# another run: holds the lock on argv[1] until its stdin closes
HOLDER = """
import sys
from kd_theory.results import lock_output_dir
with lock_output_dir(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(tmp_path, launch, repo):
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=repo, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout.readline() == "locked\n", first.stderr.read()
        second = launch("--experiment=table1", "--preset=tiny", f"--out={out}", timeout=120)
    finally:
        first.communicate("\n", timeout=30)
    lock_file = os.path.join(str(out), "run.lock")
    assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-2000:]
    assert second.stderr.startswith(f"error: {out} is in use by another run: pid {first.pid} on host "
                                    f"{platform.node()}, started 20"), second.stderr[-2000:]
    assert f"(lock file {lock_file})" in second.stderr and f"delete {lock_file}" in second.stderr
    assert not out.exists()   # the refused run wrote nothing; the first made the folder and removed it, empty
