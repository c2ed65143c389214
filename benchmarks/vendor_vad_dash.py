# Provenance: the sample "vad_dash.py" of the Alibaba Cloud Model Studio guide
# "Qwen-Omni-Realtime" (EN, last updated Mar 31 2026),
# https://www.alibabacloud.com/help/en/model-studio/realtime, section "DashScope Python SDK",
# "VAD mode". Run by benchmarks/vendor_compare.py. Only the URL and key lines differ: they read
# OMNICHAT_BENCH_URL / OMNICHAT_BENCH_KEY (the local emulator).
# ruff: noqa
# Dependencies: dashscope >= 1.23.9, pyaudio
import os
import base64
import time
import pyaudio
from dashscope.audio.qwen_omni import MultiModality, AudioFormat,OmniRealtimeCallback,OmniRealtimeConversation
import dashscope

# Configuration parameters: endpoint, API key, voice, model, model role
# Specify the region. Set to 'intl' for International (Singapore) or 'cn' for China (Beijing).
region = 'intl'
base_domain = 'dashscope-intl.aliyuncs.com' if region == 'intl' else 'dashscope.aliyuncs.com'
url = os.environ['OMNICHAT_BENCH_URL']  # was: f'wss://{base_domain}/api-ws/v1/realtime'
# Configure the API key. If you have not set an environment variable, replace the next line with dashscope.api_key = "sk-xxx"
dashscope.api_key = os.environ['OMNICHAT_BENCH_KEY']  # was: os.getenv('DASHSCOPE_API_KEY')
# Specify the voice
voice = 'Cherry'
# Specify the model
model = 'qwen3.5-omni-plus-realtime'
# Specify the model role
instructions = "You are Xiaoyun, a personal assistant. Please answer the user's questions in a humorous and witty way."
class SimpleCallback(OmniRealtimeCallback):
    def __init__(self, pya):
        self.pya = pya
        self.out = None
    def on_open(self):
        # Initialize the audio output stream
        self.out = self.pya.open(
            format=pyaudio.paInt16,
            channels=1,
            rate=24000,
            output=True
        )
    def on_event(self, response):
        if response['type'] == 'response.audio.delta':
            # Play the audio
            self.out.write(base64.b64decode(response['delta']))
        elif response['type'] == 'conversation.item.input_audio_transcription.completed':
            # Print the transcribed text
            print(f"[User] {response['transcript']}")
        elif response['type'] == 'response.audio_transcript.done':
            # Print the assistant's reply text
            print(f"[LLM] {response['transcript']}")

# 1. Initialize the audio device
pya = pyaudio.PyAudio()
# 2. Create the callback function and session
callback = SimpleCallback(pya)
conv = OmniRealtimeConversation(model=model, callback=callback, url=url)
# 3. Establish the connection and configure the session
conv.connect()
conv.update_session(output_modalities=[MultiModality.AUDIO, MultiModality.TEXT], voice=voice, instructions=instructions)
# 4. Initialize the audio input stream
mic = pya.open(format=pyaudio.paInt16, channels=1, rate=16000, input=True)
# 5. Main loop to process audio input
print("Conversation started. Speak into the microphone (Ctrl+C to exit)...")
try:
    while True:
        audio_data = mic.read(3200, exception_on_overflow=False)
        conv.append_audio(base64.b64encode(audio_data).decode())
        time.sleep(0.01)
except KeyboardInterrupt:
    # Clean up resources
    conv.close()
    mic.close()
    callback.out.close()
    pya.terminate()
    print("\nConversation ended")
