"""Regenerate the Markdown (and plots) of a results directory from its JSON.

Any study's results (`tf_advnet.papers`): eval.json, bat.json, deepdefense.json,
sweep.json, advnet.json, l2lda.json, pgn.json, report_card.json.

  tf-advnet render --results_dir=results/demo/fashion_mnist
  tf-advnet render --results_dir=results/bat/fashion_mnist
  tf-advnet render --results_dir=results   # every diagnostic and results/diagnostics.md
"""

from tf_advnet.cli._command import Command
from tf_advnet.errors import UserError

COMMAND = Command("render", __doc__)
_DIR = COMMAND.string("results_dir", None, "directory holding a study's results JSON")


def main():
    from tf_advnet.papers import _study

    if not _DIR.value:
        raise UserError("--results_dir is required: a directory holding a study's "
                        "results JSON (" + ", ".join(sorted(_study.results_files())) + ")")
    for path in _study.rerender(_DIR.value):
        print(f"rendered {path}")
