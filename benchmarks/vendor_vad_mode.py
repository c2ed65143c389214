# Provenance: the sample "vad_mode.py" of the Alibaba Cloud Model Studio guide
# "Qwen-Omni-Realtime" (EN, last updated Mar 31 2026),
# https://www.alibabacloud.com/help/en/model-studio/realtime, section "WebSocket (Python)",
# "VAD mode". Run by benchmarks/vendor_compare.py with tests/vendor/omni_realtime_client.py on
# PYTHONPATH. Only base_url and api_key differ: they read OMNICHAT_BENCH_URL /
# OMNICHAT_BENCH_KEY (the local emulator).
# ruff: noqa
# -- coding: utf-8 --
import os, asyncio, pyaudio, queue, threading
from omni_realtime_client import OmniRealtimeClient, TurnDetectionMode

# Audio player class (handles interruptions)
class AudioPlayer:
    def __init__(self, pyaudio_instance, rate=24000):
        self.stream = pyaudio_instance.open(format=pyaudio.paInt16, channels=1, rate=rate, output=True)
        self.queue = queue.Queue()
        self.stop_evt = threading.Event()
        self.interrupt_evt = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop_evt.is_set():
            try:
                data = self.queue.get(timeout=0.5)
                if data is None: break
                if not self.interrupt_evt.is_set(): self.stream.write(data)
                self.queue.task_done()
            except queue.Empty: continue

    def add_audio(self, data): self.queue.put(data)
    def handle_interrupt(self): self.interrupt_evt.set(); self.queue.queue.clear()
    def stop(self): self.stop_evt.set(); self.queue.put(None); self.stream.stop_stream(); self.stream.close()

# Record from microphone and send
async def record_and_send(client):
    p = pyaudio.PyAudio()
    stream = p.open(format=pyaudio.paInt16, channels=1, rate=16000, input=True, frames_per_buffer=3200)
    print("Recording started. Please speak...")
    try:
        while True:
            audio_data = stream.read(3200)
            await client.stream_audio(audio_data)
            await asyncio.sleep(0.02)
    finally:
        stream.stop_stream(); stream.close(); p.terminate()

async def main():
    p = pyaudio.PyAudio()
    player = AudioPlayer(pyaudio_instance=p)

    client = OmniRealtimeClient(
        # The following is the base_url for the International (Singapore) region. The base_url for the China (Beijing) region is wss://dashscope.aliyuncs.com/api-ws/v1/realtime
        base_url=os.environ['OMNICHAT_BENCH_URL'],  # was: the Singapore URL
        api_key=os.environ['OMNICHAT_BENCH_KEY'],  # was: DASHSCOPE_API_KEY
        model="qwen3.5-omni-plus-realtime",
        voice="Cherry",
        instructions="You are Xiaoyun, a witty and humorous assistant.",
        turn_detection_mode=TurnDetectionMode.SERVER_VAD,
        on_text_delta=lambda t: print(f"\nAssistant: {t}", end="", flush=True),
        on_audio_delta=player.add_audio,
    )

    await client.connect()
    print("Connection successful. Starting real-time conversation...")

    # Run concurrently
    await asyncio.gather(client.handle_messages(), record_and_send(client))

if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("\nProgram exited.")
