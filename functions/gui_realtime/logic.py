"""Pure rules of the WebSocket API: what a client message is (a JSON object of Unicode strings, one
of the protocol's models) and whether its token is still served. Which channels a caller may follow is
gui_core.replay_log.allow_channels."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from gui_core.errors import BadRequest, MalformedJson, Unauthorized, ValidationFailed
from gui_core.json_depth import MAX_JSON_DEPTH, json_depth_exceeds

if TYPE_CHECKING:
    from gui_core.context import RequestContext

ACTIONS = ("subscribe", "unsubscribe", "resume", "ack", "ping")

Message = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


class UnknownAction(BadRequest):
    code, title = "unknown_action", "No such action"


class NotConnected(Unauthorized):
    code, title = "not_connected", "The connection is not registered (expired or closed): reconnect"


def parse_channels(value: str | None) -> list[str]:
    """`channel=a,b` as a list without blanks or repeats, in the order given."""
    names = [name.strip() for name in (value or "").split(",")]
    return list(dict.fromkeys(name for name in names if name))


def check_expiry(caller: RequestContext, now: float) -> None:
    """The token is still served (gui_core.context.EXPIRY_LEEWAY_S): one rule for the handshake
    and for the connection after it, so a token admitted at connect is not refused by the next
    message."""
    until = caller.served_until()
    if until is not None and until < now:
        raise Unauthorized("The token has expired.")


def parse_document(body: str) -> dict[str, Any]:
    """The message as a JSON object of Unicode strings, nested at most MAX_JSON_DEPTH levels (as a
    REST body); MalformedJson (400) for anything else."""
    if json_depth_exceeds(body.encode("utf-8", "surrogatepass")):
        raise MalformedJson(f"The message is nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        document = json.loads(body) if body else None
    except RecursionError:
        raise MalformedJson("The message is nested too deeply to be read.") from None
    except ValueError as exc:
        raise MalformedJson("The message is not valid JSON.") from exc
    if not isinstance(document, dict):
        raise MalformedJson("A message is a JSON object with an `action`.")
    if not _unicode(document):
        raise MalformedJson(
            "The message holds a string that is not Unicode text (a lone surrogate escape such as \\ud800)."
        )
    return document


def _unicode(document: dict[str, Any]) -> bool:
    """Whether every string of the document, keys too, is Unicode text: JSON's escapes can spell a
    lone surrogate, which Python keeps in a str and no UTF-8 answer, log line or store can carry.
    Walked without recursion (the parser already bounded the depth)."""
    pending: list[Any] = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


def validate(model: type[M], document: Mapping[str, Any]) -> M:
    """The message as `model`; ValidationFailed (422) with each field's error otherwise."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        fields = [
            {
                "location": ["body", *(str(part) for part in e.get("loc", ()))],
                "pointer": "/" + "/".join(str(part) for part in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        raise ValidationFailed(f"{len(fields)} field(s) are not valid.", errors=fields) from exc


def printable(value: object) -> str:
    return str(value)[:64]
