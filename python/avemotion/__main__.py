"""``python -m avemotion ...``: the same command line as the ``avemotion`` console script."""

import sys

from avemotion.cli import main

if __name__ == "__main__":  # not when imported (multiprocessing's spawn re-imports the main module)
    sys.exit(main())
