"""``python -m streamt2v`` = the ``streamt2v`` command (also for launchers: ``accelerate launch -m streamt2v``)."""

import sys

from streamt2v.cli import entry

if __name__ == "__main__":
    sys.exit(entry())
