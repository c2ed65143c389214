"""C-level stderr is kept off the live view and summarised after it."""

from __future__ import annotations

import os

from omnichat.terminal.stderr_capture import capture_stderr

CARD = b"ALSA lib confmisc.c:855:(parse_card) cannot find card '0'\n"
RECOVERY = b"ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred\n"


def test_writes_to_fd_2_are_held_and_summarised(capfd) -> None:
    with capture_stderr() as captured:
        os.write(2, CARD)
        os.write(2, b"ALSA lib pcm_dmix.c:1000:(snd_pcm_dmix_open) \x1b[31munable to open\n")
    assert capfd.readouterr().err == ""  # nothing reached the terminal while the view ran
    summary = captured.summary() or ""
    assert summary.startswith("the audio system reported 2 messages")
    assert "unable to open" in summary and "\x1b" not in summary
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # fd 2 is back


def test_the_recovery_after_a_drain_between_replies_is_not_reported(capfd) -> None:
    """The speaker lets the device run empty after every reply, and ALSA says "underrun
    occurred" when the next reply restarts it: that line ended every session."""
    with capture_stderr() as captured:
        os.write(2, RECOVERY)
        os.write(2, RECOVERY)
    assert captured.summary() is None
    with capture_stderr() as mixed:
        os.write(2, CARD)
        os.write(2, RECOVERY)
    assert (mixed.summary() or "").startswith("the audio system reported 1 message")
    assert "cannot find card" in (mixed.summary() or "")
    assert capfd.readouterr().err == ""


def test_disabled_or_quiet_says_nothing() -> None:
    with capture_stderr(enabled=False) as captured:
        pass
    assert captured.summary() is None
    with capture_stderr() as quiet:
        pass
    assert quiet.summary() is None


def test_talk_keeps_library_messages_off_the_live_view(capfd, monkeypatch, tmp_path,
                                                       speech_pcm) -> None:
    """A library writing to fd 2 mid-session (as ALSA does on an underrun) does not reach the
    terminal while the live view draws; the view says so in one line once it closed."""
    import io

    from rich.console import Console
    from test_engine_support import write_wav

    from omnichat.config.settings import Settings
    from omnichat.session import talk as talk_module
    from omnichat.session.talk import TalkOptions, talk

    real_run = talk_module._run

    def noisy_run(*args, **kwargs):
        os.write(2, CARD)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(talk_module, "_run", noisy_run)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, height=24,
                      color_system=None)
    question = write_wav(tmp_path / "q.wav", speech_pcm("Hello there."))
    talk(Settings(modalities=("text",)),
         TalkOptions(local=True, input_wav=question, transcript=tmp_path / "t.jsonl",
                     input_pace=8, emulator_speed="fast"), console=console)
    assert "ALSA" not in capfd.readouterr().err
    assert "note: the audio system reported 1 message" in screen.getvalue()
