"""The Qwen-Omni-Realtime protocol as pure functions and values: no sockets, no threads.

``decode`` turns a text frame into an ``Event`` (a typed subclass for every event in
docs/protocol.md, a generic ``Event`` for anything else); ``encode`` turns an event back into a
frame. ``client`` holds builders for what a client sends, ``server`` the parsers of what the
service sends and ``server_build`` their builders; the omnichat client and the emulator both
use this package.
"""

from omnichat.errors import ProtocolError  # noqa: F401  (re-exported)
from omnichat.protocol.client import *  # noqa: F403
from omnichat.protocol.events import (  # noqa: F401
    Event,
    b64decode,
    b64encode,
    decode,
    encode,
    from_dict,
    make,
    registered_types,
)
from omnichat.protocol.ids import new_call_id, new_event_id, new_id  # noqa: F401
from omnichat.protocol.server import *  # noqa: F403
from omnichat.protocol.server_build import *  # noqa: F403

CLIENT_EVENT_TYPES = frozenset({
    SESSION_UPDATE, INPUT_AUDIO_APPEND, INPUT_AUDIO_COMMIT, INPUT_AUDIO_CLEAR,  # noqa: F405
    INPUT_IMAGE_APPEND, ITEM_CREATE, RESPONSE_CREATE, RESPONSE_CANCEL, SESSION_FINISH,  # noqa: F405
})
SERVER_EVENT_TYPES = registered_types() - CLIENT_EVENT_TYPES
