"""The process entry point of ``omnichat`` and ``python -m omnichat``.

It imports the CLI inside ``main`` so that a Ctrl+C pressed while the modules are still
loading ends like any other Ctrl+C (one line, exit 130) instead of with a traceback.
"""

from __future__ import annotations

import sys

INTERRUPTED_EXIT_CODE = 130  # omnichat.errors.ExitCode.INTERRUPTED, without importing it


def main() -> None:
    try:
        from omnichat.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("omnichat: interrupted\n")
        sys.exit(INTERRUPTED_EXIT_CODE)


if __name__ == "__main__":
    main()
