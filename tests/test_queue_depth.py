"""The speaker's queue depth: grows after an underflow in the state it happened, shrinks slowly."""

from omnichat.audio.queue_depth import QueueDepth


def test_an_underflow_while_playing_deepens_the_margin_and_calm_gives_it_back():
    depth = QueueDepth(idle_floor_ms=10, margin_floor_ms=20, max_ms=35, step_ms=5,
                       shrink_after_s=30)
    depth.underflowed(100.0, playing=True)
    depth.underflowed(101.0, playing=True)
    assert (depth.idle_ms, depth.margin_ms) == (10, 30)
    depth.tick(130.0)
    assert depth.margin_ms == 30  # 29 s calm: not yet
    depth.tick(131.0)
    assert depth.margin_ms == 25
    depth.tick(160.0)
    depth.tick(161.0)
    depth.tick(400.0)
    assert depth.margin_ms == 20  # never below the floor


def test_idle_underflows_deepen_the_idle_queue_only_when_they_repeat():
    depth = QueueDepth(idle_floor_ms=10, margin_floor_ms=20, max_ms=35, step_ms=5)
    for t in range(0, 30, 2):  # now and then: silence a little late, no change
        depth.underflowed(float(t), playing=False)
    assert depth.idle_ms == 10
    for i in range(50):  # at every block (a sound server resampling in large chunks)
        depth.underflowed(40.0 + i * 0.005, playing=False)
    assert (depth.idle_ms, depth.margin_ms) == (35, 20)
    assert depth.grown == 5
