"""The local Qwen-Omni-Realtime service: ``omnichat serve`` and the test bed.

``Emulator`` serves ``ws://HOST:PORT/api-ws/v1/realtime?model=MODEL`` on loopback; see
``server.py`` for its threads, ``session.py`` for one session, ``vad.py`` for turn taking,
``responder.py`` for responses and ``faults.py`` for fault injection.
"""

from omnichat.emulator.faults import Faults
from omnichat.emulator.server import Emulator, Settings

__all__ = ["Emulator", "Faults", "Settings"]
