"""Regenerate the Markdown (and plots) of a results directory from its JSON.

  tf-advnet render --results_dir=results/demo/fashion_mnist
  tf-advnet render --results_dir=results/report_card/fashion_mnist
"""

from tf_advnet.cli._command import Command
from tf_advnet.errors import UserError

COMMAND = Command("render", __doc__)
_DIR = COMMAND.string("results_dir", None, "directory holding eval.json or report_card.json")


def main():
    import os

    if not _DIR.value:
        raise UserError("--results_dir is required: a directory holding eval.json or "
                        "report_card.json")
    if os.path.exists(os.path.join(_DIR.value, "report_card.json")):
        from tf_advnet.papers.report_card.report import rerender

        print(f"rendered {rerender(_DIR.value)}")
        return
    from tf_advnet.pipelines.evaluate import render

    print(f"rendered {render(_DIR.value)}")
