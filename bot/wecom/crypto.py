"""WeCom's callback security (加解密方案): the `msg_signature` over token, timestamp, nonce and
the encrypted text, and AES-256-CBC with the key from EncodingAESKey. The plaintext is 16
random bytes, the message length (4 bytes, big-endian), the message and the receiver id (our
CorpID), padded PKCS#7-style to a multiple of 32 bytes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from xml.etree import ElementTree

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CallbackRejected(Exception):
    """The request is not from WeCom (bad signature) or not for us (other receiver id)."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


class WecomCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.receive_id = receive_id

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check the signature, then decrypt: the message's plaintext."""
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise CallbackRejected("msg_signature does not match")
        return self.decrypt(encrypted)

    def decrypt(self, encrypted: str) -> str:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejected("the encrypted text is not base64") from None
        if not data or len(data) % 16:
            raise CallbackRejected("the encrypted text has a wrong length")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
            raise CallbackRejected("bad padding")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        message, receiver = plain[20:20 + length], plain[20 + length:]
        if len(message) != length or receiver.decode(errors="replace") != self.receive_id:
            raise CallbackRejected("the message is for another receiver id")
        return message.decode()


def parse_xml(text: str) -> dict[str, str]:
    """A WeCom XML packet as a flat dict of its elements' texts. WeCom never sends a DOCTYPE;
    one is refused rather than parsed (no entity tricks)."""
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise CallbackRejected("DOCTYPE in a callback")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise CallbackRejected("not XML") from None
    return {child.tag: (child.text or "").strip() for child in root}
