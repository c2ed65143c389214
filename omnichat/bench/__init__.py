"""Black-box latency measurement on a (virtual) sound card: what the user hears, and when.

The harness never looks inside a client. It plays speech into the microphone, records what
the speaker played, and lines those recordings up with the emulator's own trace of every frame
it sent (``omnichat serve --trace``), on one clock (``time.monotonic``, which is system-wide).

``signal``: onset and silence detection on energy envelopes. ``recording``: a timestamped
capture of a PulseAudio source and its sample clock. ``trace``: the emulator's trace file.
``measure``: per-turn figures from those three. ``figures``: median/p95/count.
``scenario``: runs one client through the scenario and returns its figures.
"""
