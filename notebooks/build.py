"""Builds notebooks/*.ipynb from their text sources in notebooks/src/*.py.

The sources are the reviewed form (percent format: `# %%` starts a code cell,
`# %% [markdown]` a Markdown cell whose lines are `# `-commented; `# %% [setup]` is
replaced by the code cell in notebooks/setup_cell.ipy, the Colab set-up that every
notebook runs first, kept in one place). Run
`python notebooks/build.py` after editing a source; `tests/test_notebooks.py`
fails when a notebook and its source disagree, and executes every notebook.
"""

import glob
import os
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
SETUP_MARKER = "# %% [setup]"


def setup_cell_text():
    with open(os.path.join(HERE, "setup_cell.ipy")) as f:
        return f.read().strip("\n")


def cells_from_source(text):
    cells, kind, lines = [], None, []

    def flush():
        body = "\n".join(lines).strip("\n")
        if kind is not None and body:
            if kind == "markdown":
                body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#")
                                 for l in body.split("\n"))
                cells.append(nbformat.v4.new_markdown_cell(body))
            else:
                cells.append(nbformat.v4.new_code_cell(body))

    for line in text.split("\n"):
        if line.strip() == SETUP_MARKER:
            flush()
            cells.append(nbformat.v4.new_code_cell(setup_cell_text()))
            kind, lines = None, []
        elif line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build(source_path):
    with open(source_path) as f:
        nb = nbformat.v4.new_notebook(cells=cells_from_source(f.read()))
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"},
                   "language_info": {"name": "python"},
                   "colab": {"provenance": []}}
    return nb


def target_path(source_path):
    name = os.path.splitext(os.path.basename(source_path))[0] + ".ipynb"
    return os.path.join(HERE, name)


def render(nb):
    # Cell ids are random in nbformat >= 5.1; fix them so builds are reproducible.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nbformat.writes(nb) + "\n"


def main():
    for src in sorted(glob.glob(os.path.join(HERE, "src", "*.py"))):
        with open(target_path(src), "w") as f:
            f.write(render(build(src)))
        print("wrote", target_path(src))
    return 0


if __name__ == "__main__":
    sys.exit(main())
