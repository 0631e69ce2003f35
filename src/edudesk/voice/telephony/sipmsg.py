"""SIP messages (RFC 3261), SDP (RFC 4566) and digest authentication (RFC 2617 / 8760 MD5), as much as our user
agent needs: build requests and responses, parse what peers send (anything malformed is a ``SipParseError``)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

MAX_DATAGRAM = 8192
_START_REQUEST = re.compile(r"^([A-Z]{2,16}) (\S{3,512}) SIP/2\.0$")
_START_RESPONSE = re.compile(r"^SIP/2\.0 ([1-6]\d\d) ?(.{0,200})$")
COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
}
PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
DTMF_PT = 101


class SipParseError(ValueError):
    pass


@dataclass
class SipMessage:
    method: str = ""  # requests
    uri: str = ""
    status: int = 0  # responses
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str) -> str:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return ""

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def call_id(self) -> str:
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.get("CSeq").partition(" ")
        try:
            return int(number), method.strip()
        except ValueError:
            raise SipParseError("bad CSeq") from None

    def encode(self) -> bytes:
        start = f"{self.method} {self.uri} SIP/2.0" if self.method else f"SIP/2.0 {self.status} {self.reason}"
        lines = [start] + [f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def parse(data: bytes) -> SipMessage:
    if len(data) > MAX_DATAGRAM:
        raise SipParseError("datagram too large")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no end of headers")
    try:
        lines = head.decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    message = SipMessage()
    if m := _START_REQUEST.match(lines[0]):
        message.method, message.uri = m.group(1), m.group(2)
    elif m := _START_RESPONSE.match(lines[0]):
        message.status, message.reason = int(m.group(1)), m.group(2)
    else:
        raise SipParseError(f"bad start line {lines[0][:60]!r}")
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and message.headers:  # folded header
            key, value = message.headers[-1]
            message.headers[-1] = (key, value + " " + line.strip())
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip() or " " in key.strip():
            raise SipParseError("bad header line")
        key = key.strip()
        message.headers.append((COMPACT.get(key.lower(), key), value.strip()))
    for required in ("Call-ID", "CSeq", "From", "To", "Via"):
        if not message.get(required):
            raise SipParseError(f"missing {required}")
    message.cseq  # noqa: B018 — validates it
    length = message.get("Content-Length")
    if length:
        if not length.isdigit() or int(length) > len(body):
            raise SipParseError("bad Content-Length")
        body = body[: int(length)]
    message.body = body
    return message


def tag_of(header: str) -> str:
    m = re.search(r";\s*tag=([^;>\s]+)", header)
    return m.group(1) if m else ""


def uri_of(header: str) -> str:
    m = re.search(r"<([^>]+)>", header)
    return m.group(1) if m else header.split(";")[0].strip()


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def response_to(
    request: SipMessage,
    status: int,
    reason: str,
    *,
    to_tag: str = "",
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> SipMessage:
    headers = [(k, v) for k, v in request.headers if k.lower() in ("via", "from", "call-id", "cseq")]
    to = request.get("To")
    if to_tag and not tag_of(to):
        to = f"{to};tag={to_tag}"
    headers.insert(2, ("To", to))
    return SipMessage(status=status, reason=reason, headers=headers + (extra or []), body=body)


# ---- digest authentication ----


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_challenge(header: str) -> dict[str, str]:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError("not a digest challenge")
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]+))', rest)
    }


def digest_authorization(
    challenge: dict[str, str], *, method: str, uri: str, username: str, password: str, nc: int = 1
) -> str:
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    qop = challenge.get("qop", "")
    if "auth" in [q.strip() for q in qop.split(",")]:
        cnonce, count = secrets.token_hex(8), f"{nc:08x}"
        response = _md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', "qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        parts.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


# ---- SDP ----


def sdp_offer(address: str, rtp_port: int, codecs: list[str], session_id: int) -> bytes:
    pts = [PAYLOAD_TYPES[c] for c in codecs] + [DTMF_PT]
    lines = [
        "v=0",
        f"o=edudesk {session_id} {session_id} IN IP4 {address}",
        "s=edudesk",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {' '.join(map(str, pts))}",
    ]
    lines += [f"a=rtpmap:{PAYLOAD_TYPES[c]} {c}/8000" for c in codecs]
    lines += [f"a=rtpmap:{DTMF_PT} telephone-event/8000", f"a=fmtp:{DTMF_PT} 0-16", "a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class SdpAnswer:
    address: str
    port: int
    payload_type: int  # the codec chosen (0 PCMU, 8 PCMA)
    dtmf_pt: int | None


def parse_sdp_answer(body: bytes, offered: list[str]) -> SdpAnswer:
    address, port, pts, dtmf = "", 0, [], None
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=IN IP4 "):
            address = line[9:].split("/")[0].strip()
        elif line.startswith("m=audio "):
            fields = line.split()
            try:
                port = int(fields[1])
                pts = [int(p) for p in fields[3:]]
            except (ValueError, IndexError):
                raise SipParseError("bad m= line") from None
        elif line.startswith("a=rtpmap:") and "telephone-event" in line.lower():
            try:
                dtmf = int(line[9:].split()[0])
            except ValueError:
                raise SipParseError("bad rtpmap") from None
    allowed = [PAYLOAD_TYPES[c] for c in offered]
    chosen = next((pt for pt in pts if pt in allowed), None)
    if not address or not port or chosen is None:
        raise SipParseError("no usable audio in the answer")
    return SdpAnswer(address, port, chosen, dtmf if dtmf in pts else None)
