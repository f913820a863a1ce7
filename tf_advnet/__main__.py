"""`python -m tf_advnet <command> ...`: the same as the `tf-advnet` command."""

import sys

from tf_advnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
