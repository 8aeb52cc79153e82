"""A fake Twilio: REST API, signed webhooks, a TwiML runner and the caller's side of Media
Streams."""
