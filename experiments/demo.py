"""`tf-advnet demo` (tf_advnet/cli/demo.py); `--help` lists its flags."""

import sys

from tf_advnet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("demo", sys.argv[1:]))
