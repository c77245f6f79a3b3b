"""Error records: what ``error_output_prefix`` objects hold, one JSON line per failed record.

Fields, as Firehose writes them: ``attemptsMade``, ``arrivalTimestamp`` (epoch milliseconds),
``errorCode``, ``errorMessage``, ``attemptEndingTimestamp`` (epoch milliseconds), ``rawData``
(the record, base64) and, for function failures, ``lambdaArn`` (here the ``module:function``).
"""

from __future__ import annotations

import base64
from typing import Final

import orjson

from clientevents.delivery_stream.records import ErrorItem

__all__ = ["CODES", "error_line"]

CODES: Final = {
    "Lambda.ProcessingFailedStatus": "The function answered ProcessingFailed for the record.",
    "Lambda.FunctionError": "The function raised an exception.",
    "Lambda.Timeout": "The function did not answer in time.",
    "Lambda.JsonProcessingException": "The function's answer does not follow the contract.",
    "Lambda.MissingRecordId": "The function's answer has no record with this recordId.",
    "Lambda.DuplicatedRecordId": "The function answered twice for this recordId.",
    "Lambda.InvalidResult": "The function answered a result other than Ok, Dropped or "
    "ProcessingFailed.",
    "RecordDeAggregation.Failed": "The record is not concatenated JSON objects.",
    "DynamicPartitioning.MetadataExtractionFailed": "The metadata extraction query failed.",
    "DynamicPartitioning.PartitionKeyMissing": "A partition key the prefix needs is missing.",
    "DynamicPartitioning.InvalidPartitionKey": "A partition key value would leave the "
    "destination.",
    "DynamicPartitioning.ActivePartitionsLimitExceeded": "The stream has as many active "
    "partitions as it may.",
    "DataFormatConversion.MalformedData": "The record does not fit the Parquet schema.",
}
"""Every ``errorCode`` this implementation writes, with what it means."""


def error_line(item: ErrorItem, *, ending_at: float) -> bytes:
    """One error record as a JSON line."""
    record: dict[str, object] = {
        "attemptsMade": item.attempts,
        "arrivalTimestamp": int(item.arrival * 1000),
        "errorCode": item.code,
        "errorMessage": item.message,
        "attemptEndingTimestamp": int(ending_at * 1000),
        "rawData": base64.b64encode(item.raw).decode("ascii"),
    }
    if item.lambda_arn is not None:
        record["lambdaArn"] = item.lambda_arn
    return orjson.dumps(record) + b"\n"
