"""A conversation in a terminal or from files: ``talk`` and ``ptt`` wire the settings, the
audio, the engine, the live view and the transcript; ``inputs``, ``keys``, ``slash`` and
``tools`` are the parts they share (what the user feeds in, the keys, typed commands, tool
calls)."""
