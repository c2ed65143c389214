"""Summaries of measured values: median, p95 and count, and their table and JSON forms."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    """One figure over all turns: ``None`` statistics when nothing was measured."""

    median: float | None
    p95: float | None
    count: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(values: Sequence[float]) -> Summary:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return Summary(None, None, 0)
    return Summary(percentile(finite, 50), percentile(finite, 95), len(finite))


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(figures: Mapping[str, Summary], unit: str = "ms") -> str:
    """Plain-text table: figure name, median, p95, count."""
    lines = [f"{'figure':<28} {'median ' + unit:>11} {'p95 ' + unit:>9} {'count':>6}"]
    for name, s in figures.items():
        lines.append(f"{name:<28} {_cell(s.median):>11} {_cell(s.p95):>9} {s.count:>6}")
    return "\n".join(lines)


def ratio(ours: Summary, theirs: Summary) -> float | None:
    """``ours.median / theirs.median`` (below 1: ours is faster), or None if either is missing."""
    if ours.median is None or theirs.median is None or theirs.median <= 0:
        return None
    return ours.median / theirs.median
