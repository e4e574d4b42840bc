"""The ``http_json`` puller: a platform, or a shop's own system, that serves its orders
as JSON pages over HTTP, ``{"orders": [...], "next": "<cursor>"}``, each page after the
cursor in its URL. The channel names the URL; ``{cursor}`` is the cursor the last page
gave (empty the first time), ``{secret:NAME}`` a secret set with `apploom channels secret
<channel> <value> --name NAME`:

    pull: {kind: http_json, every: 300, url: "https://shop.example/orders?after={cursor}&key={secret:api_key}"}

A page without ``next`` (or with null) leaves the cursor as it was: the same page is
asked for again, and its orders are only changed if the platform changed them.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any, Mapping
from urllib.parse import quote

from apploom.plugin import Batch, Channel, Puller, hookimpl, msg

TIMEOUT = 30  # seconds a page may take
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SECRET = re.compile(r"secret:([a-z][a-z0-9_]{0,39})")


def pull(channel: Channel, secrets: Mapping[str, str], cursor: str | None) -> Batch:
    assert channel.pull is not None
    template = channel.pull.settings["url"]

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name == "cursor":
            return quote(cursor or "", safe="")
        secret = SECRET.fullmatch(name)
        assert secret is not None  # the check refused any other placeholder
        value = secrets.get(secret.group(1))
        if value is None:
            raise LookupError(
                f"the channel has no secret '{secret.group(1)}': set it with apploom channels "
                f"secret {channel.name} <value> --name {secret.group(1)}"
            )
        return quote(value, safe="")

    request = urllib.request.Request(
        PLACEHOLDER.sub(fill, template), headers={"Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # http(s): checked
        page = json.loads(response.read())
    orders = page.get("orders") if isinstance(page, dict) else None
    if not isinstance(orders, list):
        raise ValueError(f"{template} answered with no 'orders' list")
    after = page.get("next")
    return Batch(orders, None if after in (None, "") else str(after))


def check(settings: Mapping[str, Any]) -> list[str]:
    url = settings.get("url")
    problems: list[str] = [
        msg("'{setting}' is not a setting of http_json (url is)", setting=key)
        for key in sorted(settings)
        if key != "url"
    ]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return [
            *problems,
            msg("http_json needs 'url': the http:// or https:// address of the pages"),
        ]
    return problems + [
        msg("url: '{{{placeholder}}}' is neither {{cursor}} nor {{secret:NAME}}", placeholder=p)
        for p in PLACEHOLDER.findall(url)
        if p != "cursor" and not SECRET.fullmatch(p)
    ]


@hookimpl
def apploom_pullers():
    return {"http_json": Puller(pull, check)}
