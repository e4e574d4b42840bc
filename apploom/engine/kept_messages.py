"""Messages kept in JSON to be read later: an import's report, a bulk action's refusals
are written by their job and read by a screen or an API client in their own language.
What is kept is the English text, as it always was, and beside it what the message was
made of (its template; its parameters, a Label as both its languages)."""

from __future__ import annotations

from typing import Any, Mapping

from apploom.engine.definitions.model import Label
from apploom.engine.messages import Message


def kept(problem: Mapping[str, Any]) -> dict:
    """The JSON form of a problem whose ``message`` may be a Message."""
    said = problem["message"]
    if not isinstance(said, Message):
        return dict(problem)
    return {**problem, "message": str(said), "said": _kept(said)}


def restored(problem: Mapping[str, Any]) -> dict:
    """A kept problem with its ``message`` a Message again (plain text where none was kept)."""
    found = dict(problem)
    said = found.pop("said", None)
    if said is not None:
        found["message"] = _restored(said)
    return found


def kept_refusal(message: str, fields: Mapping[str, Any]) -> dict | None:
    """What a refusal's message and its fields' messages were made of; None if all are
    plain text."""
    made = {k: _kept(v) for k, v in fields.items() if isinstance(v, Message)}
    if not isinstance(message, Message) and not made:
        return None
    return {"message": _kept(message) if isinstance(message, Message) else None, "fields": made}


def restored_refusal(message: str, fields: Mapping[str, Any], said: Mapping | None) -> dict:
    """{message, fields} of a kept refusal, as Messages again where they were."""
    said = said or {"message": None, "fields": {}}
    return {
        "message": _restored(said["message"]) if said["message"] else message,
        "fields": {
            k: _restored(said["fields"][k]) if k in said["fields"] else v for k, v in fields.items()
        },
    }


def kept_text(text: str) -> dict | None:
    """What a message was made of, None for plain text: kept beside its English."""
    return _kept(text) if isinstance(text, Message) else None


def restored_text(text: str, said: Mapping | None) -> str:
    """A message kept by ``kept_text`` as a Message again; the plain text where none was."""
    return _restored(said) if said else text


def _kept(said: Message) -> dict:
    return {"template": said.template, "params": {k: _param(v) for k, v in said.params.items()}}


def _param(value: Any) -> Any:
    if isinstance(value, Message):
        return {"message": _kept(value)}
    if isinstance(value, Label):
        return {"en": value.en, "zh": value.zh}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # a Decimal, a date: as the English text shows it


def _restored(said: Mapping[str, Any]) -> Message:
    params = {k: _restored_param(v) for k, v in said["params"].items()}
    return Message(said["template"], params)


def _restored_param(value: Any) -> Any:
    if isinstance(value, dict) and "message" in value:
        return _restored(value["message"])
    if isinstance(value, dict):
        return Label(value["en"], value["zh"])
    return value
