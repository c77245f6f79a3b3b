"""Example processing functions, importable by name from a delivery stream's configuration.

``blueprint_transform`` is the blueprint's record transformation: it moves the client id the
gateway put in ``resources[0]`` into ``detail.accountNumber`` and empties ``resources``::

    processors:
      - type: function
        function: clientevents.delivery_stream.examples:blueprint_transform

Where the blueprint's own Lambda silently drops a record it cannot parse, this one answers
``ProcessingFailed`` for it, so the record lands in the error output instead of vanishing.
It is an ordinary Firehose transformation function: it would run unchanged as a Lambda.
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["blueprint_transform"]


def _transform(data: bytes) -> bytes:
    event = json.loads(data)
    if not isinstance(event, dict):
        raise ValueError("the record is not a JSON object")
    resources = event.get("resources")
    detail = event.get("detail")
    if not isinstance(resources, list) or not resources or not isinstance(detail, dict):
        raise ValueError("the record has no resources[0] or no detail object")
    detail["accountNumber"] = resources[0]
    event["resources"] = []
    text = json.dumps(event)
    if data.endswith(b"\n"):
        text += "\n"
    return text.encode("utf-8")


def blueprint_transform(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Firehose transformation: ``resources[0]`` to ``detail.accountNumber``; unparseable
    records are ``ProcessingFailed``."""
    output = []
    for record in event["records"]:
        try:
            data = _transform(base64.b64decode(record["data"]))
        except (ValueError, TypeError, UnicodeDecodeError):
            output.append(
                {"recordId": record["recordId"], "result": "ProcessingFailed",
                 "data": record["data"]}
            )
            continue
        output.append(
            {"recordId": record["recordId"], "result": "Ok",
             "data": base64.b64encode(data).decode("ascii")}
        )
    return {"records": output}
