"""Acoustic echo delay by cross-correlation: how long after leaving the DAC the speaker's
sound reaches the ADC (room path plus whatever PortAudio's timestamps do not cover)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnichat.echo import MIC_RATE_HZ

MIN_NCC = 0.3  # below this the peak is not an echo (noise, double talk, no echo path)


@dataclass(frozen=True)
class DelayEstimate:
    delay_s: float
    ncc: float  # normalised correlation at the peak, 0..1
    gain: float  # echo amplitude / reference amplitude at that delay


def estimate_delay(mic: np.ndarray, reference: np.ndarray, lead_s: float,
                   rate_hz: int = MIC_RATE_HZ) -> DelayEstimate | None:
    """Find the echo of ``reference`` in ``mic``.

    ``reference`` starts ``lead_s`` before ``mic`` on the shared clock and is at least as long
    as ``mic``; delays from 0 to ``lead_s`` are searched. ``None``: no clear echo.
    """
    m = np.asarray(mic, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    lead = int(round(lead_s * rate_hz))
    if m.size == 0 or r.size < m.size or not r.any() or not m.any():
        return None
    size = 1 << int(np.ceil(np.log2(m.size + r.size)))
    corr = np.fft.irfft(np.fft.rfft(r, size) * np.conj(np.fft.rfft(m, size)), size)
    j = int(np.argmax(np.abs(corr[:lead + 1])))  # reference index of mic sample 0
    seg = r[j:j + m.size]
    if seg.size < m.size:
        return None
    energy = float(np.dot(seg, seg))
    if energy <= 0.0:
        return None
    ncc = float(abs(np.dot(seg, m)) / np.sqrt(energy * float(np.dot(m, m)) + 1e-9))
    if ncc < MIN_NCC:
        return None
    gain = float(abs(np.dot(seg, m)) / energy)
    return DelayEstimate(delay_s=(lead - j) / rate_hz, ncc=ncc, gain=gain)
