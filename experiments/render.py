"""Regenerate eval.md and the plots of a results directory from its eval.json.

  python experiments/render.py --results_dir=results/demo/fashion_mnist
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

from tf_advnet.errors import UserError  # noqa: E402

_DIR = flags.DEFINE_string("results_dir", None, "directory holding eval.json")


def main(argv):
    del argv  # run_main rejects positional arguments
    if not _DIR.value:
        raise UserError("--results_dir is required: a directory holding eval.json")
    from tf_advnet.runs.evaluate import render

    print(f"rendered {render(_DIR.value)}")


if __name__ == "__main__":
    run_main(main)
