"""Telesales assist (docs/voice.md, "Telesales assist"): live transcript, alerts, listen / whisper / barge-in,
take-over and wrap-up of agents' calls."""

from edudesk.voice.assist.agent_call import run_agent_call

__all__ = ["run_agent_call"]
