"""`tf-advnet render` (tf_advnet/cli/render.py); `--help` lists its flags."""

import sys

from tf_advnet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("render", sys.argv[1:]))
