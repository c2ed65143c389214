"""Best-effort scheduling priority for the threads that feed the audio device.

On a busy machine a thread of normal priority can wait 10-30 ms for a CPU after its sleep
ends, longer than the speaker's queue. ``raise_current_thread()`` asks the kernel for a
real-time class (``SCHED_FIFO``, which Linux grants to root, to users with an ``rtprio``
limit, and through ``RLIMIT_RTPRIO``), else a higher nice value, else leaves the thread as it
is: it never fails. It affects the calling thread only (Linux schedules threads, not
processes). ``raise_sound_server_threads()`` does the same for the threads libpulse starts in
this process (``threaded-ml``, the ALSA pulse plugin's mainloop): every block the speaker
writes passes through one on its way to the sound server, so it is as late as the later of
the two. Measured effect: docs/benchmarks-latency.md.
"""

from __future__ import annotations

import os
import threading

RT_PRIORITY = 10  # low among real-time threads: sound servers run at 5-20 and take precedence
NICE = -10


# Threads of this process that carry audio to the sound server (by their kernel name).
AUDIO_LIBRARY_THREADS = ("threaded-ml",)


def raise_current_thread() -> str:
    """Raise the calling thread's priority as far as allowed; returns what was obtained."""
    return raise_thread(threading.get_native_id())


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except (OSError, ValueError):
        return [threading.get_native_id()]


def raise_sound_server_threads() -> int:
    """Raise libpulse's threads in this process (Linux ``/proc``); returns how many were."""
    raised = 0
    for tid in _threads():
        try:
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8") as comm:
                name = comm.read(64).strip()
        except OSError:
            continue
        if name in AUDIO_LIBRARY_THREADS and raise_thread(tid) != "normal":
            raised += 1
    return raised


def raise_thread(tid: int) -> str:
    """Raise thread ``tid`` as far as allowed; returns what was obtained."""
    setscheduler = getattr(os, "sched_setscheduler", None)
    fifo = getattr(os, "SCHED_FIFO", None)
    if setscheduler is not None and fifo is not None:
        try:
            setscheduler(tid, fifo, os.sched_param(RT_PRIORITY))
            return f"SCHED_FIFO {RT_PRIORITY}"
        except (OSError, AttributeError):
            pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, NICE)  # Linux: a TID sets that thread's nice
        return f"nice {NICE}"
    except (OSError, AttributeError):
        return "normal"
