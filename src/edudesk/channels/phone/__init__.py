"""The telephone as a channel: robot calls' conversations (voice.robot) carry ``channel="phone"``."""
