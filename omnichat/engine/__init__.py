"""The conversation engine: threads around one socket, turn state, barge-in, latency.

``Engine`` (session.py: threads, lifecycle, the main-thread clock; receive.py: server events,
barge-in, finished turns) runs a conversation; ``turns`` holds the data that outlives a socket;
``updates`` are the values the engine hands to the view on the main thread.
"""

from omnichat.engine.session import Engine
from omnichat.engine.turns import Conversation, Turn, split_heard

__all__ = ["Conversation", "Engine", "Turn", "split_heard"]
