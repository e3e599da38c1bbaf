"""WeCom's callback crypto against the sample values of WeCom's own documentation (加解密方案
说明 and its Sample code): Token QDG6eK, EncodingAESKey jWmY…B2C, CorpID wx5823bf96d3bd56c7."""

from __future__ import annotations

import pytest

from bot.wecom.callback import message_key
from bot.wecom.crypto import CallbackRejected, WecomCrypto, parse_xml, signature
from tests.fakes.wecom_api import encrypt

TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"

# 验证URL: GET /cgi-bin/wxpush?msg_signature=…&timestamp=1409659589&nonce=263014780&echostr=…
URL_CHECK = ("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780",
             "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
# 解密: POST /cgi-bin/wxpush?msg_signature=…&timestamp=1409659813&nonce=1372623149
MESSAGE = ("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149",
           "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
           "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
           "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
           "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
           "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
           "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")


@pytest.fixture
def crypto() -> WecomCrypto:
    return WecomCrypto(TOKEN, AES_KEY, CORP_ID)


def test_the_documented_url_check(crypto: WecomCrypto) -> None:
    assert signature(TOKEN, *URL_CHECK[1:]) == URL_CHECK[0]
    assert crypto.open(*URL_CHECK) == "1616140317555161061"


def test_the_documented_message(crypto: WecomCrypto) -> None:
    message = parse_xml(crypto.open(*MESSAGE))
    assert message == {"ToUserName": CORP_ID, "FromUserName": "mycreate",
                       "CreateTime": "1409659813", "MsgType": "text", "Content": "hello",
                       "MsgId": "4561255354251345929", "AgentID": "218"}
    assert message_key(message) == "4561255354251345929"


def test_what_the_fake_encrypts_decrypts_like_wecom(crypto: WecomCrypto) -> None:
    text = "<xml><Content><![CDATA[汇报 12 60% 可研初稿完成]]></Content></xml>"
    for repeat in range(1, 40):  # every padding length
        assert crypto.decrypt(encrypt(AES_KEY, CORP_ID, text * repeat)) == text * repeat


@pytest.mark.parametrize("forged", [
    ("0" * 40, *URL_CHECK[1:]),
    (URL_CHECK[0], "1409659590", *URL_CHECK[2:]),
    (*URL_CHECK[:3], encrypt(AES_KEY, CORP_ID, "1616140317555161061")),
], ids=["signature", "timestamp", "other-text"])
def test_a_forged_signature_is_refused(crypto: WecomCrypto, forged: tuple[str, ...]) -> None:
    with pytest.raises(CallbackRejected):
        crypto.open(*forged)


def test_a_message_for_another_company_or_garbage_is_refused(crypto: WecomCrypto) -> None:
    for encrypted in (encrypt(AES_KEY, "wwanother", "hello"), "not base64!", "QUJD"):
        with pytest.raises(CallbackRejected):
            crypto.decrypt(encrypted)


def test_events_without_msgid_are_keyed_by_sender_and_time() -> None:
    event = {"FromUserName": "liming", "CreateTime": "1409659813", "Event": "click",
             "EventKey": "/tasks"}
    assert message_key(event) == "liming:1409659813:click:/tasks"


def test_xml_with_a_doctype_is_refused() -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>'
    with pytest.raises(CallbackRejected):
        parse_xml(bomb)
