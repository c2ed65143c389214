"""omnichat: a terminal voice client for Alibaba Cloud's Qwen-Omni-Realtime models.

The package is layered so each part can be used and tested alone:
``catalog`` (models, voices, token rules), ``config`` (settings), ``protocol`` (pure event
encoding), ``emulator`` (the local service), ``audio`` (devices and buffers), ``transport``
(the WebSocket), ``engine`` (the conversation) and ``cli`` (the Typer front-end).
"""

import logging

__version__ = "0.1.0"

# Library practice: nothing omnichat (or a library through its loggers) logs reaches the
# terminal unless ``--debug`` configured logging (cli.py); without it, no traceback of an
# expected failure is printed by Python's last-resort handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())
