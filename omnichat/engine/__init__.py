"""The conversation engine: a pure state machine, and the threads around one connection.

::

    commands (any thread) --+                       +--> Send ---------> Outbox --> omnichat-send
    server events (recv) ---+--> ConversationState -+--> PlayAudio/Flush -> PlaybackBuffer
    tick(now) (main) -------+    (pure; state.py)   +--> ViewUpdate -----> updates --> main/view
    heard (playback tap) ---+                       +--> RecordTurn -----> conversation, on_turn

``state`` decides (no I/O); ``engine`` runs the threads and carries out actions;
``connection`` is one socket with its generation and microphone clock, plus the outbox;
``heard`` turns the playback tap into "first sample heard"; ``commands``/``actions`` are the
typed inputs and outputs; ``turns`` the data that outlives a socket; ``updates`` what the
view gets. docs/architecture.md has the whole picture.
"""

from omnichat.engine.engine import Engine
from omnichat.engine.state import ConversationState
from omnichat.engine.turns import Conversation, Turn, split_heard

__all__ = ["Conversation", "ConversationState", "Engine", "Turn", "split_heard"]
