"""Notebooks agree with their jupytext sources and the repository URL, and run top
to bottom (tiny size)."""

import importlib.util
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sync_module():
    spec = importlib.util.spec_from_file_location(
        "nb_sync", os.path.join(ROOT, "notebooks", "sync.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SYNC = _sync_module()


def test_every_source_is_listed():
    names = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "notebooks", "src"))
                   if f.endswith(".py"))
    assert names == sorted(SYNC.NAMES)


def _cells(nb):
    return [(c.cell_type, c.source) for c in nb.cells if c.cell_type in ("code", "markdown")]


@pytest.mark.parametrize("name", SYNC.NAMES)
def test_notebook_matches_source(name):
    """The committed .ipynb holds exactly the source's cells (outputs aside)."""
    source = jupytext.read(SYNC.source_path(name))
    committed = nbformat.read(SYNC.notebook_path(name), as_version=4)
    assert _cells(committed) == _cells(source), (
        "notebook out of date: run python notebooks/sync.py")


@pytest.mark.parametrize("name", SYNC.NAMES)
def test_committed_notebook_has_outputs(name):
    """GitHub shows what a run printed and drew: every notebook is stored executed,
    with no error, and with its figures where its source draws any."""
    nb = nbformat.read(SYNC.notebook_path(name), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs, "no outputs stored: run python notebooks/sync.py --execute"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    with open(SYNC.source_path(name)) as f:
        draws = "plt." in f.read()
    if draws:
        assert any("image/png" in o.get("data", {}) for o in outputs), (
            "no figure stored: run python notebooks/sync.py --execute")


def test_repository_url_is_written_everywhere():
    """pyproject's [project.urls] Repository is the one place: the set-up cells, the
    badges and the README's notebook list are generated from it."""
    assert SYNC.out_of_date() == [], "run python notebooks/sync.py"
    repo = SYNC.repository_url()
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for name in SYNC.NAMES:
        with open(SYNC.source_path(name)) as f:
            text = f.read()
        assert text.count('# %% tags=["colab-setup"]') == 1
        assert f'REPO = os.environ.get("TF_ADVNET_REPO", "{repo}")' in text
        assert SYNC.colab_url(repo, name) in text and SYNC.colab_url(repo, name) in readme


def test_colab_url_from_repository():
    assert SYNC.colab_url("https://github.com/o/r", "bat") == (
        "https://colab.research.google.com/github/o/r/blob/main/notebooks/bat.ipynb")
    with pytest.raises(ValueError, match="is not https://github.com/<owner>/<name>"):
        SYNC.colab_url("https://gitlab.com/o/r", "bat")


# quickstart trains and attacks for about 43 s on 2 CPU cores (the last full run); the
# others stay under 20 s.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  if n == "quickstart" else n for n in SYNC.NAMES])
def test_notebook_executes(name, monkeypatch):
    monkeypatch.setenv("TF_ADVNET_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("PYTHONPATH", ROOT)
    nb = nbformat.read(SYNC.notebook_path(name), as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # The set-up cell's quiet start-up: no TensorFlow C++ line in any output.
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "oneDNN" not in text and "absl::InitializeLog" not in text
