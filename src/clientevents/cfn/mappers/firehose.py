"""``AWS::KinesisFirehose::DeliveryStream`` → ``delivery_streams``.

An ``ExtendedS3DestinationConfiguration`` (or the older ``S3DestinationConfiguration``) maps:
the bucket (a folder of that name under the data dir, or with ``--buckets s3`` the bucket
itself), ``Prefix``, ``ErrorOutputPrefix``, ``BufferingHints``, ``CompressionFormat``,
``FileExtension``, the processors and Parquet conversion (``firehose_processors.py``). Other
destinations (Redshift, OpenSearch, HTTP endpoints, ...) have no equivalent.
"""

from __future__ import annotations

import re
from typing import Any

from clientevents.cfn.context import NAME_RE, ImportContext, arn_parts
from clientevents.cfn.mappers.firehose_processors import map_format, map_processors
from clientevents.cfn.template import Resource

__all__ = ["map_delivery_stream"]

ERROR_TYPE = "!{firehose:error-output-type}"
_HANDLED = {"DeliveryStreamName", "DeliveryStreamType", "ExtendedS3DestinationConfiguration",
            "S3DestinationConfiguration", "Tags"}
_S3_HANDLED = {"BucketARN", "Prefix", "ErrorOutputPrefix", "BufferingHints",
               "CompressionFormat", "FileExtension", "ProcessingConfiguration",
               "DataFormatConversionConfiguration", "DynamicPartitioningConfiguration",
               "RoleARN", "CustomTimeZone"}
_COMPRESSION = {"UNCOMPRESSED": "none", "GZIP": "gzip", "SNAPPY": "snappy"}
_OTHER_DESTINATIONS = ("RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
                       "AmazonopensearchserviceDestinationConfiguration",
                       "AmazonOpenSearchServerlessDestinationConfiguration",
                       "SplunkDestinationConfiguration", "HttpEndpointDestinationConfiguration",
                       "SnowflakeDestinationConfiguration", "IcebergDestinationConfiguration")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def _bucket(value: Any) -> str | None:
    parts = arn_parts(str(value)) if value is not None else None
    if parts is None or parts[0] != "s3":
        return None
    return parts[1].split("/")[0] or None


class _Stream:
    def __init__(self, ctx: ImportContext, resource: Resource, name: str) -> None:
        self.ctx, self.resource, self.name = ctx, resource, name

    def note(self, outcome: Any, message: str) -> None:
        self.ctx.note(self.resource, outcome, f"delivery stream {self.name}: {message}")

    def destination(self, bucket: str) -> dict[str, Any]:
        if self.ctx.buckets == "s3":
            s3: dict[str, Any] = {"bucket": bucket}
            if self.ctx.resolver.region != "local":
                s3["region"] = self.ctx.resolver.region
            self.note("mapped", f"objects go to the S3 bucket {bucket} (credentials from the "
                      "AWS_* environment variables, or add access_key_id/secret_access_key).")
            return {"type": "s3", "s3": s3}
        self.note("mapped", f"objects go to the folder {bucket}/ under the data dir in place of "
                  f"the bucket {bucket} (--buckets s3 keeps the bucket).")
        return {"type": "local", "local": {"path": bucket}}

    def error_prefix(self, prefix: str, given: Any) -> str | None:
        if given is None or given == "":
            if "!{" not in prefix:
                return None
            self.note("partly", "it has no ErrorOutputPrefix, which a prefix with expressions "
                      f"needs; failed records go under _errors/{ERROR_TYPE}/.")
            return f"_errors/{ERROR_TYPE}/"
        text = str(given)
        if ERROR_TYPE not in text:
            text = f"{text}{'' if text.endswith('/') or not text else '/'}{ERROR_TYPE}/"
            self.note("partly", f"its ErrorOutputPrefix {given!r} becomes {text!r}: failed "
                      "records are kept apart by the kind of failure.")
        return text

    def options(self, dest: dict[str, Any], stream: dict[str, Any]) -> None:
        hints = dest.get("BufferingHints") or {}
        buffering: dict[str, Any] = {}
        if hints.get("SizeInMBs") is not None:
            buffering["size_mib"] = max(1.0, min(128.0, float(hints["SizeInMBs"])))
        if hints.get("IntervalInSeconds") is not None:
            buffering["interval_secs"] = max(0.0, min(900.0, float(hints["IntervalInSeconds"])))
        if buffering:
            stream["buffering"] = buffering
        else:
            self.note("partly", "it has no BufferingHints: Firehose's defaults apply, an "
                      "object every 5 MiB or 300 s (and at shutdown); set buffering to write "
                      "sooner.")
        compression = str(dest.get("CompressionFormat", "UNCOMPRESSED")).upper()
        if compression in _COMPRESSION:
            if compression != "UNCOMPRESSED":
                stream["compression"] = _COMPRESSION[compression]
        else:
            self.note("partly", f"CompressionFormat {compression} is not supported (none, "
                      "gzip, zstd, snappy); objects are not compressed.")
        if dest.get("FileExtension"):
            stream["file_extension"] = str(dest["FileExtension"])
        zone = dest.get("CustomTimeZone")
        if zone and str(zone).upper() not in ("UTC", "ETC/UTC"):
            self.note("partly", f"CustomTimeZone {zone} is not supported: prefix timestamps "
                      "are UTC.")
        dynamic = dest.get("DynamicPartitioningConfiguration") or {}
        if (dynamic.get("RetryOptions") or {}).get("DurationInSeconds") is not None:
            self.note("partly", "DynamicPartitioningConfiguration.RetryOptions has no "
                      "equivalent: retries follow the rule target's retry_policy.")


def map_delivery_stream(ctx: ImportContext, resource: Resource) -> None:
    props = ctx.props(resource)
    name = ctx.resolver.resource_name(resource)
    if not NAME_RE.match(name):
        ctx.note(resource, "error", f"delivery stream name {name!r} is not 1-64 of "
                 "A-Z a-z 0-9 . - _.")
        return
    other = [k for k in _OTHER_DESTINATIONS if k in props]
    dest = props.get("ExtendedS3DestinationConfiguration") or \
        props.get("S3DestinationConfiguration")
    if not isinstance(dest, dict):
        what = other[0].removesuffix("DestinationConfiguration") if other else "no"
        ctx.note(resource, "skipped", f"delivery stream {name} writes to {what} destination; "
                 "clientevents writes objects to folders and S3 buckets only.")
        return
    helper = _Stream(ctx, resource, name)
    bucket = _bucket(dest.get("BucketARN"))
    if bucket is None or not _BUCKET.match(bucket):
        ctx.note(resource, "skipped", f"delivery stream {name}: its BucketARN "
                 f"{dest.get('BucketARN')!r} does not name a bucket (3-63 of a-z 0-9 . -).")
        return
    stream: dict[str, Any] = {"name": name, "destination": helper.destination(bucket)}
    prefix = str(dest.get("Prefix") or "")
    if prefix:
        stream["prefix"] = prefix
    error_prefix = helper.error_prefix(prefix, dest.get("ErrorOutputPrefix"))
    if error_prefix is not None:
        stream["error_output_prefix"] = error_prefix
    helper.options(dest, stream)
    processors = map_processors(ctx, resource, name, dest.get("ProcessingConfiguration"))
    if processors:
        stream["processors"] = processors
    kinds = {p["type"] for p in processors}
    if "record_deaggregation" in kinds and "append_delimiter" not in kinds:
        helper.note("partly", "de-aggregation takes the newline off each record, so records "
                    "are written one after another with nothing between them, as Firehose "
                    "writes them; add a processor {type: append_delimiter} for JSON lines.")
    fmt = map_format(ctx, resource, name, dest.get("DataFormatConversionConfiguration"))
    if fmt is not None:
        stream["format"] = fmt
        stream.pop("compression", None)
    if str(props.get("DeliveryStreamType", "DirectPut")) != "DirectPut":
        helper.note("partly", f"its source {props['DeliveryStreamType']} is not read: rule "
                    "targets feed it.")
    ctx.items("delivery_streams").append(stream)
    ctx.note(resource, "mapped", f"delivery stream {name} with {len(processors)} "
             f"processor{'s' if len(processors) != 1 else ''}.")
    ctx.leftover(resource, props, _HANDLED | {"KinesisStreamSourceConfiguration"},
                 "encryption and other sources have no equivalent")
    rest = sorted(k for k in dest if k not in _S3_HANDLED)
    if rest:
        helper.note("partly", f"not carried over: {', '.join(rest)} (backups, encryption and "
                    "CloudWatch logging are not supported).")
