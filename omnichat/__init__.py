"""omnichat: a terminal voice client for Alibaba Cloud's Qwen-Omni-Realtime models.

The package is layered so each part can be used and tested alone:
``catalog`` (models, voices, token rules), ``config`` (settings), ``protocol`` (pure event
encoding), ``emulator`` (the local service), ``audio`` (devices and buffers), ``transport``
(the WebSocket), ``engine`` (the conversation) and ``cli`` (the Typer front-end).
"""

__version__ = "0.1.0"
