"""Voice: call campaigns, the call robot, telephony adapters, telesales assist (docs/voice.md)."""
