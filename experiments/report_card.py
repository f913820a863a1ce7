"""`tf-advnet report-card` (tf_advnet/cli/report_card.py); `--help` lists its flags."""

import sys

from tf_advnet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("report-card", sys.argv[1:]))
