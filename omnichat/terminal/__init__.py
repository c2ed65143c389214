"""The terminal as a device: raw keys (``keyboard``), the line editor, library stderr held off
the screen (``stderr_capture``) and the signals that end a session (``signals``)."""
