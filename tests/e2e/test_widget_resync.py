"""After the server sends the widget away with 1012 (its Redis bus was lost and regained), the widget asks for the
whole conversation: a message it missed in the middle — published on another instance while Redis was down — shows
up in its place, and nothing is shown twice (docs/faults.md)."""

from __future__ import annotations

from fastapi import FastAPI
from playwright.sync_api import expect

from edudesk import events
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, SenderKind
from edudesk.db import Database
from edudesk.realtime import Hub
from tests.e2e.test_widget import Widget, only_conversation, price_rule, settings, widget  # noqa: F401 (fixtures)


def store_unannounced(database: Database, conv_id: int, text: str) -> None:
    """A message whose live frame never reaches this instance, as while Redis is down."""
    with database.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        conversations_service.post_message(session, conv, SenderKind.system, text)
        session.info.pop(events.PENDING_KEY, None)
        session.commit()


def test_a_resync_close_fills_a_gap_in_the_middle(widget: Widget, price_rule: None,  # noqa: F811
                                                   app: FastAPI, database: Database) -> None:
    page = widget.open()
    widget.send("你好")
    expect(page.locator(".edk-msg-bot").last).to_contain_text("您好")
    store_unannounced(database, only_conversation(database).id, "错过的消息：老师稍后联系您")
    widget.send("学费多少钱")  # newer messages arrive live: the widget's last id is now past the missed one
    expect(widget.visitor_msgs("学费多少钱")).to_have_attribute("data-status", "sent")
    expect(page.locator(".edk-msg-bot").last).to_contain_text("2980")
    shown = page.locator(".edk-msg[data-id]").count()
    expect(page.get_by_text("错过的消息：老师稍后联系您")).to_have_count(0)

    hub: Hub = app.state.ctx.hub
    assert hub._loop is not None
    sockets_before = len(widget.sockets)
    hub._loop.call_soon_threadsafe(hub.resync)

    expect(page.get_by_text("错过的消息：老师稍后联系您")).to_have_count(1)
    expect(page.locator(".edk-msg[data-id]")).to_have_count(shown + 1)
    assert len(widget.sockets) == sockets_before + 1
    expect(page.locator("#edk-root")).to_have_attribute("data-connection", "online")
