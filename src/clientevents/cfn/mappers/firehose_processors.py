"""A Firehose ``ProcessingConfiguration`` and ``DataFormatConversionConfiguration`` →
a delivery stream's ``processors`` and ``format``.

Processors run in Firehose's fixed order (de-aggregation, the transformation Lambda, partition
keys, the delimiter), whatever order the template lists them in. A Lambda becomes a
``function`` processor when ``--function`` names the Python function that does its work
(``clientevents.delivery_stream.examples:blueprint_transform`` is the blueprint's); otherwise it
is left out, and said so. Format conversion maps when the Glue table it names is in the
template (its columns become ``format.columns``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from clientevents.cfn.context import ImportContext
from clientevents.cfn.intrinsics import ResourceValue
from clientevents.cfn.template import Resource

__all__ = ["map_format", "map_processors"]

_ORDER = {"RecordDeAggregation": 0, "Lambda": 1, "MetadataExtraction": 2,
          "AppendDelimiterToRecord": 3}
_PARQUET = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none", "ZSTD": "zstd"}


class _Processors:
    def __init__(self, ctx: ImportContext, resource: Resource, stream: str) -> None:
        self.ctx, self.resource, self.stream = ctx, resource, stream

    def note(self, outcome: Any, message: str) -> None:
        self.ctx.note(self.resource, outcome, f"delivery stream {self.stream}: {message}")

    def processor(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        kind = str(spec.get("Type", ""))
        params = {str(p.get("ParameterName")): p.get("ParameterValue")
                  for p in spec.get("Parameters") or [] if isinstance(p, dict)}
        if kind == "Lambda":
            return self.function(params)
        if kind == "RecordDeAggregation":
            sub = str(params.get("SubRecordType", "JSON")).upper()
            if sub == "JSON":
                return {"type": "record_deaggregation", "sub_record_type": "json"}
            delimiter = self.delimiter(params.get("Delimiter"), kind)
            return None if delimiter is None else {
                "type": "record_deaggregation", "sub_record_type": "delimited",
                "delimiter": delimiter}
        if kind == "MetadataExtraction":
            out: dict[str, Any] = {"type": "metadata_extraction",
                                   "query": str(params.get("MetadataExtractionQuery", ""))}
            if params.get("JsonParsingEngine"):
                out["json_parsing_engine"] = str(params["JsonParsingEngine"])
            return out
        if kind == "AppendDelimiterToRecord":
            if params.get("Delimiter") is None:
                return {"type": "append_delimiter"}
            delimiter = self.delimiter(params.get("Delimiter"), kind)
            return None if delimiter is None else {"type": "append_delimiter",
                                                   "delimiter": delimiter}
        self.note("partly", f"the {kind or '(untyped)'} processor has no equivalent and was "
                  "left out.")
        return None

    def delimiter(self, value: Any, kind: str) -> str | None:
        try:
            return base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self.note("partly", f"the {kind} processor's Delimiter {value!r} is not base64 "
                      "text; the processor was left out.")
            return None

    def function(self, params: dict[str, Any]) -> dict[str, Any] | None:
        arn = params.get("LambdaArn")
        names = self.function_names(arn)
        spec = next((self.ctx.functions[n] for n in names if n in self.ctx.functions), None)
        if spec is None:
            label = names[0] if names else repr(arn)
            self.note("partly", f"its transformation Lambda {label} was left out: clientevents "
                      "calls a Python function in its place; pass --function "
                      f"{label}=module:function (it gets Firehose's transformation event, as "
                      "the Lambda does; clientevents.delivery_stream.examples:"
                      "blueprint_transform is the blueprint's).")
            return None
        out: dict[str, Any] = {"type": "function", "function": spec}
        if params.get("NumberOfRetries") is not None:
            out["number_of_retries"] = int(params["NumberOfRetries"])
        if params.get("BufferSizeInMBs") is not None:
            out["buffer_size_mib"] = min(3.0, float(params["BufferSizeInMBs"]))
        timeout = self.timeout(arn)
        if timeout is not None:
            out["timeout_secs"] = timeout
        if params.get("BufferIntervalInSeconds") is not None:
            self.note("partly", "BufferIntervalInSeconds of its Lambda has no equivalent: "
                      "records are processed as they arrive.")
        self.note("mapped", f"its transformation Lambda {names[0]} runs as the Python "
                  f"function {spec}.")
        return out

    def function_names(self, arn: Any) -> list[str]:
        """The names ``--function`` may use for a Lambda: logical id, name, ARN."""
        names: list[str] = []
        if isinstance(arn, ResourceValue):
            names.append(arn.logical_id)
            resource = self.ctx.template.resources.get(arn.logical_id)
            if resource is not None:
                names.append(self.ctx.resolver.resource_name(resource))
        if arn is not None:
            text = str(arn)
            names.append(text)
            bare = text.removesuffix(":$LATEST")
            names.append(bare)
            names.append(bare.rsplit(":", 1)[-1])
        return list(dict.fromkeys(n for n in names if n))

    def timeout(self, arn: Any) -> float | None:
        """The Lambda's timeout (its Timeout, or SAM's Globals), when the template has it."""
        if not isinstance(arn, ResourceValue):
            return None
        resource = self.ctx.template.resources.get(arn.logical_id)
        if resource is None:
            return None
        value = resource.properties.get("Timeout")
        if value is None and resource.type == "AWS::Serverless::Function":
            value = (self.ctx.template.globals.get("Function") or {}).get("Timeout")
        try:
            return None if value is None else max(1.0, min(900.0, float(value)))
        except (TypeError, ValueError):
            return None


def map_processors(ctx: ImportContext, resource: Resource, stream: str,
                   config: Any) -> list[dict[str, Any]]:
    """The processors of ``ProcessingConfiguration`` (empty when it is disabled)."""
    if not isinstance(config, dict):
        return []
    helper = _Processors(ctx, resource, stream)
    specs = [p for p in config.get("Processors") or [] if isinstance(p, dict)]
    if str(config.get("Enabled", True)).lower() == "false":
        if specs:
            helper.note("partly", "its processors are disabled (Enabled: false) and were "
                        "left out.")
        return []
    ordered = sorted(specs, key=lambda p: _ORDER.get(str(p.get("Type")), len(_ORDER)))
    if [p.get("Type") for p in ordered] != [p.get("Type") for p in specs]:
        helper.note("partly", "its processors are listed in Firehose's order (de-aggregation, "
                    "Lambda, partition keys, delimiter), the order Firehose runs them in.")
    processors = [helper.processor(p) for p in ordered]
    return [p for p in processors if p is not None]


def _glue_columns(ctx: ImportContext, database: Any, table: Any) -> list[dict[str, str]] | None:
    for candidate in ctx.template.by_type("AWS::Glue::Table"):
        props = ctx.props(candidate)
        table_input = props.get("TableInput") or {}
        if str(table_input.get("Name", "")) != str(table) or (
            database is not None and str(props.get("DatabaseName", database)) != str(database)
        ):
            continue
        columns = (table_input.get("StorageDescriptor") or {}).get("Columns") or []
        found = [{"name": str(c["Name"]), "type": str(c["Type"]).lower()}
                 for c in columns if isinstance(c, dict) and c.get("Name") and c.get("Type")]
        return found or None
    return None


def map_format(ctx: ImportContext, resource: Resource, stream: str,
               config: Any) -> dict[str, Any] | None:
    """``format`` for a ``DataFormatConversionConfiguration`` (None: JSON lines as given)."""
    if not isinstance(config, dict) or str(config.get("Enabled", True)).lower() == "false":
        return None
    serializer = (config.get("OutputFormatConfiguration") or {}).get("Serializer") or {}
    if "ParquetSerDe" not in serializer:
        ctx.note(resource, "partly", f"delivery stream {stream}: its format conversion "
                 f"writes {', '.join(serializer) or 'an unnamed format'}; clientevents writes "
                 "Parquet only, so records stay JSON lines.")
        return None
    schema = config.get("SchemaConfiguration") or {}
    columns = _glue_columns(ctx, schema.get("DatabaseName"), schema.get("TableName"))
    if columns is None:
        ctx.note(resource, "partly", f"delivery stream {stream}: its Parquet conversion reads "
                 f"the schema of Glue table {schema.get('TableName')!r}, which is not in the "
                 "template; records stay JSON lines (add format: {type: parquet, columns: "
                 "[...]} with the table's columns).")
        return None
    compression = str((serializer["ParquetSerDe"] or {}).get("Compression", "SNAPPY")).upper()
    ctx.note(resource, "mapped", f"delivery stream {stream}: Parquet with the "
             f"{len(columns)} columns of Glue table {schema.get('TableName')}.")
    return {"type": "parquet", "columns": columns,
            "compression": _PARQUET.get(compression, "snappy")}
