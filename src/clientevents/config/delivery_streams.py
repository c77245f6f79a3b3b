"""Delivery streams: Firehose-like buffering, processing, partitioning and writing of objects.

A stream is defined once under ``delivery_streams:`` and fed by rule targets
``{type: delivery_stream, delivery_stream: <name>}`` (several rules may feed one stream; they
share its buffers). ``docs/delivery-streams.md`` documents every field with an example.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from clientevents.config.base import ConfigModel, ConfigProblems, Name, Problem

__all__ = [
    "AppendDelimiterConfig",
    "BufferingConfig",
    "ColumnConfig",
    "DeliveryStreamConfig",
    "DestinationConfig",
    "FormatConfig",
    "FunctionProcessorConfig",
    "LocalDestinationConfig",
    "MetadataExtractionConfig",
    "ProcessorConfig",
    "RecordDeaggregationConfig",
    "S3DestinationConfig",
]

MIB = 1 << 20


class BufferingConfig(ConfigModel):
    """When a partition's buffer becomes an object: the first hint reached, or shutdown."""

    size_mib: float = Field(
        default=5, ge=1, le=128,
        description="Write a partition's object once its records reach this many MiB "
        "(1 to 128; Firehose's SizeInMBs).",
    )
    interval_secs: float = Field(
        default=300, ge=0, le=900,
        description="Write a partition's object this many seconds after its first record "
        "(0 to 900; Firehose's IntervalInSeconds).",
    )
    max_buffered_mib: float = Field(
        default=64, ge=1, le=16_384,
        description="Most MiB all partitions of the stream may hold together; past it the "
        "largest partitions are written early and no more deliveries are taken.",
    )


class FunctionProcessorConfig(ConfigModel):
    """Call a Python function the way Firehose calls a transformation Lambda."""

    type: Literal["function"] = Field(description="Processor type.")
    function: str = Field(
        min_length=3, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="The callable, 'module:function' "
        "(e.g. clientevents.delivery_stream.examples:blueprint_transform).",
    )
    number_of_retries: int = Field(
        default=3, ge=0, le=300,
        description="Retries of a failed invocation (an exception, a timeout, an answer "
        "without records) before its records go to the error output.",
    )
    timeout_secs: float = Field(
        default=60, gt=0, le=900, description="How long one invocation may take."
    )
    buffer_size_mib: float = Field(
        default=1, gt=0, le=3,
        description="Most MiB of records passed to one invocation (Firehose's BufferSizeInMBs).",
    )

    @field_validator("function")
    @classmethod
    def _importable(cls, value: str) -> str:
        from clientevents.delivery_stream.function import load_function

        load_function(value)
        return value


class RecordDeaggregationConfig(ConfigModel):
    """Split records that aggregate several records."""

    type: Literal["record_deaggregation"] = Field(description="Processor type.")
    sub_record_type: Literal["json", "delimited"] = Field(
        default="json",
        description="json: concatenated JSON objects; delimited: parts separated by delimiter.",
    )
    delimiter: str | None = Field(
        default=None, min_length=1,
        description="The separator of delimited records (plain text; Firehose takes it "
        "base64-encoded).",
    )

    @model_validator(mode="after")
    def _delimiter_when_delimited(self) -> RecordDeaggregationConfig:
        if self.sub_record_type == "delimited" and not self.delimiter:
            raise ConfigProblems([(("delimiter",),
                                   "delimited de-aggregation needs a delimiter, e.g. '\\n'.")])
        if self.sub_record_type == "json" and self.delimiter is not None:
            raise ConfigProblems([(("delimiter",),
                                   "a delimiter applies to sub_record_type delimited only.")])
        return self


class MetadataExtractionConfig(ConfigModel):
    """Compute partition keys with a jq query (the keys of !{partitionKeyFromQuery:...})."""

    type: Literal["metadata_extraction"] = Field(description="Processor type.")
    query: str = Field(
        min_length=1,
        description="A jq query producing an object of keys, e.g. "
        "'{eventType: .detail.eventType, schemaVersion: .detail.schemaVersion}'.",
    )
    json_parsing_engine: Literal["JQ-1.6"] = Field(
        default="JQ-1.6", description="Firehose's only engine; the query runs in jq."
    )

    @field_validator("query")
    @classmethod
    def _compiles(cls, value: str) -> str:
        from clientevents.delivery_stream.processors import compile_jq

        compile_jq(value)
        return value


class AppendDelimiterConfig(ConfigModel):
    """Add a delimiter after each record."""

    type: Literal["append_delimiter"] = Field(description="Processor type.")
    delimiter: str = Field(default="\n", min_length=1, description="What to add ('\\n').")


ProcessorConfig = Annotated[
    FunctionProcessorConfig
    | RecordDeaggregationConfig
    | MetadataExtractionConfig
    | AppendDelimiterConfig,
    Field(discriminator="type"),
]


class LocalDestinationConfig(ConfigModel):
    """Objects as files in a folder."""

    path: str = Field(
        min_length=1, description="The folder, relative to data_dir unless absolute."
    )


class S3DestinationConfig(ConfigModel):
    """Objects in an S3 bucket (AWS, or any S3-compatible store through endpoint_url)."""

    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$",
                        description="The bucket name.")
    region: str = Field(default="us-east-1", min_length=1, description="The bucket's region.")
    endpoint_url: str | None = Field(
        default=None, pattern=r"^https?://",
        description="An S3-compatible endpoint (http://127.0.0.1:9000); none = AWS.",
    )
    access_key_id: str | None = Field(
        default=None, repr=False,
        description="Credentials; reference them with ${env:...}. None = the AWS_* "
        "environment variables.",
    )
    secret_access_key: str | None = Field(default=None, repr=False, description="See above.")
    session_token: str | None = Field(default=None, repr=False, description="See above.")
    timeout_secs: float = Field(default=30, gt=0, le=600,
                                description="How long one PUT may take.")


class DestinationConfig(ConfigModel):
    """Where objects go: ``{type: local, local: {...}}`` or ``{type: s3, s3: {...}}``."""

    type: Literal["local", "s3"] = Field(description="The kind of destination.")
    local: LocalDestinationConfig | None = Field(default=None, description="type local.")
    s3: S3DestinationConfig | None = Field(default=None, description="type s3.")

    @model_validator(mode="after")
    def _one_shape(self) -> DestinationConfig:
        problems: list[Problem] = []
        if getattr(self, self.type) is None:
            problems.append(((self.type,), f"destination type {self.type!r} needs its "
                             f"settings under {self.type}."))
        other = "s3" if self.type == "local" else "local"
        if getattr(self, other) is not None:
            problems.append(((other,), f"settings for {other!r} given, but the destination "
                             f"type is {self.type!r}; remove them or change the type."))
        if problems:
            raise ConfigProblems(problems)
        return self


class ColumnConfig(ConfigModel):
    """One column of a Parquet schema, as in a Glue table."""

    name: str = Field(min_length=1, max_length=255, description="The column name.")
    type: str = Field(
        min_length=1,
        description="A Glue/Hive type: string, boolean, tinyint, smallint, int, bigint, "
        "float, double, decimal(p,s), date, timestamp, array<T>, map<K,V>, "
        "struct<name:T,...>.",
    )
    json_key: str | None = Field(
        default=None, min_length=1,
        description="The record's JSON key, when it differs from name (e.g. detail-type).",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from clientevents.delivery_stream.parquet import parse_type

        parse_type(value)
        return value


class FormatConfig(ConfigModel):
    """The objects' format: JSON lines (the records as they are) or Parquet."""

    type: Literal["json_lines", "parquet"] = Field(
        default="json_lines", description="json_lines keeps the records' bytes; parquet "
        "converts JSON records to rows of columns."
    )
    columns: list[ColumnConfig] | None = Field(
        default=None, description="Parquet: the schema, as a Glue-like column list."
    )
    compression: Literal["none", "snappy", "gzip", "zstd"] = Field(
        default="snappy", description="Parquet: the column compression."
    )

    @model_validator(mode="after")
    def _columns_for_parquet(self) -> FormatConfig:
        if self.type == "parquet" and not self.columns:
            raise ConfigProblems([(("columns",), "the parquet format needs columns, e.g. "
                                   "[{name: id, type: string}].")])
        if self.type == "json_lines" and self.columns is not None:
            raise ConfigProblems([(("columns",), "columns apply to the parquet format only.")])
        return self


class DeliveryStreamConfig(ConfigModel):
    """A delivery stream: buffer, process, partition, compress, and write objects."""

    name: Name = Field(description="Stream name, unique; it begins every object's name.")
    destination: DestinationConfig = Field(description="Where objects go.")
    prefix: str = Field(
        default="", max_length=1024,
        description="Key prefix with !{partitionKeyFromQuery:k}, !{partitionKeyFromLambda:k}, "
        "!{timestamp:pattern} and !{firehose:random-string}; without a timestamp or partition "
        "key, yyyy/MM/dd/HH/ is appended.",
    )
    error_output_prefix: str | None = Field(
        default=None, max_length=1024,
        description="Key prefix of failed records; must contain "
        "!{firehose:error-output-type}. Required when prefix has expressions.",
    )
    buffering: BufferingConfig = Field(default_factory=BufferingConfig,
                                       description="Buffering hints.")
    processors: list[ProcessorConfig] = Field(
        default_factory=list, description="Processors, applied in this order, each type once."
    )
    compression: Literal["none", "gzip", "zstd", "snappy"] = Field(
        default="none", description="Object compression (none for the parquet format, which "
        "compresses inside).",
    )
    file_extension: str | None = Field(
        default=None, max_length=128, pattern=r"^$|^\.[0-9a-z!\-_.*'()]+$",
        description="Replaces the extension the format and compression imply (.gz, .parquet).",
    )
    format: FormatConfig = Field(default_factory=FormatConfig, description="Object format.")
    max_active_partitions: int = Field(
        default=500, ge=1, le=100_000,
        description="Most partitions buffered at once; records of further partitions go to "
        "the error output (activePartitionExceeded), as in Firehose.",
    )

    @field_validator("processors")
    @classmethod
    def _each_type_once(cls, processors: list[ProcessorConfig]) -> list[ProcessorConfig]:
        seen: dict[str, int] = {}
        problems: list[Problem] = []
        for i, processor in enumerate(processors):
            if processor.type in seen:
                problems.append(((i, processor.type, "type"),
                                 f"processor {processor.type!r} is already processors"
                                 f"[{seen[processor.type]}]; each type runs once."))
            seen.setdefault(processor.type, i)
        if problems:
            raise ConfigProblems(problems)
        return processors

    @model_validator(mode="after")
    def _prefixes(self) -> DeliveryStreamConfig:
        from clientevents.delivery_stream.prefix import PrefixTemplate

        problems: list[Problem] = []
        types = {p.type for p in self.processors}
        try:
            data = PrefixTemplate(self.prefix)
        except ValueError as exc:
            problems.append((("prefix",), f"{exc}."))
        else:
            if data.query_keys and "metadata_extraction" not in types:
                problems.append((("prefix",), "!{partitionKeyFromQuery:...} needs a "
                                 "metadata_extraction processor to compute the keys."))
            if data.lambda_keys and "function" not in types:
                problems.append((("prefix",), "!{partitionKeyFromLambda:...} needs a "
                                 "function processor that returns metadata.partitionKeys."))
        if self.error_output_prefix is None:
            if "!{" in self.prefix:
                problems.append((("error_output_prefix",), "a prefix with expressions needs "
                                 "an error_output_prefix, e.g. "
                                 "'errors/!{firehose:error-output-type}/'."))
        else:
            try:
                PrefixTemplate(self.error_output_prefix, error_output=True,
                               append_default_time=False)
            except ValueError as exc:
                problems.append((("error_output_prefix",), f"{exc}."))
        if self.format.type == "parquet" and self.compression != "none":
            problems.append((("compression",), "the parquet format compresses its columns "
                             "(format.compression); set compression to none."))
        if problems:
            raise ConfigProblems(problems)
        return self

    @property
    def size_bytes(self) -> int:
        """The size hint in bytes."""
        return int(self.buffering.size_mib * MIB)
