"""Callback XML from the internet, parsed with defusedxml: no entity expansion, no external entities, no DTD."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element  # for the type only: parsing goes through defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

MAX_XML_BYTES = 64 * 1024


class XmlError(ValueError):
    pass


def _value(node: Element) -> Any:
    children = list(node)
    if not children:
        return (node.text or "").strip()
    return {child.tag: _value(child) for child in children}


def parse(body: bytes | str) -> dict[str, Any]:
    """The ``<xml>`` document's children as a dict (nested elements as dicts, text stripped)."""
    raw = body.encode() if isinstance(body, str) else body
    if not raw.strip():
        raise XmlError("empty body")
    if len(raw) > MAX_XML_BYTES:
        raise XmlError("body too large")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError) as exc:
        raise XmlError(f"malformed XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise XmlError("root element is not <xml>")
    value = _value(root)
    return value if isinstance(value, dict) else {}


def render(fields: dict[str, str | int]) -> str:
    """A flat reply document; text goes into CDATA (a ``]]>`` inside is split so it cannot close it early)."""
    parts = ["<xml>"]
    for key, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            safe = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{key}><![CDATA[{safe}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts)
