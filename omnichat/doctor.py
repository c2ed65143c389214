"""``omnichat doctor``: check what a conversation needs, one line per check, ok or the fix.

``run_doctor(settings, local=..., echo=..., save=..., out=...)`` returns the exit status
(0 when every check passed). Checks: PortAudio, the input and output devices and the rates
they accept, the config file, the API key of each region (present or missing and which
variable; never the key), the connection (the local emulator with ``local``), and with
``echo`` the echo self-test (``omnichat.echo.selftest``); ``save`` writes its recommended
``echo_mode`` into the config file (``omnichat.echo.configedit``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

from omnichat.catalog import REGIONS
from omnichat.config.settings import DEFAULT_API_KEY_ENV, Settings, config_path, load_settings
from omnichat.config.warning import workspace_hint
from omnichat.errors import ExitCode, OmnichatError
from omnichat.sanitize import clean_text

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        detail = clean_text(self.detail, keep_newlines=False)
        return f"{'ok ' if self.ok else 'FIX'} {self.name}: {detail}"


def run_doctor(settings: Settings | None = None, *, local: bool = False, echo: bool = False,
               save: bool = False, out: IO[str]) -> int:
    """Run every check, print one line each to ``out``; 0 if all passed, else 1 (or 3
    when only audio failed). ``settings=None`` loads them here and reports a bad config as a
    failed check instead of raising."""
    checks: list[Check] = []

    def report(check: Check) -> None:
        checks.append(check)
        print(check.line(), file=out, flush=True)

    settings = _config_check(settings, report)
    audio_ok = _audio_checks(settings, report)
    if settings is not None:
        _key_checks(settings, local, report)
        if not local:
            _workspace_check(settings, report)
        report(_connection_check(settings, local))
    if echo and audio_ok:
        _echo_check(settings, save, report, out)
    failed = [c for c in checks if not c.ok]
    if not failed:
        return int(ExitCode.OK)
    if all(c.name in ("PortAudio", "input", "output", "echo") for c in failed):
        return int(ExitCode.AUDIO)
    return int(ExitCode.FAILURE)


def _config_check(settings: Settings | None,
                  report: Callable[[Check], None]) -> Settings | None:
    if settings is None:
        try:
            settings = load_settings()
        except OmnichatError as exc:
            report(Check("config", False, str(exc)))
            return None
    path = settings.config_file or config_path()
    if path.exists():
        report(Check("config", True, f"{path} is valid"))
    else:
        report(Check("config", True, f"no file at {path}: built-in defaults "
                                     "(create one with 'omnichat config init')"))
    return settings


def _audio_checks(settings: Settings | None, report: Callable[[Check], None]) -> bool:
    from omnichat.audio.devices import resolve_device, sounddevice_module

    try:
        sd: Any = sounddevice_module()
    except OmnichatError as exc:
        report(Check("PortAudio", False, str(exc)))
        return False
    report(Check("PortAudio", True, str(sd.get_portaudio_version()[1])))
    ok = True
    for kind, rate, spec in (("input", 16_000, settings and settings.input_device),
                             ("output", 24_000, settings and settings.output_device)):
        try:
            index = resolve_device(spec or None, kind)
            report(Check(kind, True, _rate_text(sd, index, kind, rate)))
        except OmnichatError as exc:
            ok = False
            report(Check(kind, False, str(exc)))
    return ok


def _rate_text(sd: Any, index: int | None, kind: str, rate: int) -> str:
    info = sd.query_devices(index, kind)
    name = f"{info['name']} (default rate {int(info['default_samplerate'])} Hz)"
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=index, samplerate=rate, channels=1, dtype="int16")
        return f"{name} accepts {rate} Hz"
    except (sd.PortAudioError, ValueError):
        return (f"{name} refuses {rate} Hz; omnichat resamples from "
                f"{int(info['default_samplerate'])} Hz")


def _key_checks(settings: Settings, local: bool, report: Callable[[Check], None]) -> None:
    import os

    for name in REGIONS:
        env = settings.api_key_env if name == settings.region else DEFAULT_API_KEY_ENV
        present = bool(os.environ.get(env)) or (name == settings.region and bool(settings.api_key))
        if present:
            report(Check(f"key {name}", True, f"present in {env}"))
        elif local or name != settings.region:
            report(Check(f"key {name}", True, f"not set ({env}); needed only to talk in "
                                              f"region {name}"))
        else:
            report(Check(f"key {name}", False, f"missing: set {env} to a key made in Model "
                                               f"Studio for region {name} (README, \"Getting "
                                               "a key\"), or try the local emulator with "
                                               "--local"))


def _workspace_check(settings: Settings, report: Callable[[Check], None]) -> None:
    """The workspace endpoint in use, or the hint when the model needs one (qwen3.8)."""
    hint = workspace_hint(settings)
    if hint is not None:
        report(Check("workspace", False, hint))
    elif settings.workspace:
        report(Check("workspace", True, f"{settings.workspace} ({settings.url})"))


def _connection_check(settings: Settings, local: bool) -> Check:
    """Open the socket and wait for ``session.created`` (deadline: CONNECT_TIMEOUT_S)."""
    if local:
        from omnichat.emulator import Emulator

        with Emulator(api_key=None) as emulator:
            url = f"{emulator.url}?model={quote(settings.model, safe='')}"
            return _handshake(url, None, "local emulator", settings)
    if not settings.api_key:
        return Check("connection", False, f"not tried: no key in {settings.api_key_env}")
    return _handshake(settings.endpoint(), settings.api_key, settings.url, settings)


def _handshake(url: str, key: str | None, where: str, settings: Settings) -> Check:
    from omnichat.transport import WebSocketTransport

    transport = WebSocketTransport(url, key, region=settings.region,
                                   key_env=settings.api_key_env,
                                   connect_timeout_s=CONNECT_TIMEOUT_S,
                                   headers=settings.headers())
    try:
        transport.connect()
    except OmnichatError as exc:
        return Check("connection", False, str(exc))
    first: list[Any] = []
    got = threading.Event()  # set by the reader once the first event (or the end) arrived

    def _read() -> None:
        """omnichat-doctor-recv: blocks in recv(); close() below unblocks it."""
        try:
            first.append(transport.recv())
        except OmnichatError as exc:
            first.append(exc)
        got.set()

    reader = threading.Thread(target=_read, name="omnichat-doctor-recv")
    reader.start()
    got.wait(CONNECT_TIMEOUT_S)
    transport.close()
    reader.join(CONNECT_TIMEOUT_S)
    transport.release()
    event = first[0] if first else None
    if getattr(event, "type", None) == "session.created":
        return Check("connection", True, f"{where} answered with session.created")
    reason = str(event) if isinstance(event, Exception) else "no session.created in time"
    return Check("connection", False, f"{where}: {reason}")


def _echo_check(settings: Settings | None, save: bool, report: Callable[[Check], None],
                out: IO[str]) -> None:
    from omnichat.echo.selftest import run_echo_selftest

    try:
        result = run_echo_selftest(settings.input_device if settings else None,
                                   settings.output_device if settings else None)
    except OmnichatError as exc:
        report(Check("echo", False, str(exc)))
        return
    for line in result.lines():
        print(f"    {line}", file=out)
    keep = "" if save else "; `omnichat doctor --echo --save` writes it to the config file"
    report(Check("echo", True, result.recommendation + keep))
    if save:
        from omnichat.echo.configedit import save_echo_mode

        path = (settings.config_file if settings else None) or config_path()
        try:
            save_echo_mode(path, result.recommended)
            report(Check("save", True, f"wrote [audio] echo_mode = \"{result.recommended}\" "
                                       f"to {path}"))
        except OmnichatError as exc:
            report(Check("save", False, str(exc)))
