"""The ``function`` processor: Firehose's transformation contract, failures and retries."""

from __future__ import annotations

import base64
import json
from typing import Any

import ds_functions
import pytest

from clientevents.delivery_stream.examples import blueprint_transform
from clientevents.delivery_stream.function import FunctionProcessor, load_function
from clientevents.delivery_stream.records import ErrorItem, Item, Ticket


def items(*docs: Any) -> list[Item]:
    out = []
    for doc in docs:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        out.append(Item(Ticket(None), data, 1_796_360_400.5, data))
    return out


def processor(name: str, **options: Any) -> FunctionProcessor:
    return FunctionProcessor(f"ds_functions:{name}", stream_arn="arn:aws:firehose:local:"
                             "000000000000:deliverystream/s", region="local", **options)


def test_the_function_gets_firehose_s_event_and_a_lambda_context() -> None:
    ds_functions.CALLS.clear()
    out, errors = processor("recording").process(items({"a": 1}, {"b": 2}))
    assert [json.loads(i.data) for i in out] == [{"a": 1}, {"b": 2}] and errors == []
    [call] = ds_functions.CALLS
    event = call["event"]
    assert set(event) == {"invocationId", "deliveryStreamArn", "region", "records"}
    assert event["deliveryStreamArn"] == "arn:aws:firehose:local:000000000000:deliverystream/s"
    assert event["region"] == "local"
    record = event["records"][0]
    assert set(record) == {"recordId", "approximateArrivalTimestamp", "data"}
    assert record["approximateArrivalTimestamp"] == 1_796_360_400_500
    assert json.loads(base64.b64decode(record["data"])) == {"a": 1}
    assert len({r["recordId"] for r in event["records"]}) == 2
    assert call["function_name"] == "recording" and call["request_id"]
    assert 0 < call["remaining_ms"] <= 60_000


def test_batches_are_split_by_buffer_size() -> None:
    ds_functions.CALLS.clear()
    processor("recording", buffer_size_bytes=30).process(items(*[{"n": i} for i in range(6)]))
    assert [len(c["event"]["records"]) for c in ds_functions.CALLS] == [3, 3]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("ProcessingFailed", "Lambda.ProcessingFailedStatus"),
        ("missing", "Lambda.MissingRecordId"),
        ("unknown-id", "Lambda.MissingRecordId"),
        ("twice", "Lambda.DuplicatedRecordId"),
        ("Maybe", "Lambda.InvalidResult"),
        ("bad-data", "Lambda.JsonProcessingException"),
    ],
)
def test_record_level_failures(answer: str, code: str) -> None:
    out, errors = processor("by_result").process(
        items({"answer": answer}, {"answer": "Ok", "key": "t1"}))
    [error] = errors
    assert (error.error_type, error.code, error.attempts) == ("processing-failed", code, 1)
    assert error.lambda_arn == "ds_functions:by_result"
    assert json.loads(error.raw) == {"answer": answer}
    [ok] = out
    assert ok.lambda_keys == {"tenant": "t1"}


def test_dropped_records_disappear() -> None:
    out, errors = processor("by_result").process(items({"answer": "Dropped"}))
    assert out == [] and errors == []


def test_an_exception_is_retried_then_fails_every_record() -> None:
    ds_functions.CALLS.clear()
    out, errors = processor("raises", number_of_retries=2).process(items({"a": 1}, {"a": 2}))
    assert out == [] and len(ds_functions.CALLS) == 3
    assert [(e.code, e.attempts) for e in errors] == [("Lambda.FunctionError", 3)] * 2
    assert "RuntimeError: boom" in errors[0].message


def test_a_transient_failure_is_retried_to_success() -> None:
    ds_functions.FAILURES["left"] = 2
    out, errors = processor("flaky", number_of_retries=3).process(items({"a": 1}))
    assert errors == [] and len(out) == 1


def test_an_answer_without_records_is_a_failure() -> None:
    _out, errors = processor("not_a_mapping", number_of_retries=0).process(items({"a": 1}))
    assert [e.code for e in errors] == ["Lambda.JsonProcessingException"]


def test_a_timeout_is_a_failure() -> None:
    ds_functions.RELEASE.clear()
    try:
        _out, errors = processor("sleeps", number_of_retries=1, timeout_secs=0.05).process(
            items({"a": 1}))
    finally:
        ds_functions.RELEASE.set()
    assert [(e.code, e.attempts) for e in errors] == [("Lambda.Timeout", 2)]


def test_partition_keys_from_the_function_are_text() -> None:
    out, _ = processor("lambda_keys").process(items({"tenant": "acme", "day": 3}))
    assert out[0].lambda_keys == {"tenant": "acme", "day": "3"}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no_colon", "must be of the form"),
        ("no_such_module_xyz:f", "cannot import module"),
        ("ds_functions:missing", "has no attribute"),
        ("ds_functions:NOT_CALLABLE", "is not callable"),
    ],
)
def test_load_function_explains_problems(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        load_function(spec)


def _event(*payloads: bytes) -> dict[str, Any]:
    return {"invocationId": "i", "deliveryStreamArn": "arn", "region": "local",
            "records": [{"recordId": str(i), "approximateArrivalTimestamp": 0,
                         "data": base64.b64encode(p).decode()} for i, p in enumerate(payloads)]}


def test_the_blueprint_transform_moves_the_client_id_into_the_detail() -> None:
    event = {"version": "0", "id": "x", "resources": ["client-1"],
             "detail": {"eventType": "shopping", "schemaVersion": 1}}
    raw = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    [record] = blueprint_transform(_event(raw), None)["records"]
    assert record["result"] == "Ok" and record["recordId"] == "0"
    text = base64.b64decode(record["data"]).decode()
    assert text == json.dumps({"version": "0", "id": "x", "resources": [],
                               "detail": {"eventType": "shopping", "schemaVersion": 1,
                                          "accountNumber": "client-1"}}) + "\n"


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"resources": [], "detail": {}}', b'{"resources": ["c"]}',
     b"\xff\xfe"],
)
def test_the_blueprint_transform_marks_unparseable_records_processing_failed(raw: bytes) -> None:
    [record] = blueprint_transform(_event(raw), None)["records"]
    assert record["result"] == "ProcessingFailed"
    assert base64.b64decode(record["data"]) == raw


def test_the_blueprint_transform_runs_as_a_processor() -> None:
    fn = FunctionProcessor("clientevents.delivery_stream.examples:blueprint_transform",
                           stream_arn="arn", region="local")
    out, errors = fn.process(items(b"{broken", {"resources": ["c"], "detail": {}}))
    assert [json.loads(i.data)["detail"] for i in out] == [{"accountNumber": "c"}]
    assert [e.code for e in errors] == ["Lambda.ProcessingFailedStatus"]
    assert isinstance(errors[0], ErrorItem) and errors[0].raw == b"{broken"
