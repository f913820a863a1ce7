"""`tf-advnet reproduce advnet` (tf_advnet/cli/reproduce_advnet.py): `--help` lists its flags."""

import sys

from tf_advnet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("reproduce", sys.argv[1:], paper="advnet"))
