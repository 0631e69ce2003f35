"""Bot scripts (话术流程): declarative lead-capture flows, validated as data and run as a pure state machine.

- :mod:`.spec` — the flow definition (pydantic models = the stored and exported JSON) and :func:`load_flow`;
- :mod:`.runner` — :func:`start` / :func:`advance` / :func:`trial_outcome` over a per-conversation :class:`FlowState`;
- :mod:`.triggers` — :func:`pick_flow`: which flow an event starts;
- :mod:`.answers` — reading a reply as a field value by type; :mod:`.graph` and :mod:`.errors` — the checks.

No database and no HTTP here: the bot service stores the state, writes captured values to the lead card, books
trial sessions and routes handovers.
"""

from edudesk.bot.flows.errors import FlowError, FlowProblem
from edudesk.bot.flows.runner import advance, start, trial_outcome
from edudesk.bot.flows.spec import SCHEMA_VERSION, FieldDef, Flow, load_flow
from edudesk.bot.flows.state import Captured, FlowAction, FlowOutput, FlowState
from edudesk.bot.flows.triggers import FlowEvent, pick_flow

__all__ = ["SCHEMA_VERSION", "Captured", "FieldDef", "Flow", "FlowAction", "FlowError", "FlowEvent", "FlowOutput",
           "FlowProblem", "FlowState", "advance", "load_flow", "pick_flow", "start", "trial_outcome"]
