"""Transformation functions the delivery stream tests name as ``ds_functions:<name>``."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

CALLS: list[dict[str, Any]] = []
"""Every event ``recording`` received (tests clear it)."""

FAILURES = {"left": 0}
"""How many more calls ``flaky`` fails."""

RELEASE = threading.Event()


def _ok(record: dict[str, Any], data: bytes, keys: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"recordId": record["recordId"], "result": "Ok",
                           "data": base64.b64encode(data).decode()}
    if keys is not None:
        out["metadata"] = {"partitionKeys": keys}
    return out


def upper(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Upper-cases each record."""
    return {"records": [_ok(r, base64.b64decode(r["data"]).upper()) for r in event["records"]]}


def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Keeps each record, remembering the event and the context's attributes."""
    CALLS.append({"event": event, "function_name": context.function_name,
                  "remaining_ms": context.get_remaining_time_in_millis(),
                  "request_id": context.aws_request_id})
    return {"records": [_ok(r, base64.b64decode(r["data"])) for r in event["records"]]}


def by_result(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The record's JSON says what to answer: {"answer": "Ok"|"Dropped"|..., "key": k}."""
    out = []
    for r in event["records"]:
        doc = json.loads(base64.b64decode(r["data"]))
        answer = doc["answer"]
        if answer == "Ok":
            out.append(_ok(r, base64.b64decode(r["data"]), {"tenant": doc.get("key")}))
        elif answer == "missing":
            continue
        elif answer == "twice":
            out += [_ok(r, b"a"), _ok(r, b"b")]
        elif answer == "bad-data":
            out.append({"recordId": r["recordId"], "result": "Ok", "data": "%%%not base64"})
        elif answer == "unknown-id":
            out.append({**_ok(r, b"x"), "recordId": "no-such-id"})
        else:
            out.append({"recordId": r["recordId"], "result": answer, "data": r["data"]})
    return {"records": out}


def raises(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    raise RuntimeError("boom")


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails while FAILURES['left'] > 0, then keeps every record."""
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise ConnectionError("not yet")
    return {"records": [_ok(r, base64.b64decode(r["data"])) for r in event["records"]]}


def not_a_mapping(event: dict[str, Any], context: Any) -> list[str]:
    return ["records"]


def sleeps(event: dict[str, Any], context: Any) -> dict[str, Any]:
    RELEASE.wait(5)
    return {"records": []}


def lambda_keys(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Partition keys from the record: {"tenant": .., "day": ..}."""
    out = []
    for r in event["records"]:
        doc = json.loads(base64.b64decode(r["data"]))
        out.append(_ok(r, base64.b64decode(r["data"]),
                       {k: doc[k] for k in ("tenant", "day") if k in doc}))
    return {"records": out}


NOT_CALLABLE = 42
