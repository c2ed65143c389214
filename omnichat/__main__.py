"""The process entry point of ``omnichat`` and ``python -m omnichat``.

It installs the SIGTERM/SIGHUP handlers first (``omnichat.terminal.signals``) and imports the CLI
inside ``main``, so that a Ctrl+C or a SIGTERM arriving while the modules are still loading
ends like any other (one line, exit 130, or 143/129 for SIGTERM/SIGHUP) instead of with a
traceback or silently. The CLI reports an interrupted command as exit 130; when a signal was
the cause, the code is turned into the signal's here.
"""

from __future__ import annotations

import sys

from omnichat.terminal import signals

INTERRUPTED_EXIT_CODE = 130  # omnichat.errors.ExitCode.INTERRUPTED, without importing it


def main() -> None:
    signals.install()
    try:
        from omnichat.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as exc:
        reason = exc if isinstance(exc, signals.Terminated) else "interrupted"
        sys.stderr.write(f"omnichat: {reason}\n")
        sys.exit(signals.exit_code(INTERRUPTED_EXIT_CODE))
    except SystemExit as exc:
        if exc.code == INTERRUPTED_EXIT_CODE:
            sys.exit(signals.exit_code(INTERRUPTED_EXIT_CODE))
        raise


if __name__ == "__main__":
    main()
