"""Audio for omnichat: devices, microphone capture, the playback ring buffer, resampling, WAV.

Wire formats are fixed by the service: the microphone goes up as 16 kHz int16 mono PCM and the
model's voice comes down as 24 kHz int16 mono PCM. ``sounddevice`` (and so PortAudio) is
imported lazily, only by ``devices.sounddevice_module()``, so WAV-file and ``--local`` runs work
on machines without PortAudio.

Data flow::

    Microphone / WavMicrophone --(stages: AEC, VAD later)--> on_block(bytes)  -> engine sender
    engine receiver -> PlaybackBuffer.write(pcm) ... Speaker / FileSpeaker -> read_into()
                                                    `-> played listeners (AEC reference)
"""

MIC_RATE_HZ = 16_000
SPEAKER_RATE_HZ = 24_000
BLOCK_MS = 20
SAMPLE_WIDTH_BYTES = 2

__all__ = ["BLOCK_MS", "MIC_RATE_HZ", "SAMPLE_WIDTH_BYTES", "SPEAKER_RATE_HZ"]
