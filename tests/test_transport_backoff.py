"""Reconnect delays: exponential, capped, jittered, and exact under an injected random."""

from __future__ import annotations

import random

import pytest

from omnichat.transport import Backoff


def test_ceilings_double_up_to_the_cap():
    backoff = Backoff(base_s=0.5, cap_s=4.0)
    assert [backoff.ceiling_s(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.ceiling_s(10_000) == 4.0  # no overflow for absurd attempt numbers


def test_full_jitter_draws_between_zero_and_the_ceiling_with_a_floor():
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 2

    backoff = Backoff(base_s=1.0, cap_s=8.0, floor_s=0.1, uniform=uniform)
    assert [backoff.delay_s(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert draws == [(0.0, 1.0), (0.0, 2.0), (0.0, 4.0), (0.0, 8.0), (0.0, 8.0)]
    assert Backoff(floor_s=0.25, uniform=lambda low, high: 0.0).delay_s(3) == 0.25


def test_delays_stay_within_bounds_for_a_real_random_source():
    rng = random.Random(7)
    backoff = Backoff(base_s=0.2, cap_s=5.0, floor_s=0.05, max_attempts=12, uniform=rng.uniform)
    delays = backoff.delays_s()
    assert len(delays) == 12
    for n, delay in enumerate(delays):
        assert 0.05 <= delay <= backoff.ceiling_s(n)
    assert len(set(delays)) > 6  # jittered, not a fixed ladder


def test_zero_attempts_means_no_retry_and_bad_settings_are_refused():
    assert Backoff(max_attempts=0).delays_s() == []
    with pytest.raises(ValueError):
        Backoff(base_s=10.0, cap_s=1.0)
    with pytest.raises(ValueError):
        Backoff().delay_s(-1)
