"""Posting notifications to the group chats Chinese teams read: WeCom (企业微信) group
robots, DingTalk (钉钉) custom robots and Feishu (飞书, Lark) custom bots.

Each is an outbox sender: its payload names the robot, whose webhook address and
secret the outbox reads as it sends (``apploom robots set``), and holds the message:
``format`` (text or markdown), ``title``, ``text`` and the ``link`` of the page it is
about. Each robot answers 200 with an error code in the body when it refuses a post
(a wrong key, a bad signature, too many posts): that is a failure too, retried and in
the end a dead letter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any, Callable
from urllib.parse import quote_plus

from apploom.plugin import Settings, hookimpl

OPEN = "打开 Open"  # the link's words, in both languages: a group may hold either


def _markdown(payload: dict, base_url: str) -> str:
    link = f"\n\n[{OPEN}]({base_url}{payload['link']})" if payload.get("link") else ""
    return f"**{payload['title']}**\n\n{payload['text']}{link}"


def wecom(payload: dict, base_url: str) -> tuple[str, dict]:
    """WeCom group robot: {"msgtype": "text", "text": {"content"}} or {"msgtype":
    "markdown", "markdown": {"content"}}; the key is in the URL, nothing is signed.
    https://developer.work.weixin.qq.com/document/path/91770 (群机器人配置说明)"""
    if payload["format"] == "markdown":
        return payload["url"], {
            "msgtype": "markdown",
            "markdown": {"content": _markdown(payload, base_url)},
        }
    return payload["url"], {"msgtype": "text", "text": {"content": payload["text"]}}


def dingtalk(payload: dict, base_url: str) -> tuple[str, dict]:
    """DingTalk custom robot: {"msgtype": "text", "text": {"content"}} or {"msgtype":
    "markdown", "markdown": {"title", "text"}}. A robot set up to sign (加签) takes
    ``timestamp`` (ms) and ``sign`` = urlencode(base64(HMAC-SHA256(key=secret,
    msg=timestamp + "\\n" + secret))) in the query.
    https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages"""
    url = payload["url"]
    if payload.get("secret"):
        timestamp = str(round(time.time() * 1000))
        sign = _hmac(payload["secret"].encode(), f"{timestamp}\n{payload['secret']}".encode())
        url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={quote_plus(sign)}"
    if payload["format"] == "markdown":
        body = {
            "msgtype": "markdown",
            "markdown": {"title": payload["title"], "text": _markdown(payload, base_url)},
        }
    else:
        body = {"msgtype": "text", "text": {"content": payload["text"]}}
    return url, body


def feishu(payload: dict, base_url: str) -> tuple[str, dict]:
    """Feishu custom bot: {"msg_type": "text", "content": {"text"}}, or markdown as a
    card: {"msg_type": "interactive", "card": {"header", "elements": [{"tag": "div",
    "text": {"tag": "lark_md", "content"}}]}}. A bot set up to sign (签名校验) takes
    ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key=timestamp + "\\n" +
    secret, msg="")) in the body.
    https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (自定义机器人使用指南)"""
    body: dict[str, Any]
    if payload["format"] == "markdown":
        body = {
            "msg_type": "interactive",
            "card": {
                "header": {"title": {"tag": "plain_text", "content": payload["title"]}},
                "elements": [
                    {
                        "tag": "div",
                        "text": {"tag": "lark_md", "content": _markdown(payload, base_url)},
                    }
                ],
            },
        }
    else:
        body = {"msg_type": "text", "content": {"text": payload["text"]}}
    if payload.get("secret"):
        timestamp = str(int(time.time()))
        body = {
            "timestamp": timestamp,
            "sign": _hmac(f"{timestamp}\n{payload['secret']}".encode(), b""),
            **body,
        }
    return payload["url"], body


def _hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _poster(build: Callable[[dict, str], tuple[str, dict]], base_url: str):
    def send(payload: dict) -> None:
        url, body = build(payload, base_url)
        request = urllib.request.Request(
            url,
            data=json.dumps(body, ensure_ascii=False).encode(),
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            answer = response.read()
        _check(answer)

    return send


def _check(answer: bytes) -> None:
    """WeCom and DingTalk answer {"errcode": 0, "errmsg": "ok"}, Feishu {"code": 0, ...}:
    any other code is a refusal."""
    try:
        said = json.loads(answer or b"{}")
    except ValueError:
        raise RuntimeError(f"the robot answered {answer[:200]!r}, not JSON") from None
    code = said.get("errcode", said.get("code", 0)) if isinstance(said, dict) else 0
    if code:
        reason = said.get("errmsg") or said.get("msg") or ""
        raise RuntimeError(f"the robot refused the post: {code} {reason}".strip())


@hookimpl
def apploom_senders(settings: Settings | None):
    base_url = (settings.base_url if settings is not None else "").rstrip("/")
    return {
        "wecom": _poster(wecom, base_url),
        "dingtalk": _poster(dingtalk, base_url),
        "feishu": _poster(feishu, base_url),
    }
