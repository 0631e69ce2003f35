import pytest

from edudesk.conversations.states import ALLOWED, ConversationState, IllegalTransition, check_transition

S = ConversationState
LEGAL = {
    (S.bot, S.queued), (S.bot, S.assigned), (S.bot, S.resolved), (S.bot, S.closed),
    (S.queued, S.assigned), (S.queued, S.bot), (S.queued, S.resolved), (S.queued, S.closed),
    (S.assigned, S.resolved), (S.assigned, S.queued), (S.assigned, S.closed),
    (S.resolved, S.closed), (S.resolved, S.assigned), (S.resolved, S.bot),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(current: ConversationState, target: ConversationState) -> None:
    if (current, target) in LEGAL:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_closed_is_final() -> None:
    assert ALLOWED[S.closed] == frozenset()
