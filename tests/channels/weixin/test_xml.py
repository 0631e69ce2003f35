"""Callback XML is parsed without entities, DTDs or external references, and with a size cap."""

from __future__ import annotations

import pytest

from edudesk.channels.weixin import xml
from edudesk.channels.weixin.xml import XmlError


def test_parses_flat_and_nested_elements() -> None:
    doc = xml.parse("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1700000000</CreateTime>"
                    "<ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>")
    assert doc == {"ToUserName": "gh_1", "CreateTime": "1700000000", "ScanCodeInfo": {"ScanType": "qrcode"}}


@pytest.mark.parametrize("body", [
    # XXE: an external entity reading a local file.
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
    # Billion laughs.
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><C>&b;</C></xml>',
    "<xml><Content>unclosed</xml>",
    "<notxml><Content>x</Content></notxml>",
    "",
    "   ",
    "just text",
])
def test_hostile_or_malformed_xml_is_refused(body: str) -> None:
    with pytest.raises(XmlError):
        xml.parse(body)


def test_oversized_body_is_refused_before_parsing() -> None:
    with pytest.raises(XmlError, match="too large"):
        xml.parse("<xml><C>" + "长" * xml.MAX_XML_BYTES + "</C></xml>")


def test_render_cannot_be_closed_early_by_the_text() -> None:
    out = xml.render({"Content": "a]]><Evil>1</Evil>", "CreateTime": 5})
    assert xml.parse(out) == {"Content": "a]]><Evil>1</Evil>", "CreateTime": "5"}
