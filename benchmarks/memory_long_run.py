"""Memory over a long conversation: two hours of audio-time through the emulator, compressed.

Not a test (nothing is asserted). The code is ``omnichat.bench.long_run`` (also run by
``omnichat bench --long``); see docs/benchmarks.md.

    .venv/bin/python benchmarks/memory_long_run.py            # 2 h of audio-time, ~1-3 min
    .venv/bin/python benchmarks/memory_long_run.py --hours 0.2
"""

from omnichat.bench.long_run import main

if __name__ == "__main__":
    main()
