"""The SIP adapter (``LineKind.sip``): a small SIP user agent over UDP of our own (RFC 3261 subset), because
``pjsua2`` cannot be installed here (PyPI has only an sdist that needs pjproject built from source; Debian has no
python3-pjsua2 — docs/decisions.md).

As UAC it sends INVITE with an SDP offer (PCMU/PCMA, telephone-event), follows 100/180/183, answers a 401/407
challenge with digest credentials once, ACKs the final answer, CANCELs on the ring timeout, and sends or answers
BYE; the answered call's audio is RTP (voice/telephony/rtp.py). As UAS it refuses INVITEs from peers no SIP line
allows with 403 (logged) and answers allowed peers' INVITEs 480 for now: edudesk places calls, it does not take
them yet. A datagram that is not SIP is ignored with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
import structlog
from pydantic import BaseModel
from sqlalchemy import select

from edudesk.voice.models import LineKind, VoiceLine
from edudesk.voice.telephony import configs
from edudesk.voice.telephony.base import CallHandler, DialFailed, OriginateRequest
from edudesk.voice.telephony.lines import SipLineConfig, decrypt_config, secret_box
from edudesk.voice.telephony.rtp import RtpPort
from edudesk.voice.telephony.sipmsg import (
    SipMessage,
    SipParseError,
    digest_authorization,
    new_branch,
    new_tag,
    parse,
    parse_challenge,
    parse_sdp_answer,
    response_to,
    sdp_offer,
    uri_of,
)

log = structlog.get_logger(__name__)
T1 = 0.5
USER_AGENT = "edudesk-voice/1"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
BUSY = {486, 600, 603}
NO_ANSWER = {408, 480, 487}
PEERS_REFRESH_SECONDS = 30.0


@dataclass
class Dialog:
    call_id: str
    local_from: str  # our From header (with tag)
    remote_to: str  # their To header (with tag)
    target: str  # the Request-URI of in-dialog requests (their Contact)
    peer: tuple[str, int]
    cseq: int
    port: RtpPort


class SipAdapter(asyncio.DatagramProtocol):
    kind: ClassVar[str] = "sip"
    label: ClassVar[str] = "SIP 中继"
    config_model: ClassVar[type[BaseModel]] = SipLineConfig

    def __init__(self, listen: str, *, advertise: str = "") -> None:
        host, _, port = listen.rpartition(":")
        self.host = host or "0.0.0.0"
        self.port = int(port)
        self.advertise = advertise
        self.handler: CallHandler | None = None
        self.services: Any = None
        self.transport: asyncio.DatagramTransport | None = None
        self._transactions: dict[str, asyncio.Queue[SipMessage]] = {}
        self.dialogs: dict[str, Dialog] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.allowed_peers: set[str] = set()
        self._peers_loaded = 0.0

    # ---- lifecycle ----

    @property
    def address(self) -> str:
        return self.advertise or (self.host if self.host != "0.0.0.0" else "127.0.0.1")

    async def start(self, handler: CallHandler, services: Any) -> None:
        self.handler = handler
        self.services = services
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        assert self.transport is not None
        self.port = int(self.transport.get_extra_info("sockname")[1])
        await self.refresh_peers()

    async def stop(self) -> None:
        for dialog in list(self.dialogs.values()):
            with contextlib.suppress(Exception):
                await dialog.port.hangup("shutdown")
        for task in list(self._tasks):
            task.cancel()
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    async def refresh_peers(self) -> None:
        """The peers whose INVITEs are not refused: every enabled SIP line's trunk and allowed peers."""
        if self.services is None or self.services.db is None or self.services.settings is None:
            return
        self.allowed_peers = await anyio.to_thread.run_sync(self._load_peers)
        self._peers_loaded = asyncio.get_running_loop().time()

    def _load_peers(self) -> set[str]:
        box = secret_box(self.services.settings.secret_key)
        peers: set[str] = set()
        with self.services.db.session() as session:
            for line in session.scalars(
                select(VoiceLine).where(VoiceLine.kind == LineKind.sip, VoiceLine.enabled.is_(True))
            ):
                with contextlib.suppress(Exception):
                    config = decrypt_config(box, line.kind, line.config_encrypted)
                    assert isinstance(config, SipLineConfig)
                    peers.add(f"{config.trunk_host}:{config.trunk_port}")
                    peers.update(config.allowed_peers)  # networks ("10.0.0.2/32"), normalised by the config
        return peers

    def peer_allowed(self, addr: tuple[str, int]) -> bool:
        """The trunk itself (host:port), or an address inside one of the lines' allowed networks."""
        if f"{addr[0]}:{addr[1]}" in self.allowed_peers:
            return True
        return configs.peer_allowed(addr[0], [p for p in self.allowed_peers if "/" in p])

    # ---- datagrams ----

    def send(self, message: SipMessage, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(message.encode(), addr)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip() == b"":  # CRLF keep-alive
            return
        try:
            message = parse(data)
        except SipParseError as exc:
            log.warning("voice_sip_garbled", peer=f"{addr[0]}:{addr[1]}", reason=str(exc))
            return
        if message.is_request:
            self._request(message, addr)
            return
        branch = _branch(message.get("Via"))
        queue = self._transactions.get(f"{branch}/{message.cseq[1]}")
        if queue is not None:
            queue.put_nowait(message)

    def _request(self, request: SipMessage, addr: tuple[str, int]) -> None:
        method = request.method
        dialog = self.dialogs.get(request.call_id)
        if method == "ACK":
            return
        if method == "BYE" and dialog is not None:
            self.send(response_to(request, 200, "OK"), addr)
            self.dialogs.pop(request.call_id, None)
            dialog.port.remote_hangup("bye")
            return
        if method == "OPTIONS":
            self.send(response_to(request, 200, "OK", to_tag=new_tag(), extra=[("Allow", ALLOW)]), addr)
            return
        if method == "INVITE" and dialog is None:
            if not self.peer_allowed(addr):
                log.warning("voice_sip_refused", peer=f"{addr[0]}:{addr[1]}", reason="unknown peer")
                self.send(response_to(request, 403, "Forbidden", to_tag=new_tag()), addr)
            else:
                log.info("voice_sip_inbound_declined", peer=f"{addr[0]}:{addr[1]}")
                self.send(response_to(request, 480, "Temporarily Unavailable", to_tag=new_tag()), addr)
            return
        if method in ("BYE", "CANCEL"):
            self.send(response_to(request, 481, "Call/Transaction Does Not Exist", to_tag=new_tag()), addr)
            return
        self.send(response_to(request, 405, "Method Not Allowed", to_tag=new_tag(), extra=[("Allow", ALLOW)]), addr)

    # ---- originate (UAC) ----

    async def originate(self, request: OriginateRequest) -> None:
        config = request.config
        assert isinstance(config, SipLineConfig)
        if asyncio.get_running_loop().time() - self._peers_loaded > PEERS_REFRESH_SECONDS:
            with contextlib.suppress(Exception):
                await self.refresh_peers()
        self.allowed_peers.add(f"{config.trunk_host}:{config.trunk_port}")
        peer = (config.trunk_host, config.trunk_port)
        domain = config.domain or config.trunk_host
        call_id = f"{secrets.token_hex(12)}@{self.address}"
        local_from = f"<sip:{_user(request.from_number) or 'edudesk'}@{domain}>;tag={new_tag()}"
        to = f"<sip:{_user(request.to_e164)}@{domain}>"
        uri = f"sip:{_user(request.to_e164)}@{domain}"
        port = await RtpPort.open(
            self.host, request.call_public_id, config.sample_rate, lambda reason: self._bye(call_id)
        )
        port.provider_call_id = call_id
        offer = sdp_offer(self.address, port.local_port, list(config.codecs), secrets.randbelow(2**31))
        try:
            answer = await self._invite(request, config, peer, uri, local_from, to, call_id, offer)
        except BaseException:
            await port.close()
            raise
        response, invite_cseq = answer
        try:
            sdp = parse_sdp_answer(response.body, list(config.codecs))
        except SipParseError as exc:
            await port.close()
            raise DialFailed("failed", f"bad SDP answer: {exc}") from None
        contact = response.get("Contact")
        dialog = Dialog(
            call_id, local_from, response.get("To"), uri_of(contact) if contact else uri, peer, invite_cseq, port
        )
        self.dialogs[call_id] = dialog
        port.begin((sdp.address, sdp.port), sdp.payload_type, sdp.dtmf_pt)
        task = asyncio.create_task(self._carry(dialog))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invite(
        self,
        request: OriginateRequest,
        config: SipLineConfig,
        peer: tuple[str, int],
        uri: str,
        local_from: str,
        to: str,
        call_id: str,
        offer: bytes,
    ) -> tuple[SipMessage, int]:
        cseq, authorised = 1, False
        auth: list[tuple[str, str]] = []
        deadline = asyncio.get_running_loop().time() + request.ring_timeout_seconds
        while True:
            branch = new_branch()
            invite = SipMessage(
                method="INVITE",
                uri=uri,
                headers=[
                    ("Via", self._via(branch)),
                    ("Max-Forwards", "70"),
                    ("From", local_from),
                    ("To", to),
                    ("Call-ID", call_id),
                    ("CSeq", f"{cseq} INVITE"),
                    ("Contact", self._contact()),
                    ("Allow", ALLOW),
                    ("User-Agent", USER_AGENT),
                    *auth,
                    ("Content-Type", "application/sdp"),
                ],
                body=offer,
            )
            key = f"{branch}/INVITE"
            queue: asyncio.Queue[SipMessage] = asyncio.Queue()
            self._transactions[key] = queue
            try:
                final = await self._await_final(invite, queue, peer, deadline)
            finally:
                self._transactions.pop(key, None)
            if final is None:  # ring timeout
                await self._cancel(invite, peer)
                raise DialFailed("no_answer", "ring timeout")
            status = final.status
            if status >= 300:
                self.send(self._ack_for(invite, final), peer)
            if status in (401, 407) and not authorised and config.username and config.password.get_secret_value():
                header = final.get("WWW-Authenticate" if status == 401 else "Proxy-Authenticate")
                try:
                    challenge = parse_challenge(header)
                except SipParseError:
                    raise DialFailed("failed", "bad authentication challenge") from None
                value = digest_authorization(
                    challenge,
                    method="INVITE",
                    uri=uri,
                    username=config.username,
                    password=config.password.get_secret_value(),
                )
                auth = [("Authorization" if status == 401 else "Proxy-Authorization", value)]
                authorised, cseq = True, cseq + 1
                continue
            if 200 <= status < 300:
                ack = SipMessage(
                    method="ACK",
                    uri=uri_of(final.get("Contact")) if final.get("Contact") else uri,
                    headers=[
                        ("Via", self._via(new_branch())),
                        ("Max-Forwards", "70"),
                        ("From", local_from),
                        ("To", final.get("To")),
                        ("Call-ID", call_id),
                        ("CSeq", f"{cseq} ACK"),
                        ("User-Agent", USER_AGENT),
                    ],
                )
                self.send(ack, peer)
                return final, cseq
            if status in BUSY:
                raise DialFailed("busy", f"SIP {status}")
            if status in NO_ANSWER:
                raise DialFailed("no_answer", f"SIP {status}")
            raise DialFailed("failed", f"SIP {status} {final.reason}"[:200])

    async def _await_final(
        self, invite: SipMessage, queue: asyncio.Queue[SipMessage], peer: tuple[str, int], deadline: float
    ) -> SipMessage | None:
        loop = asyncio.get_running_loop()
        interval, provisional = T1, False
        self.send(invite, peer)
        next_send = loop.time() + interval
        while True:
            now = loop.time()
            if now >= deadline:
                return None
            wait = deadline - now if provisional else min(next_send, deadline) - now
            try:
                response = await asyncio.wait_for(queue.get(), max(wait, 0.01))
            except TimeoutError:
                if not provisional and loop.time() < deadline:
                    self.send(invite, peer)  # timer A: retransmit until something answers
                    interval = min(interval * 2, 4.0)
                    next_send = loop.time() + interval
                continue
            if response.status < 200:
                provisional = True
                continue
            return response

    async def _cancel(self, invite: SipMessage, peer: tuple[str, int]) -> None:
        cancel = SipMessage(
            method="CANCEL",
            uri=invite.uri,
            headers=[
                ("Via", invite.get("Via")),
                ("Max-Forwards", "70"),
                ("From", invite.get("From")),
                ("To", invite.get("To")),
                ("Call-ID", invite.call_id),
                ("CSeq", f"{invite.cseq[0]} CANCEL"),
                ("User-Agent", USER_AGENT),
            ],
        )
        branch = _branch(invite.get("Via"))
        queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._transactions[f"{branch}/INVITE"] = queue
        try:
            self.send(cancel, peer)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(4):
                    while True:
                        response = await queue.get()
                        if response.status >= 300:
                            self.send(self._ack_for(invite, response), peer)
                            return
                        if 200 <= response.status < 300:  # answered as we canceled: hang up at once
                            ack = SipMessage(
                                method="ACK",
                                uri=invite.uri,
                                headers=[
                                    ("Via", self._via(new_branch())),
                                    ("From", invite.get("From")),
                                    ("To", response.get("To")),
                                    ("Call-ID", invite.call_id),
                                    ("CSeq", f"{invite.cseq[0]} ACK"),
                                ],
                            )
                            self.send(ack, peer)
                            return
        finally:
            self._transactions.pop(f"{branch}/INVITE", None)

    def _ack_for(self, invite: SipMessage, final: SipMessage) -> SipMessage:
        """The ACK of a non-2xx final answer: same branch, the To of the answer (RFC 3261 17.1.1.3)."""
        return SipMessage(
            method="ACK",
            uri=invite.uri,
            headers=[
                ("Via", invite.get("Via")),
                ("Max-Forwards", "70"),
                ("From", invite.get("From")),
                ("To", final.get("To")),
                ("Call-ID", invite.call_id),
                ("CSeq", f"{invite.cseq[0]} ACK"),
            ],
        )

    async def _carry(self, dialog: Dialog) -> None:
        try:
            assert self.handler is not None
            await self.handler(dialog.port)
        except Exception as exc:
            log.error(
                "voice_sip_call_failed", call=dialog.port.call_public_id, error=f"{type(exc).__name__}: {exc}"[:300]
            )
        finally:
            if not dialog.port.closed:
                await dialog.port.hangup("call ended")
            await dialog.port.close()

    async def _bye(self, call_id: str) -> None:
        dialog = self.dialogs.pop(call_id, None)
        if dialog is None:
            return
        dialog.cseq += 1
        branch = new_branch()
        bye = SipMessage(
            method="BYE",
            uri=dialog.target,
            headers=[
                ("Via", self._via(branch)),
                ("Max-Forwards", "70"),
                ("From", dialog.local_from),
                ("To", dialog.remote_to),
                ("Call-ID", call_id),
                ("CSeq", f"{dialog.cseq} BYE"),
                ("User-Agent", USER_AGENT),
            ],
        )
        queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._transactions[f"{branch}/BYE"] = queue
        try:
            for wait in (T1, 2 * T1, 4 * T1, 4.0):
                self.send(bye, dialog.peer)
                with contextlib.suppress(TimeoutError):
                    if (await asyncio.wait_for(queue.get(), wait)).status >= 200:
                        return
        finally:
            self._transactions.pop(f"{branch}/BYE", None)

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.address}:{self.port};branch={branch};rport"

    def _contact(self) -> str:
        return f"<sip:edudesk@{self.address}:{self.port}>"


def _branch(via: str) -> str:
    for part in via.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key == "branch":
            return value
    return ""


def _user(number: str) -> str:
    return "".join(c for c in number if c.isdigit() or c in "*#")
