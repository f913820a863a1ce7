"""Regenerate the Markdown (and plots) of a results directory from its JSON.

  python experiments/render.py --results_dir=results/demo/fashion_mnist
  python experiments/render.py --results_dir=results/report_card/fashion_mnist
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

from tf_advnet.errors import UserError  # noqa: E402

_DIR = flags.DEFINE_string("results_dir", None,
                           "directory holding eval.json or report_card.json")


def main(argv):
    del argv  # run_main rejects positional arguments
    if not _DIR.value:
        raise UserError("--results_dir is required: a directory holding eval.json or "
                        "report_card.json")
    import os

    if os.path.exists(os.path.join(_DIR.value, "report_card.json")):
        from tf_advnet.runs.report_card_report import rerender

        print(f"rendered {rerender(_DIR.value)}")
        return
    from tf_advnet.runs.evaluate import render

    print(f"rendered {render(_DIR.value)}")


if __name__ == "__main__":
    run_main(main)
