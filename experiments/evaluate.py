"""`tf-advnet evaluate` (tf_advnet/cli/evaluate.py); `--help` lists its flags."""

import sys

from tf_advnet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("evaluate", sys.argv[1:]))
