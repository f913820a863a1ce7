"""`tf-advnet train` (tf_advnet/cli/train.py); `--help` lists its flags."""

import sys

from tf_advnet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("train", sys.argv[1:]))
