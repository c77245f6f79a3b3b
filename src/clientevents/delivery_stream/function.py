"""The ``function`` processor: a Python callable called the way Firehose calls a Lambda.

The callable is named ``module:function`` (``module:Class.method`` works too) and is called as
``function(event, context)`` with Firehose's record-transformation event::

    {"invocationId": "<uuid>", "deliveryStreamArn": "arn:aws:firehose:<region>:<account>:
     deliverystream/<name>", "region": "<region>",
     "records": [{"recordId": "...", "approximateArrivalTimestamp": <epoch ms>,
                  "data": "<base64>"}]}

and must return ``{"records": [{"recordId", "result", "data", "metadata"?}]}`` where ``result``
is ``Ok``, ``Dropped`` or ``ProcessingFailed``, ``data`` the new record (base64) and
``metadata.partitionKeys`` the keys for ``!{partitionKeyFromLambda:...}``. ``context`` has the
attributes of a Lambda context (``aws_request_id``, ``function_name``,
``get_remaining_time_in_millis()``, ...).

Failures: an exception, a timeout (the function keeps its thread, which is abandoned) or an
answer without a ``records`` list fails the whole invocation, which is retried
``number_of_retries`` times; after that every record of it is a processing failure. A record
whose id is missing from the answer, answered twice, with another result, or with data that is
not base64 is a processing failure on its own. Processing failures go to the error output
(``processing-failed``).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from clientevents.delivery_stream.records import ErrorItem, Item

__all__ = ["FunctionProcessor", "LambdaContext", "load_function", "partition_key_text"]

Function = Callable[[dict[str, Any], Any], Any]


def load_function(spec: str) -> Function:
    """Import ``module:function``.

    Raises:
        ValueError: the text is not of that form, the module cannot be imported, or the
            attribute is missing or not callable; the message says which.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(
            f"function {spec!r} must be of the form 'module:function', for example "
            "'clientevents.delivery_stream.examples:blueprint_transform'"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} of function {spec!r}: {exc}; install it or "
            "add its folder to PYTHONPATH"
        ) from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {attribute!r} (function {spec!r})"
            ) from None
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable (it is a {type(target).__name__})")
    return target  # type: ignore[no-any-return]


class LambdaContext:
    """What a Lambda handler gets as ``context`` (the attributes Firehose functions use)."""

    def __init__(self, function_name: str, arn: str, timeout_secs: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "clientevents"
        self._deadline = time.monotonic() + timeout_secs

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def partition_key_text(value: object) -> str | None:
    """A partition key value as text (numbers as jq prints them); ``None`` for null/missing.

    Raises:
        TypeError: a list or an object.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e17 else repr(value)
    raise TypeError(f"a partition key must be a string, number or boolean, not {value!r}")


class _Invocation:
    """One call of the function in its own thread, abandoned if it overstays its timeout."""

    def __init__(self, fn: Function, event: dict[str, Any], context: LambdaContext) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(fn, event, context), daemon=True,
            name="delivery-stream-function",
        )
        thread.start()

    def _run(self, fn: Function, event: dict[str, Any], context: LambdaContext) -> None:
        try:
            self.result = fn(event, context)
        except BaseException as exc:  # the function's failure is data here
            self.error = exc
        finally:
            self.done.set()


class FunctionProcessor:
    """Calls a ``module:function`` per batch of records (at most ``buffer_size_bytes`` each)."""

    def __init__(
        self,
        spec: str,
        *,
        stream_arn: str,
        region: str,
        number_of_retries: int = 3,
        timeout_secs: float = 60.0,
        buffer_size_bytes: int = 1 << 20,
        function: Function | None = None,
    ) -> None:
        self.spec = spec
        self.fn = function if function is not None else load_function(spec)
        self.stream_arn = stream_arn
        self.region = region
        self.number_of_retries = number_of_retries
        self.timeout_secs = timeout_secs
        self.buffer_size_bytes = buffer_size_bytes
        self.function_name = spec.rpartition(":")[2]
        self._seq = 0

    def process(self, items: Sequence[Item]) -> tuple[list[Item], list[ErrorItem]]:
        out: list[Item] = []
        errors: list[ErrorItem] = []
        chunk: list[Item] = []
        size = 0
        for item in items:
            if chunk and size + len(item.data) > self.buffer_size_bytes:
                self._invoke(chunk, out, errors)
                chunk, size = [], 0
            chunk.append(item)
            size += len(item.data)
        if chunk:
            self._invoke(chunk, out, errors)
        return out, errors

    def _error(self, item: Item, code: str, message: str, attempts: int = 1) -> ErrorItem:
        return ErrorItem(item.ticket, item.raw, item.arrival, "processing-failed", code,
                         message, attempts, self.spec)

    def _invoke(self, chunk: list[Item], out: list[Item], errors: list[ErrorItem]) -> None:
        self._seq += 1
        ids = [f"{self._seq:012d}{i:06d}" for i in range(len(chunk))]
        event = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self.stream_arn,
            "region": self.region,
            "records": [
                {
                    "recordId": rid,
                    "approximateArrivalTimestamp": int(item.arrival * 1000),
                    "data": base64.b64encode(item.data).decode("ascii"),
                }
                for rid, item in zip(ids, chunk, strict=True)
            ],
        }
        answer: dict[str, Any] | None = None
        code, message = "", ""
        attempts = 0
        for _ in range(self.number_of_retries + 1):
            attempts += 1
            answer, code, message = self._call(event)
            if answer is not None:
                break
        if answer is None:
            errors.extend(self._error(item, code, message, attempts) for item in chunk)
            return
        self._apply(answer["records"], ids, chunk, out, errors, attempts)

    def _call(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str, str]:
        arn = f"arn:aws:lambda:{self.region}:000000000000:function:{self.function_name}"
        context = LambdaContext(self.function_name, arn, self.timeout_secs)
        call = _Invocation(self.fn, event, context)
        if not call.done.wait(self.timeout_secs):
            return None, "Lambda.Timeout", (
                f"Function {self.spec} did not answer within {self.timeout_secs} s."
            )
        if call.error is not None:
            exc = call.error
            return None, "Lambda.FunctionError", (
                f"Function {self.spec} raised {type(exc).__name__}: {exc}"
            )
        result = call.result
        if not isinstance(result, dict) or not isinstance(result.get("records"), list):
            return None, "Lambda.JsonProcessingException", (
                f"Function {self.spec} returned {type(result).__name__}, not an object with "
                "a 'records' list."
            )
        return result, "", ""

    def _apply(
        self,
        answered: list[Any],
        ids: list[str],
        chunk: list[Item],
        out: list[Item],
        errors: list[ErrorItem],
        attempts: int,
    ) -> None:
        by_id: dict[str, Any] = {}
        duplicated: set[str] = set()
        for entry in answered:
            rid = entry.get("recordId") if isinstance(entry, dict) else None
            if not isinstance(rid, str):
                continue  # cannot be matched to a record: that record is reported missing
            if rid in by_id:
                duplicated.add(rid)
            by_id[rid] = entry
        for rid, item in zip(ids, chunk, strict=True):
            entry = by_id.get(rid)
            if entry is None:
                errors.append(self._error(
                    item, "Lambda.MissingRecordId",
                    f"Function {self.spec} returned no record with recordId {rid!r}.", attempts))
            elif rid in duplicated:
                errors.append(self._error(
                    item, "Lambda.DuplicatedRecordId",
                    f"Function {self.spec} returned recordId {rid!r} more than once.",
                    attempts))
            else:
                self._one(entry, rid, item, out, errors, attempts)

    def _one(self, entry: dict[str, Any], rid: str, item: Item, out: list[Item],
             errors: list[ErrorItem], attempts: int) -> None:
        result = entry.get("result")
        if result == "Dropped":
            return
        if result == "ProcessingFailed":
            errors.append(self._error(
                item, "Lambda.ProcessingFailedStatus",
                f"Function {self.spec} answered ProcessingFailed for recordId {rid!r}.",
                attempts))
            return
        if result != "Ok":
            errors.append(self._error(
                item, "Lambda.InvalidResult",
                f"Function {self.spec} answered result {result!r} for recordId {rid!r}; "
                "expected Ok, Dropped or ProcessingFailed.", attempts))
            return
        try:
            data = base64.b64decode(entry.get("data", ""), validate=True)
            keys = self._partition_keys(entry.get("metadata"))
        except (binascii.Error, TypeError, ValueError) as exc:
            errors.append(self._error(
                item, "Lambda.JsonProcessingException",
                f"Function {self.spec} answered an unusable record for recordId {rid!r}: "
                f"{exc}", attempts))
            return
        out.append(Item(item.ticket, data, item.arrival, item.raw,
                        item.query_keys, keys if keys is not None else item.lambda_keys))

    @staticmethod
    def _partition_keys(metadata: Any) -> dict[str, str] | None:
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise TypeError("metadata must be an object")
        raw = metadata.get("partitionKeys")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise TypeError("metadata.partitionKeys must be an object")
        keys: dict[str, str] = {}
        for name, value in raw.items():
            text = partition_key_text(value)
            if text is not None:
                keys[str(name)] = text
        return keys
