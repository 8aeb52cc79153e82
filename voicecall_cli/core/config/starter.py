'''The commented starter file that ``voicecall config init`` writes.

It selects the mock provider (so ``voicecall demo`` works at once), shows every main key with
its default, and carries commented-out Twilio, Telnyx and Plivo blocks to fill in. The tests
check that it loads, validates and matches the schema's defaults.
'''

from __future__ import annotations

STARTER_CONFIG_TOML = '''\
# voicecall configuration (TOML).
#
# Keys and nesting are those of the OpenClaw voice-call plugin
# (plugins.entries.voice-call.config), at the top level of this file. Every value shown is the
# default. Check your edits with:  voicecall config validate
#
# Secrets can stay out of this file: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TELNYX_API_KEY,
# TELNYX_CONNECTION_ID, TELNYX_PUBLIC_KEY, PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN, NGROK_AUTHTOKEN,
# OPENAI_API_KEY and ELEVENLABS_API_KEY are read from the environment when the key is unset.

enabled = true
provider = "mock"                 # "twilio" | "telnyx" | "plivo" | "mock" (no network)
# fromNumber = "+15550001234"     # caller id (E.164); required unless provider = "mock"
# toNumber = "+15550005678"       # default destination of `voicecall call`

inboundPolicy = "disabled"        # "disabled" | "allowlist" | "pairing" | "open"
allowFrom = []                    # E.164 numbers allowed to call in, e.g. ["+15550001234"]
# inboundGreeting = "Hello! How can I help you today?"

maxDurationSeconds = 300          # hang up this long after answer
staleCallReaperSeconds = 0        # end calls with no terminal webhook after this long; 0 = off
# silenceTimeoutMs = 800          # accepted, not used: streaming.silenceDurationMs ends a turn
transcriptTimeoutMs = 180000      # how long `voicecall continue` waits for the caller
ringTimeoutMs = 30000
maxConcurrentCalls = 1            # outbound calls at once

# publicUrl = "https://voice.example.com/voice/webhook"   # public webhook URL: required for
#                                 # twilio unless a trusted proxy is set in [webhookSecurity]
skipSignatureVerification = false # never true outside local testing

# store = "~/.local/state/voicecall"   # state directory (default: $XDG_STATE_HOME/voicecall)
# controlSocket = "/run/user/1000/voicecall/control.sock"

responseModel = "openai/gpt-4o-mini"   # model for automatic replies (provider/model)
responseBaseUrl = "https://api.openai.com/v1"   # its API (an OpenAI-compatible server works)
# responseSystemPrompt = "You are a friendly voice assistant..."
responseTimeoutMs = 30000

[serve]                           # the webhook server
port = 3334                       # 0 picks a free port
bind = "127.0.0.1"
path = "/voice/webhook"

[outbound]
defaultMode = "notify"            # "notify" (speak, then hang up) | "conversation"
notifyHangupDelaySec = 3
# Safety rails, enforced by the daemon for every caller (CLI, API, agents); unset = off.
# allowTo = ["+1555", "+44"]      # only numbers that start with one of these may be called
# maxCallsPerHour = 20            # outbound dials in any 60 minutes, all numbers together
# maxCallsPerHourPerNumber = 3    # outbound dials in any 60 minutes to one number
# quietHours = { start = "21:00", end = "08:00", timezone = "Europe/London" }  # no calls then

[streaming]                       # Twilio Media Streams + OpenAI realtime transcription
enabled = false
sttProvider = "openai-realtime"
# openaiApiKey = "sk-..."         # or OPENAI_API_KEY
sttModel = "gpt-4o-transcribe"
silenceDurationMs = 800
vadThreshold = 0.5                # 0..1, higher is less sensitive
streamPath = "/voice/stream"
preStartTimeoutMs = 5000
maxPendingConnections = 32
maxPendingConnectionsPerIp = 4
maxConnections = 128
maxInboundStreams = 1             # inbound callers served at once; others wait on hold

[realtime]                        # speech to speech: one realtime model session per call
enabled = false                   # true: inbound and conversation calls talk to the model
# apiKey = "sk-..."               # or OPENAI_API_KEY
model = "gpt-realtime"
voice = "marin"
# instructions = "You are ..."    # else responseSystemPrompt, else the built-in prompt
silenceDurationMs = 500           # the caller's pause that ends their turn
vadThreshold = 0.5

[webhookSecurity]
allowedHosts = []                 # hosts accepted from forwarding headers
trustForwardingHeaders = false
trustedProxyIPs = []              # forwarding headers are trusted only from these addresses

[tunnel]                          # the daemon starts it and takes its URL (publicUrl wins)
provider = "none"                 # "none" | "ngrok" | "tailscale-serve" | "tailscale-funnel"
# ngrokAuthToken = "..."          # or NGROK_AUTHTOKEN (ngrok SDK: pip install 'voicecall[ngrok]')
# ngrokDomain = "voice.example.com"
allowNgrokFreeTierLoopbackBypass = false

[tailscale]                       # the seed's older way to say tunnel.provider "tailscale-*"
mode = "off"                      # "off" | "serve" | "funnel"
path = "/voice/webhook"           # where the webhook is mounted publicly

[mcp]                             # `voicecall mcp`, the MCP server for agents
requireConfirmation = false       # true: an agent's call is previewed, then confirmed by token

[recording]                       # carrier-side recording (the other party may need telling)
enabled = false                   # true: record every call; or per call: voicecall call --record

[mock]                            # the mock provider's simulated callee
ringDelayMs = 200
answerDelayMs = 400
outcome = "answer"                # "answer" | "busy" | "no-answer" | "failed"
replies = ["Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!"]
replyDelayMs = 300
# hangupAfterReplies = 2          # callee hangs up after this many replies (default: never)
# hangupAfterMs = 60000           # callee hangs up this long after answer (default: never)

# [tts]                           # speech for calls (OpenAI or ElevenLabs)
# provider = "openai"
# [tts.openai]
# model = "gpt-4o-mini-tts"
# voice = "coral"
# [tts.elevenlabs]
# voiceId = "pMsXgVXv3BLzUgSXRplE"
# modelId = "eleven_multilingual_v2"

# [twilio]                        # provider = "twilio"
# accountSid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"   # or TWILIO_ACCOUNT_SID
# authToken = "your_auth_token"                      # or TWILIO_AUTH_TOKEN
# apiBaseUrl = "https://api.twilio.com"

# [telnyx]                        # provider = "telnyx"
# apiKey = "KEYxxxxxxxx"          # or TELNYX_API_KEY
# connectionId = "1234567890"     # or TELNYX_CONNECTION_ID
# publicKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="  # TELNYX_PUBLIC_KEY; Ed25519, base64
# apiBaseUrl = "https://api.telnyx.com"

# [plivo]                         # provider = "plivo"
# authId = "MAxxxxxxxxxxxxxxxxxx" # or PLIVO_AUTH_ID
# authToken = "your_auth_token"   # or PLIVO_AUTH_TOKEN
# apiBaseUrl = "https://api.plivo.com"
'''


def starter_config_toml() -> str:
    """The starter configuration text (TOML, commented)."""
    return STARTER_CONFIG_TOML
