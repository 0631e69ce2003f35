"""WeChat's callback signature and message encryption (the "safe mode" of 公众号 and every WeCom callback).

The published algorithm: the signature is SHA-1 over the sorted concatenation of the token, timestamp, nonce (and
the ciphertext, in safe mode); the body is AES-256-CBC with the key ``base64(EncodingAESKey + "=")`` and its first
16 bytes as IV, over ``16 random bytes ‖ length (4 bytes, big-endian) ‖ message ‖ receive id`` padded PKCS#7 to a
32-byte block. The receive id is the AppID (公众号) or CorpID (WeCom) and is checked on decryption, so a message
encrypted for another account is refused even with the right key. Tests build callbacks with wechatpy, an
independent implementation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CryptoError(ValueError):
    """A signature that does not match or a body that does not decrypt: the request is refused (never a 500)."""


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (WeChat's protocol)


def check_signature(expected: str, *parts: str) -> None:
    if not expected or not hmac.compare_digest(signature(*parts), expected.lower()):
        raise CryptoError("signature mismatch")


def _key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("EncodingAESKey is not base64") from None
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise CryptoError("EncodingAESKey must be 43 characters")
    return key


def valid_aes_key(encoding_aes_key: str) -> bool:
    try:
        _key(encoding_aes_key)
    except CryptoError:
        return False
    return True


class MessageCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = _key(encoding_aes_key)
        self.receive_id = receive_id

    def decrypt(self, ciphertext: str) -> str:
        try:
            raw = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext length is not a multiple of the block")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding (wrong EncodingAESKey?)")
        plain = padded[:-pad]
        if len(plain) < 20:
            raise CryptoError("message too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20:20 + length], plain[20 + length:]
        if len(message) != length:
            raise CryptoError("message length field is wrong")
        if receive_id.decode("utf-8", "replace") != self.receive_id:
            raise CryptoError("message was encrypted for another account")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("message is not UTF-8") from None

    def encrypt(self, message: str, nonce_bytes: bytes | None = None) -> str:
        body = message.encode()
        plain = (nonce_bytes or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def check(self, msg_signature: str, timestamp: str, nonce: str, ciphertext: str) -> None:
        check_signature(msg_signature, self.token, timestamp, nonce, ciphertext)

    def open(self, msg_signature: str, timestamp: str, nonce: str, ciphertext: str) -> str:
        """Checks the signature, then decrypts."""
        self.check(msg_signature, timestamp, nonce, ciphertext)
        return self.decrypt(ciphertext)

    def seal(self, message: str, timestamp: str, nonce: str) -> tuple[str, str]:
        """The ciphertext of a passive reply and its signature."""
        ciphertext = self.encrypt(message)
        return ciphertext, signature(self.token, timestamp, nonce, ciphertext)
