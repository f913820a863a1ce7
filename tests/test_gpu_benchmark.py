"""benchmarks/gpu.py --dry_run: every code path of the GPU benchmark runs on the CPU
(each trainer's step, XLA, mixed precision, PGD overhead, cleverhans), and the JSON
records what each cell measured."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The tests that use this fixture are marked slow: it alone takes about 23 s
# on 2 CPU cores (CI, commit e91f0ad).
@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "gpu_dry_run.json"
    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu.py"),
                           "--dry_run", f"--out={out}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as fh:
        return json.load(fh)


@pytest.mark.slow
def test_every_cell_trains(dry_run):
    cells = dry_run["cells"]
    seen = {(c["method"], c["xla"], c["mixed_precision"]) for c in cells}
    for method in ("standard", "pgd_at", "bat", "l2lda", "deepdefense"):
        assert (method, False, False) in seen
    assert ("standard", True, False) in seen
    assert ("deepdefense", False, True) in seen
    for c in cells:
        assert "error" not in c and "skipped" not in c, c
        assert c["images_per_s"] > 0 and c["median_step_s"] > 0
        assert c["images_per_s"] == pytest.approx(dry_run["batch"] / c["median_step_s"])
        expected = "float16" if c["mixed_precision"] else "float32"
        assert c["classifier_compute_dtype"] == expected
        # float16 compute, float32 losses: the logged losses are finite numbers.
        assert all(v == v and abs(v) < 1e6 for v in c["final_logs"].values())


@pytest.mark.slow
def test_attack_rows_and_provenance(dry_run):
    overhead = dry_run["attacks"]["overhead"]
    for k in (10, 40):
        assert overhead[f"pgd{k}_ratio"] == pytest.approx(
            overhead[f"pgd{k}_s"] / (k * overhead["grad_pass_s"]))
    assert "pgd10_xla_s" in overhead
    (_, row), = [(k, v) for k, v in dry_run["attacks"].items()
                    if k.startswith("vs_cleverhans")]
    if "skipped" not in row:
        assert row["ratio"] == pytest.approx(row["ours_s"] / row["cleverhans_s"])
    prov = dry_run["provenance"]
    assert prov["preset"] == "dry_run" and prov["versions"]["tensorflow"]
    assert dry_run["dry_run"] and dry_run["device"] == "cpu"
