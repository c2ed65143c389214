"""Fixtures that run the local emulator on a free loopback port (filled in by the emulator work)."""
