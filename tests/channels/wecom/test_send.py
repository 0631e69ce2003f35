"""Sending: kf/send_msg with the delivery key as msgid, pictures through a temporary upload, the welcome code, what
WeCom's errcodes mean for the outbox, and an outage that a message waits out in the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, update

from edudesk import jobs
from edudesk.app import close_channel_services, make_channel_services
from edudesk.channels.base import (
    ChannelSendError,
    ChannelServices,
    InboxInfo,
    OutboundAttachment,
    OutboundMessage,
    OutsideReplyWindow,
    SendContext,
)
from edudesk.channels.wecom.adapter import WeComChannel
from edudesk.channels.wecom.config import WeComConfig
from edudesk.channels.wecom.memo import memo_of
from edudesk.channels.wecom.sending import TEXT_MAX_BYTES, note_welcome_code
from edudesk.conversations.models import ChannelDelivery, DeliveryState, Message, SenderKind
from edudesk.db import Database, utcnow
from edudesk.settings import Settings
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, OPEN_KFID, SECRET, TOKEN, Account, Platform, run_jobs
from tests.channels.wecom.fake_api import FakeWeCom

PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 80
USER = "wmParent1"


def config(secret: str = SECRET) -> WeComConfig:
    return WeComConfig(corp_id=CORP_ID, secret=SecretStr(secret), token=SecretStr(TOKEN),
                       encoding_aes_key=SecretStr(AES_KEY), open_kfid=OPEN_KFID)


def build_services(wecom_api: FakeWeCom, tmp_path: Path, redis_url: str | None) -> ChannelServices:
    return make_channel_services(Settings(database_url=f"sqlite:///{tmp_path}/unused.db", data_dir=tmp_path,
                                          wecom_api_base=wecom_api.url, redis_url=redis_url,
                                          redis_namespace=f"edudesk-test-{uuid.uuid4().hex[:8]}"))


def forget(built: ChannelServices) -> None:
    if built.redis is not None:
        for key in built.redis.scan_iter(f"{built.settings.redis_namespace}:*"):
            built.redis.delete(key)
    close_channel_services(built)


@pytest.fixture(params=["memory", "redis"])
def services(request: pytest.FixtureRequest, wecom_api: FakeWeCom, tmp_path: Path) -> Iterator[ChannelServices]:
    """The adapter's services as the app builds them: tokens and welcome codes in this process, or in Redis."""
    built = build_services(wecom_api, tmp_path,
                           request.getfixturevalue("redis_url") if request.param == "redis" else None)
    yield built
    forget(built)


def send(services: ChannelServices, text: str, key: str, *, secret: str = SECRET, outside_window: bool = False,
         attachment: OutboundAttachment | None = None) -> str | None:
    info = InboxInfo(id=7, org_id=1, kind="wecom", public_id="p", name="客服", config=config(secret))
    message = OutboundMessage(org_id=1, channel="wecom", external_user_id=USER, text=text, delivery_key=key,
                              outside_window=outside_window, attachment=attachment)
    return WeComChannel().send(SendContext(inbox=info, services=services), message).external_message_id


def test_a_text_goes_out_with_the_delivery_key_as_msgid(services: ChannelServices, wecom_api: FakeWeCom) -> None:
    assert send(services, "您好，学费是每学期 3800 元", "edk-41") == "edk-41"
    [call] = wecom_api.sent
    assert {k: v for k, v in call.items() if k != "_seq"} == {
        "touser": USER, "open_kfid": OPEN_KFID, "msgid": "edk-41", "msgtype": "text",
        "text": {"content": "您好，学费是每学期 3800 元"}}
    assert wecom_api.token_fetches == 1
    send(services, "第二条", "edk-42")
    assert wecom_api.token_fetches == 1  # the token is cached


def test_a_long_text_and_a_picture_go_in_parts_and_a_retry_sends_only_what_is_missing(
        services: ChannelServices, wecom_api: FakeWeCom, tmp_path: Path) -> None:
    picture = tmp_path / "课表.png"
    picture.write_bytes(PNG)
    text = "\n".join(f"第{n}行：三年级数学提高班，每周六上午九点到十一点" for n in range(80))
    assert len(text.encode()) > 2 * TEXT_MAX_BYTES
    attachment = OutboundAttachment(path=picture, content_type="image/png", filename="课表.png")
    wecom_api.sends_before_busy = 1
    with pytest.raises(ChannelSendError) as exc:
        send(services, text, "edk-9", attachment=attachment)
    assert exc.value.retryable
    wecom_api.sends_before_busy = None
    send(services, text, "edk-9", attachment=attachment)
    msgids = [c["msgid"] for c in wecom_api.sent]
    assert msgids == ["edk-9", "edk-9-2", "edk-9-3", "edk-9-i"]
    parts = [c["text"]["content"] for c in wecom_api.sent if c["msgtype"] == "text"]
    assert "\n".join(parts) == text and all(len(p.encode()) <= TEXT_MAX_BYTES for p in parts)
    [upload] = wecom_api.uploads
    assert (upload.kind, upload.filename, upload.content, upload.content_type) == (
        "image", "课表.png", PNG, "image/png")
    assert wecom_api.sent[-1]["image"] == {"media_id": "media-1"}


def test_the_welcome_code_carries_the_first_message_once(services: ChannelServices, wecom_api: FakeWeCom) -> None:
    wecom_api.welcome_codes.add("CODE-1")
    note_welcome_code(memo_of(services), 7, USER, "CODE-1", 20)
    # The customer has not written yet, so the outbox calls the message outside the window: the code still works.
    assert send(services, "欢迎咨询！", "edk-1", outside_window=True) == "edk-1"
    assert [(c["code"], c["text"]["content"]) for c in wecom_api.on_event] == [("CODE-1", "欢迎咨询！")]
    with pytest.raises(OutsideReplyWindow):
        send(services, "还有一个问题想问您", "edk-2", outside_window=True)
    assert wecom_api.sent == []
    send(services, "学费是 3800 元", "edk-3")
    assert [c["msgid"] for c in wecom_api.sent] == ["edk-3"] and len(wecom_api.on_event) == 1


def test_a_refused_welcome_code_falls_back_to_send_msg(services: ChannelServices, wecom_api: FakeWeCom) -> None:
    note_welcome_code(memo_of(services), 7, USER, "ALREADY-USED", 20)
    send(services, "欢迎咨询！", "edk-1")
    assert wecom_api.on_event == [] and [c["msgid"] for c in wecom_api.sent] == ["edk-1"]


def test_an_expired_token_is_refreshed_and_the_message_sent_once(services: ChannelServices,
                                                                 wecom_api: FakeWeCom) -> None:
    send(services, "一", "edk-1")
    wecom_api.expire_token_once = True
    send(services, "二", "edk-2")
    assert [c["msgid"] for c in wecom_api.sent] == ["edk-1", "edk-2"]
    assert wecom_api.token_fetches == 2


ERRORS = {
    "outside 48 hours": (95002, "outside_reply_window", False),
    "five messages already": (95001, "message_limit", False),
    "session taken over": (95018, "session_state", False),
    "unknown customer": (40096, "bad_customer", False),
    "system busy": (-1, "unavailable", True),
    "frequency limit": (45009, "unavailable", True),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_what_wecom_errcodes_mean_for_the_outbox(case: str, services: ChannelServices,
                                                 wecom_api: FakeWeCom) -> None:
    errcode, code, retryable = ERRORS[case]
    wecom_api.send_errcode = errcode
    with pytest.raises(ChannelSendError) as exc:
        send(services, "您好", "edk-5")
    assert (exc.value.code, exc.value.retryable) == (code, retryable)
    assert isinstance(exc.value, OutsideReplyWindow) == (errcode == 95002)


def test_an_outage_and_wrong_credentials(services: ChannelServices, wecom_api: FakeWeCom) -> None:
    wecom_api.fail_sends = True
    with pytest.raises(ChannelSendError) as exc:
        send(services, "您好", "edk-5")
    assert exc.value.retryable and exc.value.code == "unavailable"
    wecom_api.fail_sends = False
    with pytest.raises(ChannelSendError) as exc:
        send(services, "您好", "edk-6", secret="wrong-secret")
    assert (exc.value.code, exc.value.retryable) == ("bad_config", False)


def test_redis_keeps_the_welcome_code_for_every_instance(wecom_api: FakeWeCom, tmp_path: Path,
                                                         redis_url: str) -> None:
    """Two instances share Redis: the code one pulled is used by the other's send, once."""
    first, second = build_services(wecom_api, tmp_path, redis_url), build_services(wecom_api, tmp_path, redis_url)
    second.settings = second.settings.model_copy(update={"redis_namespace": first.settings.redis_namespace})
    try:
        wecom_api.welcome_codes.add("CODE-R")
        note_welcome_code(memo_of(first), 7, USER, "CODE-R", 20)
        send(second, "欢迎咨询！", "edk-1")
        send(first, "还有什么想了解的吗", "edk-2")
        assert [c["code"] for c in wecom_api.on_event] == ["CODE-R"]
        assert [c["msgid"] for c in wecom_api.sent] == ["edk-2"]
    finally:
        forget(first)
        close_channel_services(second)


# --- through the outbox (both databases) ----------------------------------------------------------------------


def make_due(database: Database) -> None:
    """Moves the outbox's backoff to now, instead of waiting for it."""
    with database.session() as session:
        session.execute(update(ChannelDelivery).where(ChannelDelivery.state == DeliveryState.pending)
                        .values(next_attempt_at=utcnow()))
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending).values(run_at=utcnow()))
        session.commit()


def deliveries(database: Database) -> list[tuple[str, DeliveryState, dict[str, object]]]:
    with database.session() as session:
        rows = session.execute(select(Message.text, ChannelDelivery.state, Message.extra)
                               .join(Message, Message.id == ChannelDelivery.message_id)
                               .order_by(ChannelDelivery.id))
        return [(text, state, dict((extra or {}).get("delivery") or {})) for text, state, extra in rows]


def test_an_outage_leaves_the_answers_waiting_in_order_and_sends_them_once(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.fail_sends = True
    wecom_api.customer_text(USER, "你好", OPEN_KFID)
    platform.notify()
    run_jobs(app)
    waiting = deliveries(database)
    assert len(waiting) >= 2 and all(state == DeliveryState.pending for _, state, _ in waiting)
    assert waiting[0][2]["state"] == "retrying"  # the agents see it is being retried
    wecom_api.fail_sends = False
    make_due(database)
    run_jobs(app)
    assert [state for _, state, _ in deliveries(database)] == [DeliveryState.sent] * len(waiting)
    assert wecom_api.texts_to(USER) == [text for text, _, _ in waiting]


def test_the_48_hour_refusal_marks_the_message_failed(
        app: FastAPI, platform: Platform, wecom_api: FakeWeCom, database: Database, account: Account) -> None:
    wecom_api.send_errcode = 95002
    wecom_api.customer_text(USER, "你好", OPEN_KFID)
    platform.notify()
    run_jobs(app)
    failed = deliveries(database)
    assert failed and all(state == DeliveryState.failed for _, state, _ in failed)
    assert failed[0][2]["code"] == "outside_reply_window" and "48 小时" in str(failed[0][2]["error"])
    with database.session() as session:
        visitor = session.scalars(select(Message).where(Message.sender == SenderKind.visitor)).one()
        assert visitor.text == "你好"  # what the customer wrote is kept whatever the sending did
