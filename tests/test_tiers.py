"""The test tiers (tests/tiers.py): a test is put in ``audio`` or ``subprocess`` from what it
uses, through the helpers it calls, and ``make check`` fails a test that starts a program
unmarked instead of running it in the quick tier."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest
from tiers import tiers_of


def _starts_a_program() -> None:
    subprocess.run(["true"], check=True)


def _calls_a_helper_that_starts_one() -> None:
    _starts_a_program()


def _uses_pexpect_inside() -> None:
    import pexpect

    pexpect.spawn("true").close()


def _makes_speech(speech_pcm) -> bytes:
    return speech_pcm("hello")


# Reached through a dict, so the tests below do not themselves count as starting a program.
SAMPLES = {"starts": _starts_a_program, "through a helper": _calls_a_helper_that_starts_one,
           "pexpect": _uses_pexpect_inside, "speech": _makes_speech}


def _tiers(sample: str, *fixtures: str) -> set[str]:
    item = SimpleNamespace(obj=SAMPLES[sample], fixturenames=list(fixtures), _fixtureinfo=None)
    return tiers_of(item, {})  # type: ignore[arg-type]


def test_a_test_that_starts_a_program_is_a_subprocess_one_even_through_helpers():
    assert _tiers("starts") == {"subprocess"}
    assert _tiers("through a helper") == {"subprocess"}
    assert _tiers("pexpect") == {"subprocess"}


def test_speech_data_stays_in_the_quick_tier_and_the_sound_card_makes_audio():
    assert _tiers("speech", "speech_pcm") == set()
    assert _tiers("speech", "speech_pcm", "virtual_audio") == {"audio"}


def test_the_suite_itself_is_classified(request):
    """Known tests of this suite land where they belong (those collected in this run)."""
    expected = {
        "tests/test_talk_audio.py::test_reply_is_heard_and_barge_in_silences_it": {"audio"},
        "tests/test_device_loss.py::test_a_sound_server_that_dies_ends_the_session_in_one_line":
            {"audio"},
        "tests/test_signals.py::test_a_terminal_that_hangs_up_ends_like_sighup": {"subprocess"},
        "tests/test_protocol.py::test_real_frames_cover_the_main_server_events": set(),
    }
    items = [item for item in request.session.items if item.nodeid in expected]
    if not items:
        pytest.skip("none of the known tests was collected in this run")
    for item in items:
        marks = {m.name for m in item.iter_markers()} & {"audio", "subprocess"}
        assert expected[item.nodeid] <= marks and (expected[item.nodeid] or not marks), \
            (item.nodeid, marks)


def test_check_fails_a_test_that_starts_a_program_unmarked(pytester):
    pytester.makeconftest('pytest_plugins = ["tiers"]\n')
    pytester.makepyfile(test_hidden="""
        import os

        def start():
            return os.system("true")  # the scan does not see this one: the guard must

        def test_hidden():
            assert start() == 0
        """)
    system = os.system
    result = pytester.runpytest_inprocess("-m", "not audio and not subprocess",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_hidden starts a process (os.system) but is not marked*"])
    assert os.system is system  # undone after the test


def test_check_leaves_out_a_marked_test_that_the_full_run_keeps(pytester):
    pytester.makeconftest('pytest_plugins = ["tiers"]\n')
    pytester.makepyfile(test_marked="""
        import pytest

        @pytest.mark.subprocess
        def test_marked():
            pass

        def test_quick():
            pass
        """)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    quick = pytester.runpytest_inprocess("-m", "not audio and not subprocess",
                                         "-p", "no:cacheprovider")
    quick.assert_outcomes(passed=1, deselected=1)
