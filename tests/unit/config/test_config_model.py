"""The configuration model: defaults, ranges and every cross-field rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clientevents.config import (
    TARGET_MODELS,
    TARGET_TYPES,
    ConfigValidationError,
    Settings,
    resolve_path,
    validate_settings,
)
from clientevents.config.model import (
    BusTargetConfig,
    LogTargetConfig,
    RetryPolicy,
    RuleConfig,
    StreamTargetConfig,
)

BASE: dict[str, Any] = {
    "buses": [{"name": "main"}, {"name": "other"}],
    "streams": [{"name": "clicks"}],
    "rules": [
        {
            "name": "all",
            "bus": "main",
            "event_pattern": {"source": ["clientevents"]},
            "targets": [{"id": "t1", "type": "log", "path": "out.jsonl"}],
        }
    ],
}


def config(**changes: Any) -> dict[str, Any]:
    """A valid configuration with top-level keys replaced."""
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return data


def with_target(**target: Any) -> dict[str, Any]:
    """The base configuration whose single rule has one target made of ``target``."""
    data = config()
    data["rules"][0]["targets"] = [{"id": "t1", "type": "log", "path": "out.jsonl", **target}]
    return data


def problems(data: Any) -> list[tuple[str, str]]:
    """The (path, message) pairs validating ``data`` gives; fails if it is valid."""
    with pytest.raises(ConfigValidationError) as info:
        validate_settings(data, file="test.yaml", environ={})
    return list(info.value.problems)


def paths(data: Any) -> list[str]:
    return [path for path, _ in problems(data)]


def test_empty_configuration_takes_the_documented_defaults() -> None:
    settings = validate_settings({}, environ={})
    assert settings.account == "000000000000"
    assert settings.region == "local"
    assert settings.data_dir == Path("data")
    assert settings.limits.max_entries_per_request == 10
    assert settings.limits.max_entry_bytes == 262_144
    assert settings.limits.max_body_bytes == 1_048_576
    assert settings.limits.max_json_depth == 64
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8080
    assert settings.server.cors_allowed_origins == []
    assert settings.server.access_log is True
    assert settings.buses == []
    assert settings.rules == []
    assert settings.stages == []
    pool = settings.identity.user_pool
    assert pool.enabled and pool.id == "local_clientevents"
    assert pool.client_id == "clientevents-local-app"
    assert pool.password_policy.minimum_length == 8
    assert pool.password_policy.require_symbols and not pool.password_policy.require_numbers
    assert (pool.access_token_ttl_secs, pool.id_token_ttl_secs) == (3600, 3600)
    assert pool.refresh_token_ttl_days == 30
    assert pool.notifier.type == "file"
    assert settings.identity.accept_id_tokens is False
    assert settings.identity.admin is None


def test_target_defaults() -> None:
    target = validate_settings(config(), environ={}).rules[0].targets[0]
    assert isinstance(target, LogTargetConfig)
    assert target.retry_policy == RetryPolicy(
        maximum_event_age_secs=86_400, maximum_retry_attempts=185
    )
    assert target.dead_letter is True
    assert target.input is None
    assert target.input_path is None
    assert target.input_transformer is None


def test_models_are_frozen() -> None:
    settings = validate_settings(config(), environ={})
    with pytest.raises(ValidationError, match="frozen"):
        settings.account = "111111111111"
    with pytest.raises(ValidationError, match="frozen"):
        settings.rules[0].targets[0].retry_policy.maximum_retry_attempts = 3


def test_unknown_keys_are_rejected_everywhere() -> None:
    data = config(extra_top=1)
    data["rules"][0]["targets"][0]["retry_policy"] = {"max_attempts": 3}
    data["buses"][0]["color"] = "blue"
    assert sorted(paths(data)) == [
        "buses[0].color",
        "extra_top",
        "rules[0].targets[0].retry_policy.max_attempts",
    ]


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("maximum_event_age_secs", 60, True),
        ("maximum_event_age_secs", 86_400, True),
        ("maximum_event_age_secs", 59, False),
        ("maximum_event_age_secs", 86_401, False),
        ("maximum_retry_attempts", 0, True),
        ("maximum_retry_attempts", 185, True),
        ("maximum_retry_attempts", -1, False),
        ("maximum_retry_attempts", 186, False),
    ],
)
def test_retry_policy_ranges(field: str, value: int, ok: bool) -> None:
    data = with_target(retry_policy={field: value})
    if ok:
        target = validate_settings(data, environ={}).rules[0].targets[0]
        assert getattr(target.retry_policy, field) == value
    else:
        assert paths(data) == [f"rules[0].targets[0].retry_policy.{field}"]


@pytest.mark.parametrize("count", [0, 6])
def test_a_rule_has_one_to_five_targets(count: int) -> None:
    data = config()
    data["rules"][0]["targets"] = [
        {"id": f"t{i}", "type": "log", "path": f"{i}.jsonl"} for i in range(count)
    ]
    assert paths(data) == ["rules[0].targets"]


def test_five_targets_are_fine() -> None:
    data = config()
    data["rules"][0]["targets"] = [
        {"id": f"t{i}", "type": "log", "path": f"{i}.jsonl"} for i in range(5)
    ]
    assert len(validate_settings(data, environ={}).rules[0].targets) == 5


def test_target_ids_are_unique_within_a_rule() -> None:
    data = config()
    data["rules"][0]["targets"] = [
        {"id": "same", "type": "log", "path": "a"},
        {"id": "same", "type": "log", "path": "b"},
    ]
    [(path, message)] = problems(data)
    assert path == "rules[0].targets[1].id"
    assert "duplicate target 'same'" in message and "targets[0]" in message


def test_the_same_target_id_in_two_rules_is_fine() -> None:
    data = config()
    data["rules"].append({**data["rules"][0], "name": "second"})
    assert len(validate_settings(data, environ={}).rules) == 2


@pytest.mark.parametrize(
    "shapes",
    [
        {"input": "{}", "input_path": "$.detail"},
        {"input": "{}", "input_transformer": {"input_template": "x"}},
        {"input_path": "$.detail", "input_transformer": {"input_template": "x"}},
    ],
)
def test_at_most_one_input_shape(shapes: dict[str, Any]) -> None:
    [(path, message)] = problems(with_target(**shapes))
    assert path.startswith("rules[0].targets[0].")
    assert "at most one of input, input_path and input_transformer" in message


@pytest.mark.parametrize(
    "shape",
    [
        {"input": '{"constant": true}'},
        {"input_path": "$.detail"},
        {"input_transformer": {"input_paths_map": {"t": "$.detail-type"}, "input_template": "<t>"}},
    ],
)
def test_each_input_shape_alone_is_fine(shape: dict[str, Any]) -> None:
    target = validate_settings(with_target(**shape), environ={}).rules[0].targets[0]
    key, value = next(iter(shape.items()))
    assert getattr(target, key) == value or getattr(target, key).model_dump() == {
        "input_paths_map": {},
        **value,
    }


def test_input_must_be_json_text() -> None:
    [(path, message)] = problems(with_target(input="{not json"))
    assert path == "rules[0].targets[0].input"
    assert "JSON text" in message


@pytest.mark.parametrize("name", ["", "has space", "slash/no", "x" * 65, "ümlaut"], ids=repr)
def test_names_follow_the_aws_pattern(name: str) -> None:
    assert paths(config(buses=[{"name": name}], rules=[])) == ["buses[0].name"]


@pytest.mark.parametrize("name", ["a", "A.b-c_9", "x" * 64])
def test_valid_names(name: str) -> None:
    assert validate_settings(config(buses=[{"name": name}], rules=[]), environ={}).buses[0].name


def test_target_type_chooses_the_model() -> None:
    data = config()
    data["rules"][0]["targets"] = [
        {"id": "l", "type": "log", "path": "-"},
        {"id": "b", "type": "bus", "bus": "other"},
        {"id": "s", "type": "stream", "stream": "clicks"},
    ]
    targets = validate_settings(data, environ={}).rules[0].targets
    assert [type(t) for t in targets] == [LogTargetConfig, BusTargetConfig, StreamTargetConfig]
    assert TARGET_TYPES == ("log", "bus", "stream", "delivery_stream", "api_destination")
    assert TARGET_MODELS[:3] == (LogTargetConfig, BusTargetConfig, StreamTargetConfig)
    assert [m.__name__ for m in TARGET_MODELS[3:]] == [
        "DeliveryStreamTargetConfig",
        "ApiDestinationTargetConfig",
    ]


def test_unknown_target_type_names_the_known_ones() -> None:
    [(path, message)] = problems(with_target(type="carrier_pigeon"))
    assert path == "rules[0].targets[0]"
    assert "'carrier_pigeon'" in message and "'log', 'bus', 'stream'" in message


def test_a_field_of_another_target_type_is_unknown() -> None:
    [(path, message)] = problems(with_target(bus="other"))
    assert path == "rules[0].targets[0].bus"
    assert "unknown field 'bus'" in message and "path" in message


def test_rule_names_are_unique() -> None:
    data = config()
    data["rules"].append({**data["rules"][0], "bus": "other"})
    [(path, message)] = problems(data)
    assert path == "rules[1].name"
    assert "duplicate rule 'all'" in message


def test_bus_names_are_unique() -> None:
    assert paths(config(buses=[{"name": "main"}, {"name": "main"}, {"name": "other"}])) == [
        "buses[1].name"
    ]


def test_a_rule_bus_must_exist() -> None:
    data = config()
    data["rules"][0]["bus"] = "nowhere"
    [(path, message)] = problems(data)
    assert path == "rules[0].bus"
    assert "bus 'nowhere' is not defined" in message and "main, other" in message


def test_a_bus_target_bus_must_exist_and_differ_from_the_rule_bus() -> None:
    data = config()
    data["rules"][0]["targets"] = [
        {"id": "a", "type": "bus", "bus": "nowhere"},
        {"id": "b", "type": "bus", "bus": "main"},
        {"id": "c", "type": "bus", "bus": "other"},
    ]
    found = problems(data)
    assert [path for path, _ in found] == ["rules[0].targets[0].bus", "rules[0].targets[1].bus"]
    assert "not defined" in found[0][1]
    assert "loop" in found[1][1]


def test_a_stream_target_stream_must_exist() -> None:
    data = config()
    data["rules"][0]["targets"] = [{"id": "s", "type": "stream", "stream": "nope"}]
    [(path, message)] = problems(data)
    assert path == "rules[0].targets[0].stream"
    assert "stream 'nope' is not defined" in message and "clicks" in message


def test_stage_bus_must_exist_and_environment_defaults_to_the_name() -> None:
    settings = validate_settings(config(stages=[{"name": "beta", "bus": "main"}]), environ={})
    assert settings.stages[0].environment == "beta"
    assert settings.stages[0].rate_limit is not None
    assert settings.stages[0].rate_limit.requests_per_sec == 100.0
    assert settings.stages[0].rate_limit.burst == 200
    assert paths(config(stages=[{"name": "beta", "bus": "gone"}])) == ["stages[0].bus"]


def test_stage_rate_limit_null_disables_it() -> None:
    data = config(stages=[{"name": "p", "bus": "main", "rate_limit": None}])
    assert validate_settings(data, environ={}).stages[0].rate_limit is None


def test_stage_names_are_url_segments_and_unique() -> None:
    assert paths(config(stages=[{"name": "a.b", "bus": "main"}])) == ["stages[0].name"]
    dup = [{"name": "p", "bus": "main"}, {"name": "p", "bus": "main"}]
    assert paths(config(stages=dup)) == ["stages[1].name"]


def test_stage_allowed_issuers_must_be_configured() -> None:
    issuers = [{"name": "corp", "issuer": "https://idp.example", "audience": ["app"]}]
    stage = {"name": "p", "bus": "main", "allowed_issuers": ["corp", "user_pool", "other"]}
    data = config(stages=[stage], identity={"issuers": issuers})
    [(path, message)] = problems(data)
    assert path == "stages[0].allowed_issuers[2]"
    assert "issuer 'other' is not defined" in message
    data["identity"]["user_pool"] = {"enabled": False}
    assert paths(data) == ["stages[0].allowed_issuers[1]", "stages[0].allowed_issuers[2]"]


def test_archive_bus_must_exist_and_pattern_is_optional() -> None:
    archive = {"name": "keep", "bus": "main"}
    settings = validate_settings(config(archives=[archive]), environ={})
    assert settings.archives[0].retention_days == 0
    assert settings.archives[0].event_pattern is None
    assert paths(config(archives=[{"name": "keep", "bus": "x"}])) == ["archives[0].bus"]
    assert paths(config(archives=[archive, archive])) == ["archives[1].name"]
    assert paths(config(archives=[{**archive, "retention_days": -1}])) == [
        "archives[0].retention_days"
    ]


def test_stream_settings_and_unique_names() -> None:
    settings = validate_settings(config(), environ={})
    assert settings.streams[0].retention_hours == 24
    assert settings.streams[0].visibility_timeout_secs == 30
    assert paths(config(streams=[{"name": "s"}, {"name": "s"}])) == ["streams[1].name"]
    assert paths(config(streams=[{"name": "clicks", "api_keys": ["k", ""]}])) == [
        "streams[0].api_keys[1]"
    ]


def test_secrets_stay_out_of_reprs() -> None:
    data = config(
        streams=[{"name": "clicks", "api_keys": ["stream-secret"]}],
        identity={"admin": {"access_key_id": "AKID", "secret_access_key": "admin-secret"}},
    )
    text = repr(validate_settings(data, environ={}))
    assert "stream-secret" not in text and "admin-secret" not in text and "AKID" in text


def test_event_pattern_may_be_json_text_but_must_be_a_mapping() -> None:
    data = config()
    data["rules"][0]["event_pattern"] = json.dumps({"source": ["a"]})
    assert validate_settings(data, environ={}).rules[0].event_pattern == {"source": ["a"]}
    data["rules"][0]["event_pattern"] = "[1, 2]"
    [(path, message)] = problems(data)
    assert path == "rules[0].event_pattern" and "must be a mapping" in message
    data["rules"][0]["event_pattern"] = "{broken"
    [(path, message)] = problems(data)
    assert path == "rules[0].event_pattern" and "does not parse" in message


def test_rule_state_and_description() -> None:
    data = config()
    data["rules"][0]["state"] = "paused"
    [(path, message)] = problems(data)
    assert path == "rules[0].state" and "'enabled' or 'disabled'" in message


def test_limits_entry_must_fit_in_body() -> None:
    data = config(limits={"max_entry_bytes": 2000, "max_body_bytes": 1000})
    [(path, message)] = problems(data)
    assert path == "limits.max_entry_bytes" and "must fit" in message


def test_account_is_twelve_digits() -> None:
    assert paths(config(account=0)) == ["account"]
    assert paths(config(account="12345")) == ["account"]
    assert validate_settings(config(account="123456789012"), environ={}).account == ("123456789012")


def test_issuers() -> None:
    good = {"name": "corp", "issuer": "https://idp.example", "audience": ["app"]}
    settings = validate_settings(config(identity={"issuers": [good]}), environ={})
    issuer = settings.identity.issuers[0]
    assert issuer.algorithms == ["RS256"] and issuer.client_id_claim == "sub"
    assert issuer.jwks_url is None and issuer.token_use is None
    assert paths(config(identity={"issuers": [good, good]})) == ["identity.issuers[1].name"]
    reserved = {**good, "name": "user_pool"}
    assert paths(config(identity={"issuers": [reserved]})) == ["identity.issuers[0].name"]
    assert paths(config(identity={"issuers": [{**good, "audience": []}]})) == [
        "identity.issuers[0].audience"
    ]
    assert paths(config(identity={"issuers": [{**good, "algorithms": ["HS256"]}]})) == [
        "identity.issuers[0].algorithms[0]"
    ]


def test_smtp_notifier() -> None:
    notifier = {"type": "smtp", "host": "mail.example", "sender": "noreply@example.com"}
    settings = validate_settings(config(identity={"user_pool": {"notifier": notifier}}), environ={})
    assert settings.identity.user_pool.notifier.type == "smtp"
    bad = {**notifier, "sender": "nobody"}
    assert paths(config(identity={"user_pool": {"notifier": bad}})) == [
        "identity.user_pool.notifier.sender"
    ]


def test_password_policy_and_token_ranges() -> None:
    pool = {"password_policy": {"minimum_length": 5}, "access_token_ttl_secs": 60}
    assert sorted(paths(config(identity={"user_pool": pool}))) == [
        "identity.user_pool.access_token_ttl_secs",
        "identity.user_pool.password_policy.minimum_length",
    ]


def test_strings_from_interpolation_are_converted() -> None:
    data = config(server={"port": "9000", "access_log": "false"})
    settings = validate_settings(data, environ={})
    assert settings.server.port == 9000 and settings.server.access_log is False


def test_with_data_dir_and_resolve_path(tmp_path: Path) -> None:
    settings = validate_settings(config(), environ={})
    moved = settings.with_data_dir(tmp_path)
    assert moved.data_dir == tmp_path and settings.data_dir == Path("data")
    assert resolve_path(moved, "lake/events.jsonl") == tmp_path / "lake" / "events.jsonl"
    assert resolve_path(moved, "/abs/file") == Path("/abs/file")
    assert resolve_path(settings, "x.jsonl") == Path.cwd() / "data" / "x.jsonl"
    with pytest.raises(ValueError, match="standard output"):
        resolve_path(settings, "-")


def test_rules_for_bus() -> None:
    settings = validate_settings(config(), environ={})
    assert [rule.name for rule in settings.rules_for_bus("main")] == ["all"]
    assert settings.rules_for_bus("other") == []
    assert settings.bus_names() == ["main", "other"]


def test_models_can_be_built_directly() -> None:
    rule = RuleConfig(
        name="r",
        bus="main",
        event_pattern={"source": ["x"]},
        targets=[LogTargetConfig(id="t", type="log", path="-")],
    )
    settings = Settings(buses=[{"name": "main"}], rules=[rule])  # type: ignore[list-item]
    assert settings.rules[0] == rule


def test_direct_construction_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate(config(rules=[{**BASE["rules"][0], "bus": "nowhere"}]))
    assert "rules[0].bus: bus 'nowhere' is not defined" in str(info.value)


def test_direct_construction_hides_the_target_type_in_paths() -> None:
    data = config()
    data["rules"][0]["targets"] = [{"id": "b", "type": "bus", "bus": "main"}]
    with pytest.raises(ValidationError) as info:
        Settings.model_validate(data)
    assert "rules[0].targets[0].bus: a bus target cannot send to the rule's own bus" in str(
        info.value
    )
