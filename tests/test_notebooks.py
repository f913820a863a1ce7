"""Notebooks are in sync with their text sources and run top to bottom (tiny size)."""

import glob
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "notebooks", "src", "*.py")))


def _build_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "nb_build", os.path.join(ROOT, "notebooks", "build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("source", SOURCES, ids=os.path.basename)
def test_notebook_matches_source(source):
    build = _build_module()
    with open(build.target_path(source)) as f:
        committed = f.read()
    assert committed == build.render(build.build(source)), (
        "notebook out of date: run python notebooks/build.py")


@pytest.mark.parametrize("source", SOURCES, ids=os.path.basename)
def test_notebook_executes(source, monkeypatch):
    build = _build_module()
    monkeypatch.setenv("TF_ADVNET_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("PYTHONPATH", ROOT)
    nb = nbformat.read(build.target_path(source), as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
