"""The margin experiment from the command line (moved from test_launcher; to be rewritten with the port)."""
import json
import os


def test_margin_end_to_end(tmp_path, launch):
    out = tmp_path / "margin"
    done = launch("--experiment=margin", f"--out={out}", "--config.digits_variants=('reduced',)",
                  "--config.xor_dims=(3,4,5)", "--config.num_gates=512", "--config.xor_num_gates=512",
                  "--config.gate_seeds=2", "--config.fresh_gates=1024", "--config.vstar_fresh_gates=0",
                  "--config.svm=False")
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"config.json", "results.json", "runs.csv", "margin.md", "margin.png"} <= set(os.listdir(out))
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "margin" and len(results["rows"]) == 4
    for row in results["rows"]:
        assert 0 < row["gamma_K_lower"] <= row["gamma_K_upper"] <= row["norm_bound"]
        assert row["gate_seeds"] == 2 and row["gamma_upper_fresh_se"] > 0
    xor = [r for r in results["rows"] if r["family"] == "noisy_xor"]
    assert xor[0]["gamma_K"] > xor[-1]["gamma_K"]  # γ falls with d


def test_margin_bad_dims_are_refused(tmp_path, launch):
    done = launch("--experiment=margin", f"--out={tmp_path / 'out'}", "--config.xor_dims=(2,3)")
    assert done.returncode != 0 and "xor_dims" in done.stderr and not (tmp_path / "out").exists()
