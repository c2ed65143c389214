"""The local Qwen-Omni-Realtime service: ``omnichat serve`` and the test bed.

``Emulator`` serves ``ws://HOST:PORT/api-ws/v1/realtime?model=MODEL`` on loopback; see
``server.py`` for its threads, ``connection.py`` for one connection, ``vad.py`` for turn taking,
``responder.py`` for responses and ``faults.py`` for fault injection.
"""

from omnichat.emulator.faults import Faults
from omnichat.emulator.options import EmulatorOptions, TranscriptionMode
from omnichat.emulator.server import Emulator

__all__ = ["Emulator", "EmulatorOptions", "Faults", "TranscriptionMode"]
