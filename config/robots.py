"""Group robot webhook URLs (`DUBAN_SUMMARY_WEBHOOKS`): which robot each is, and its secrets.

Accepted forms (the kind is told by the path, so a proxy or a test server may stand in front):

    https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY                  WeCom (企业微信)
    https://oapi.dingtalk.com/robot/send?access_token=TOKEN[&secret=SEC...]    DingTalk (钉钉)
    https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN[?secret=SECRET]         Feishu / Lark (飞书)

`secret` is the signing secret of the robot's 加签 / 签名校验 setting: Duban takes it out of the
URL and signs every request with it; it is never sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMETER = "secret"


class RobotKind(StrEnum):
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"


@dataclass(frozen=True)
class Robot:
    kind: RobotKind
    url: str  # as given, without `secret`
    secret: str | None
    credential: str  # the key / access token / hook token in the URL

    @property
    def id(self) -> str:
        """A stable name for the robot that gives nothing of its URL away."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:12]

    def secrets(self) -> list[str]:
        return [value for value in (self.credential, self.secret) if value]


def parse_robot(url: str, number: int) -> Robot:
    """`number` (1-based) names the URL in errors, which must not repeat it: it is a secret."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"第 {number} 个地址应以 https:// 开头")
    query = parse_qsl(parts.query, keep_blank_values=True)
    secret = next((v for k, v in query if k == SECRET_PARAMETER), None) or None
    kept = urlunsplit(parts._replace(
        query=urlencode([(k, v) for k, v in query if k != SECRET_PARAMETER])))
    values = dict(query)
    path = parts.path.rstrip("/")
    if path.endswith("/cgi-bin/webhook/send") and values.get("key"):
        if secret:
            raise ValueError(f"第 {number} 个地址是企业微信群机器人，它没有签名密钥，请去掉 secret")
        return Robot(RobotKind.WECOM, kept, None, values["key"])
    if path.endswith("/robot/send") and values.get("access_token"):
        return Robot(RobotKind.DINGTALK, kept, secret, values["access_token"])
    if "/open-apis/bot/v2/hook/" in path and path.rsplit("/", 1)[-1] != "hook":
        return Robot(RobotKind.FEISHU, kept, secret, path.rsplit("/", 1)[-1])
    raise ValueError(
        f"第 {number} 个地址不是可识别的群机器人地址：应为企业微信 …/cgi-bin/webhook/send?key=…、"
        "钉钉 …/robot/send?access_token=…[&secret=…] 或飞书 …/open-apis/bot/v2/hook/…[?secret=…]"
    )
