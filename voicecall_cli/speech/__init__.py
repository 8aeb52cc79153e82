"""Speech: TTS and STT clients and the auto-responder (issue: speech in calls)."""
