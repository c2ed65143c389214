"""The whole program against a redirecting endpoint: one line, exit 4, and the key appears
nowhere — not in stdout, stderr, the transcript, nor at the redirect target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hostile_server import HostileServer, read_request, respond

SECRET = "sk-test-secret-cli-0123456789"
SAMPLE = Path(__file__).parent.parent / "omnichat" / "data" / "sample-question.wav"


def test_a_redirect_stops_the_session_in_one_line_and_the_key_goes_nowhere(
        tmp_path, isolated_environment):
    with HostileServer(read_request) as target:
        with HostileServer(respond("307 Temporary Redirect",
                                   f"Location: {target.url('/x')}")) as redirector:
            config = tmp_path / "config.toml"
            endpoint = redirector.url("/api-ws/v1/realtime")
            config.write_text(f'[regions.intl]\nurl = "{endpoint}"\n', encoding="utf-8")
            config.chmod(0o600)  # a config others can read adds a warning line
            transcript = tmp_path / "t.jsonl"
            env = {**os.environ, "OMNICHAT_CONFIG": str(config), "DASHSCOPE_API_KEY": SECRET}
            result = subprocess.run(
                [sys.executable, "-m", "omnichat", "talk", "--input", str(SAMPLE),
                 "--text-only", "--transcript", str(transcript)],
                capture_output=True, text=True, timeout=60, env=env)
            assert SECRET.encode() in redirector.requests[0]  # sent to the endpoint only
        assert target.connections == 0
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "redirect" in output and target.url("/x") in output and "Traceback" not in output
    assert SECRET not in output
    files = [path for path in isolated_environment.rglob("*") if path.is_file()]
    files += [path for path in tmp_path.rglob("*") if path.is_file()]
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
