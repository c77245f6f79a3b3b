"""Prefix expressions, Java date-time patterns, and the configuration's prefix rules."""

from __future__ import annotations

from typing import Any

import pytest

from clientevents.config import validate_settings
from clientevents.config.errors import ConfigValidationError
from clientevents.delivery_stream.prefix import PrefixTemplate
from clientevents.delivery_stream.timefmt import compile_pattern

T = 1_796_360_400.0 + 8 * 3600 + 7 * 60 + 9.25  # 2026-12-04T13:07:09.250Z, a Friday


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("yyyy/MM/dd/HH/", "2026/12/04/13/"),
        ("yy-M-d", "26-12-4"),
        ("uuuu'-W'", "2026-W"),
        ("'year='yyyy'/month='MM", "year=2026/month=12"),
        ("MMM MMMM", "Dec December"),
        ("EEE EEEE", "Fri Friday"),
        ("DDD", "338"),
        ("hh:mm:ss a", "01:07:09 PM"),
        ("k K", "13 1"),
        ("ss.SSS", "09.250"),
        ("''", "'"),
        ("'it''s'", "it's"),
    ],
)
def test_java_date_time_patterns(pattern: str, text: str) -> None:
    assert compile_pattern(pattern)(T) == text


@pytest.mark.parametrize("pattern", ["yyyy-ww", "[yyyy]", "'open", "dddd", "Q"])
def test_unsupported_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        compile_pattern(pattern)


def test_rendering_every_namespace() -> None:
    template = PrefixTemplate(
        "t=!{partitionKeyFromQuery:type}/v=!{partitionKeyFromLambda:v}/!{timestamp:yyyy}/"
        "!{firehose:random-string}/")
    assert (template.query_keys, template.lambda_keys) == (("type",), ("v",))
    text = template.render(query_keys={"type": "shop"}, lambda_keys={"v": "2"},
                           oldest_arrival=T)
    head, random, tail = text.rsplit("/", 2)
    assert head == "t=shop/v=2/2026" and len(random) == 11 and tail == ""


def test_a_static_prefix_gets_the_default_time_folders() -> None:
    assert PrefixTemplate("raw/").render(oldest_arrival=T) == "raw/2026/12/04/13/"
    assert PrefixTemplate("").render(oldest_arrival=T) == "2026/12/04/13/"
    assert PrefixTemplate("r/!{timestamp:yyyy}/").render(oldest_arrival=T) == "r/2026/"


def test_a_dynamic_prefix_gets_nothing_appended() -> None:
    template = PrefixTemplate("!{partitionKeyFromQuery:a}/")
    assert template.render(query_keys={"a": "x"}, oldest_arrival=T) == "x/"


def test_the_error_output_type() -> None:
    template = PrefixTemplate("e/!{firehose:error-output-type}/!{timestamp:yyyy}/",
                              error_output=True, append_default_time=False)
    assert template.render(oldest_arrival=T, error_type="processing-failed") == (
        "e/processing-failed/2026/")


@pytest.mark.parametrize(
    ("text", "error_output", "problem"),
    [
        ("a/!{firehose:error-output-type}/", False, "only be used in error_output_prefix"),
        ("e/", True, "must contain !{firehose:error-output-type}"),
        ("!{firehose:error-output-type}/!{partitionKeyFromQuery:k}/", True,
         "cannot be used in an error output prefix"),
        ("!{nope:x}", False, "unknown namespace"),
        ("!{firehose:other}", False, "unknown firehose expression"),
        ("!{timestamp:yyyy-ww}", False, "pattern letter 'w'"),
        ("a!{b", False, "may only start an expression"),
        ("/abs/", False, "would lead out"),
        ("a/../b/", False, "would lead out"),
        ("a//b/", False, "would lead out"),
        ("!{partitionKeyFromQuery:}/", False, "needs a key name"),
    ],
)
def test_prefix_rules(text: str, error_output: bool, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PrefixTemplate(text, error_output=error_output)


def _problems(stream: dict[str, Any], **extra: Any) -> list[tuple[str, str]]:
    data = {"delivery_streams": [{"name": "s", "destination": {"type": "local",
                                                                "local": {"path": "x"}},
                                  **stream}], **extra}
    with pytest.raises(ConfigValidationError) as caught:
        validate_settings(data, file="c.yaml", environ={})
    return list(caught.value.problems)


@pytest.mark.parametrize(
    ("stream", "path", "words"),
    [
        ({"prefix": "!{partitionKeyFromQuery:k}/", "error_output_prefix": "e/!{firehose:"
          "error-output-type}/"}, "delivery_streams[0].prefix", "needs a metadata_extraction"),
        ({"prefix": "!{partitionKeyFromLambda:k}/", "error_output_prefix": "e/!{firehose:"
          "error-output-type}/"}, "delivery_streams[0].prefix", "needs a function processor"),
        ({"prefix": "!{timestamp:yyyy}/"}, "delivery_streams[0].error_output_prefix",
         "needs an error_output_prefix"),
        ({"buffering": {"size_mib": 200}}, "delivery_streams[0].buffering.size_mib", "128"),
        ({"buffering": {"interval_secs": 901}}, "delivery_streams[0].buffering.interval_secs",
         "900"),
        ({"processors": [{"type": "metadata_extraction", "query": "{a: .a"}]},
         "delivery_streams[0].processors[0].query", "does not compile"),
        ({"processors": [{"type": "function", "function": "no_module_q:f"}]},
         "delivery_streams[0].processors[0].function", "cannot import module"),
        ({"processors": [{"type": "append_delimiter"}, {"type": "append_delimiter"}]},
         "delivery_streams[0].processors[1].type", "each type runs once"),
        ({"processors": [{"type": "record_deaggregation", "sub_record_type": "delimited"}]},
         "delivery_streams[0].processors[0].delimiter", "needs a delimiter"),
        ({"processors": [{"type": "sharpen"}]}, "delivery_streams[0].processors[0]",
         "unknown type 'sharpen'"),
        ({"format": {"type": "parquet"}}, "delivery_streams[0].format.columns", "needs columns"),
        ({"format": {"type": "parquet", "columns": [{"name": "a", "type": "int"}]},
          "compression": "gzip"}, "delivery_streams[0].compression", "set compression to none"),
        ({"format": {"type": "parquet", "columns": [{"name": "a", "type": "varchar2"}]}},
         "delivery_streams[0].format.columns[0].type", "unknown type"),
        ({"destination": {"type": "s3"}}, "delivery_streams[0].destination.s3",
         "needs its settings"),
        ({"destination": {"type": "s3", "s3": {"bucket": "Bad_Bucket"}}},
         "delivery_streams[0].destination.s3.bucket", "pattern"),
        ({"compression": "lzma"}, "delivery_streams[0].compression", "gzip"),
        ({"file_extension": "gz"}, "delivery_streams[0].file_extension", "pattern"),
        ({"buffers": {}}, "delivery_streams[0].buffers", "did you mean 'buffering'"),
    ],
)
def test_validation_names_the_field(stream: dict[str, Any], path: str, words: str) -> None:
    problems = _problems(stream)
    assert any(p == path and words in m for p, m in problems), problems
    assert any("delivery stream 's'" in m for _, m in problems)


def test_a_target_must_name_a_defined_stream() -> None:
    problems = _problems({}, buses=[{"name": "b"}], rules=[{
        "name": "r", "bus": "b", "event_pattern": {"source": ["x"]},
        "targets": [{"id": "t", "type": "delivery_stream", "delivery_stream": "nope"}]}])
    assert problems[0][0] == "rules[0].targets[0].delivery_stream"
    assert "delivery stream 'nope' is not defined" in problems[0][1]


def test_stream_names_are_unique() -> None:
    data = {"delivery_streams": [
        {"name": "s", "destination": {"type": "local", "local": {"path": "x"}}}] * 2}
    with pytest.raises(ConfigValidationError) as caught:
        validate_settings(data, environ={})
    assert caught.value.problems[0][0] == "delivery_streams[1].name"


def test_clientevents_validate_explains_a_stream_s_problems(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from clientevents.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(
        "buses: [{name: b}]\n"
        "rules:\n"
        "  - name: r\n"
        "    bus: b\n"
        "    event_pattern: {source: [x]}\n"
        "    targets: [{id: t, type: delivery_stream, delivery_stream: laek}]\n"
        "delivery_streams:\n"
        "  - name: lake\n"
        "    destination: {type: local, local: {path: lake}}\n"
        "    prefix: '!{partitionKeyFromQuery:kind}/'\n"
        "    error_output_prefix: 'errors/'\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    out = result.output
    assert "delivery_streams[0].prefix: !{partitionKeyFromQuery:...} needs a " in out
    assert "delivery_streams[0].error_output_prefix: an error output prefix must contain" in out
    assert "(delivery stream 'lake'; line 10)" in out
    assert "is not valid: 2 problems." in out
    fixed = path.read_text().replace("errors/", "errors/!{firehose:error-output-type}/").replace(
        "    prefix:", "    processors: [{type: metadata_extraction, query: '{kind: .k}'}]\n"
        "    prefix:")
    path.write_text(fixed)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "rules[0].targets[0].delivery_stream: delivery stream 'laek' is not defined under " \
           "delivery_streams (defined: lake)" in result.output
