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


def _setup_cell(name):
    nb = nbformat.read(SYNC.notebook_path(name), as_version=4)
    cells = [c.source for c in nb.cells if "colab-setup" in c.metadata.get("tags", [])]
    assert len(cells) == 1, name
    return cells[0]


# Every notebook runs in one kernel, each after `%reset -f` (its own names only: a
# name it does not define or import is a NameError, as in a fresh kernel): one
# TensorFlow start-up instead of one per notebook, about 6 s each on 2 CPU cores.
# The whole run takes about 68 s (CI, commit e91f0ad).
_RESET = ("import matplotlib.pyplot as _plt\n_plt.close('all')\n"
          "import keras as _keras\n_keras.backend.clear_session()\n%reset -f")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """{name: its code cells' outputs}, all notebooks executed at the tiny setting in
    one kernel; an error stops that notebook's outputs from being clean but not the
    others' run."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TF_ADVNET_NOTEBOOK_TINY", "1")
    mp.setenv("CUDA_VISIBLE_DEVICES", "")
    mp.setenv("PYTHONPATH", ROOT)
    try:
        combined = nbformat.v4.new_notebook()
        owner = []
        for i, name in enumerate(SYNC.NAMES):
            nb = nbformat.read(SYNC.notebook_path(name), as_version=4)
            if i:
                combined.cells.append(nbformat.v4.new_code_cell(_RESET))
                owner.append(None)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = []
                    combined.cells.append(cell)
                    owner.append(name)
        client = nbclient.NotebookClient(
            combined, timeout=600, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}})
        client.execute()
    finally:
        mp.undo()
    out = {name: [] for name in SYNC.NAMES}
    for name, cell in zip(owner, combined.cells, strict=True):
        if name is None:  # the reset between notebooks
            assert not [o for o in cell.outputs if o.get("output_type") == "error"]
        else:
            out[name].extend(cell.get("outputs", []))
    return out


def test_every_notebook_has_the_same_setup_cell():
    """So the quiet start-up seen in the first notebook of the shared kernel (the one
    that imports TensorFlow) holds for each notebook in a kernel of its own."""
    first = _setup_cell(SYNC.NAMES[0])
    assert "quiet_tensorflow()" in first
    assert [_setup_cell(n) for n in SYNC.NAMES] == [first] * len(SYNC.NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", SYNC.NAMES)
def test_notebook_executes(name, executed):
    outputs = executed[name]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, "\n".join(f"{e.get('ename')}: {e.get('evalue')}" for e in errors)
    assert outputs
    # The set-up cell's quiet start-up: no TensorFlow C++ line in any output.
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "oneDNN" not in text and "absl::InitializeLog" not in text
