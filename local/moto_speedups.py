"""A faster answer from moto's DynamoDB, for the local AWS endpoint (`local/moto_process.py`).

moto 5.2 writes every answer through its generic, model-driven serializer, which walks the
service model for each value: an item's attributes, each one an `AttributeValue` structure, cost
most of an answer's time (`bench/moto_serializer.py` measures both: a query of 70 items of 17
attributes costs about 6x the CPU through moto's serializer).
In AWS JSON 1.0, which DynamoDB speaks, an `AttributeValue` is written as it is held: `{"S": ...}`,
`{"N": "1"}`, `{"M": {...}}`, blobs in base64. `FastDynamoDBSerializer` writes those structures
directly and hands every other shape to moto's serializer; it is registered through moto's own
table of per-service serializers (`SERVICE_SPECIFIC_SERIALIZERS`), never by replacing moto's code.
`tests/unit/test_moto_speedups.py` checks that both give the same answer for every attribute type.
"""

from __future__ import annotations

import base64
from typing import Any

from moto.core import serialize
from moto.core.serialize import JSONSerializer

ATTRIBUTE_VALUE = "AttributeValue"


def _blob(value: str | bytes) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).strip().decode("utf-8")


def attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """One `AttributeValue` as DynamoDB's JSON protocol writes it."""
    written: dict[str, Any] = {}
    for kind, member in value.items():
        if member is None:
            continue
        if kind == "M":
            written[kind] = {name: attribute_value(v) for name, v in member.items()}
        elif kind == "L":
            written[kind] = [attribute_value(v) for v in member]
        elif kind == "B":
            written[kind] = _blob(member)
        elif kind == "BS":
            written[kind] = [_blob(v) for v in member]
        elif kind in ("S", "N"):
            written[kind] = str(member)
        elif kind in ("SS", "NS"):
            written[kind] = [str(v) for v in member]
        else:  # BOOL, NULL
            written[kind] = member
    return written


class FastDynamoDBSerializer(JSONSerializer):
    def _serialize_type_structure(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == ATTRIBUTE_VALUE and isinstance(value, dict) and key:
            serialized[self.get_serialized_name(shape, key)] = attribute_value(value)
            return
        super()._serialize_type_structure(serialized, value, shape, key)


def install() -> None:
    """Use the fast serializer for DynamoDB's answers in this process."""
    serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = FastDynamoDBSerializer
