"""The outbox between every thread and the one sender: order, generations, held images.
Single-threaded: ``next()`` is only called when something is due, so nothing blocks."""

from __future__ import annotations

from fake_transport import ScriptedTransport

from omnichat.engine.connection import Connection, Outbox
from omnichat.protocol import client as cev

BLOCK_100MS = bytes(3200)


def _ready(outbox: Outbox, generation: int = 1) -> Connection:
    conn = Connection(ScriptedTransport(), generation)
    outbox.set_connection(conn)
    assert outbox.next().setup  # session.update always goes first
    outbox.mark_ready(conn)
    return conn


def test_nothing_but_session_update_goes_out_before_session_updated():
    outbox = Outbox(audio_capacity_blocks=10)
    conn = Connection(ScriptedTransport(), 1)
    outbox.put_audio(0.0, BLOCK_100MS)
    outbox.put_control(1, cev.response_cancel())
    outbox.set_connection(conn)
    assert outbox.next().setup
    outbox.mark_ready(conn)
    assert conn.settled.is_set()
    assert outbox.next().event.type == "response.cancel"
    assert outbox.next().audio == BLOCK_100MS


def test_control_events_go_ahead_of_queued_audio_and_old_generations_are_dropped():
    outbox = Outbox(audio_capacity_blocks=10)
    conn = _ready(outbox, generation=2)
    outbox.put_audio(0.0, BLOCK_100MS)
    outbox.put_control(1, cev.response_create())  # queued for the socket before
    outbox.put_control(2, cev.response_cancel())
    assert outbox.next().event.type == "response.cancel"
    assert outbox.next().connection is conn


def test_images_wait_for_the_first_audio_on_their_connection():
    outbox = Outbox(audio_capacity_blocks=10)
    conn = _ready(outbox)
    outbox.put_control(1, cev.input_image_append(b"jpeg"), after_audio=True)
    outbox.put_audio(0.0, BLOCK_100MS)
    assert outbox.next().audio  # the image is held: no audio went out yet
    outbox.audio_went_out(conn)
    assert outbox.next().event.type == "input_image_buffer.append"


def test_a_full_audio_queue_drops_and_counts_instead_of_blocking():
    outbox = Outbox(audio_capacity_blocks=2)
    assert outbox.put_audio(0.0, BLOCK_100MS) and outbox.put_audio(0.0, BLOCK_100MS)
    assert not outbox.put_audio(0.0, BLOCK_100MS)
    assert outbox.audio_drops == 1
    outbox.stop()
    assert outbox.next() is None
