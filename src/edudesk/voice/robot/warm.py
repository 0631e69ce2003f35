"""Synthesise what every robot call of an org says before the first call: the notice, the call script's lines
and the robot's own (no input, goodbyes, transfer). With the synthesiser's cache warm, the first audio after the
callee stops talking waits only for the database turn (docs/performance.md, "Voice"). The benchmark calls it; the
media plane does not yet (it should when it starts serving an org's lines); skipping it only costs the first
calls' synthesis time.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from edudesk.bot import service as bot_service
from edudesk.voice.live import VoiceServices
from edudesk.voice.models import VoiceSettings
from edudesk.voice.robot import dialogue
from edudesk.voice.robot.speech import sentences
from edudesk.voice.robot.store import DEFAULT_FLOW_KEY, NO_FLOW_GREETING

log = logging.getLogger(__name__)
_STEP_TEXTS = ("text", "prompt", "question", "reprompt", "on_fail_text")


def robot_lines(services: VoiceServices, org_id: int, flow_keys: tuple[str, ...] = (DEFAULT_FLOW_KEY,)) -> list[str]:
    with services.db.session() as session:
        notice = session.scalar(select(VoiceSettings.robot_notice).where(VoiceSettings.org_id == org_id)) or ""
        org_bot = (
            services.bots.get(session, org_id)
            if services.bots is not None
            else bot_service.load_org_bot(session, org_id)
        )
        lines = [
            notice,
            NO_FLOW_GREETING,
            dialogue.TRANSFER_TEXT,
            dialogue.ASK_TIME_TEXT,
            dialogue.ASK_TIME_AGAIN_TEXT,
            dialogue.NO_INPUT_TEXT,
            *dialogue.GOODBYE.values(),
        ]
        for flow in org_bot.flows:
            if flow.key in flow_keys and flow.enabled:
                for step in flow.steps:
                    lines += [str(v) for name in _STEP_TEXTS if isinstance(v := getattr(step, name, None), str)]
    return [line for line in lines if line.strip() and "{" not in line]


async def warm_prompts(
    services: VoiceServices, org_id: int, sample_rate: int, flow_keys: tuple[str, ...] = (DEFAULT_FLOW_KEY,)
) -> int:
    """The number of sentences now in the synthesiser's cache for this org's calls."""
    lines = await asyncio.to_thread(robot_lines, services, org_id, flow_keys)
    count = 0
    for line in lines:
        for sentence in sentences(line):
            try:
                await services.synthesiser.synthesise(sentence, sample_rate)
                count += 1
            except (RuntimeError, OSError) as exc:  # an engine not ready: the call itself will say why
                log.warning("voice prompt warm-up stopped: %s", exc)
                return count
    return count
