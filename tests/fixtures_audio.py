"""Fixtures for the private PulseAudio virtual sound card (filled in by the audio work)."""
