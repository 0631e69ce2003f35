"""WeChat callback crypto, checked against wechatpy (an independent implementation of the published algorithm)."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from wechatpy.crypto import WeChatCrypto

from edudesk.channels.weixin import crypto, xml
from edudesk.channels.weixin.crypto import CryptoError, MessageCrypto


def aes_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()[:-1]


def test_decrypts_what_wechatpy_encrypts_and_the_reverse() -> None:
    key = aes_key()
    platform = WeChatCrypto("tok", key, "wx0123456789abcdef")
    ours = MessageCrypto("tok", key, "wx0123456789abcdef")
    message = "<xml><Content><![CDATA[学费多少？]]></Content></xml>"
    body = xml.parse(platform.encrypt_message(message, "n1", "1700000000"))
    assert ours.open(body["MsgSignature"], body["TimeStamp"], body["Nonce"], body["Encrypt"]) == \
        "<xml><Content><![CDATA[学费多少？]]></Content></xml>"
    ciphertext, signature = ours.seal("<xml>好的</xml>", "1700000001", "n2")
    reply = xml.render({"Encrypt": ciphertext, "MsgSignature": signature, "TimeStamp": "1700000001", "Nonce": "n2"})
    assert platform.decrypt_message(reply, signature, "1700000001", "n2") == "<xml>好的</xml>"


def test_wrong_signature_wrong_key_and_wrong_account_are_refused() -> None:
    key = aes_key()
    body = xml.parse(WeChatCrypto("tok", key, "wxA").encrypt_message("<xml/>", "n", "1"))
    with pytest.raises(CryptoError, match="signature"):
        MessageCrypto("other-token", key, "wxA").open(body["MsgSignature"], body["TimeStamp"], body["Nonce"],
                                                      body["Encrypt"])
    with pytest.raises(CryptoError):
        MessageCrypto("tok", aes_key(), "wxA").open(body["MsgSignature"], body["TimeStamp"], body["Nonce"],
                                                    body["Encrypt"])
    with pytest.raises(CryptoError, match="another account"):
        MessageCrypto("tok", key, "wxB").open(body["MsgSignature"], body["TimeStamp"], body["Nonce"],
                                              body["Encrypt"])


@pytest.mark.parametrize("ciphertext", ["", "not base64!!", base64.b64encode(b"short").decode(),
                                        base64.b64encode(bytes(range(48))).decode()],
                         ids=["empty", "not-base64", "short", "random-blocks"])
def test_garbage_ciphertext_is_a_crypto_error(ciphertext: str) -> None:
    ours = MessageCrypto("tok", aes_key(), "wxA")
    with pytest.raises(CryptoError):
        ours.decrypt(ciphertext)


@pytest.mark.parametrize("key", ["", "abc", "!" * 43, base64.b64encode(bytes(range(33))).decode()[:43] + "xx"],
                         ids=["empty", "short", "not-base64", "too-long"])
def test_bad_encoding_aes_key_is_refused(key: str) -> None:
    assert not crypto.valid_aes_key(key)
    with pytest.raises(CryptoError):
        MessageCrypto("tok", key, "wxA")


def test_plain_signature_matches_the_platforms() -> None:
    # sha1 of the sorted concatenation, as WeChat's URL verification computes it.
    expected = hashlib.sha1("".join(sorted(["tok", "1700000000", "nonce"])).encode()).hexdigest()  # noqa: S324
    crypto.check_signature(expected, "tok", "1700000000", "nonce")
    with pytest.raises(CryptoError):
        crypto.check_signature(expected, "tok", "1700000001", "nonce")
    with pytest.raises(CryptoError):
        crypto.check_signature("", "tok", "1700000000", "nonce")
