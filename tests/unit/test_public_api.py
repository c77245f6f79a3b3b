"""The names the issues promise to users and to other parts of the project."""

from __future__ import annotations

import importlib

import pytest

PROMISED = {
    "clientevents.patterns": ["EventPattern", "InvalidEventPattern", "Matcher"],
    "clientevents.patterns.reference": ["reference_matches"],
    "clientevents.transform": ["InputTransformer", "TransformError", "apply_input_path"],
    "clientevents.config": ["Settings", "default_settings", "load_config"],
    "clientevents.events.publisher": ["Publisher"],
    "clientevents.log": ["EventLog"],
    "clientevents.routing": ["Router"],
    "clientevents.runtime": ["Runtime"],
    "clientevents.targets.dlq": ["DeadLetterQueue"],
    "clientevents.streams": ["StreamStore"],
    "clientevents.archive": ["Archiver", "Archives", "Replays"],
    "clientevents.identity": ["build_identity"],
    "clientevents.server.app": ["create_app"],
    "clientevents.generator": ["Generator", "GeneratorOptions"],
    "clientevents.client": ["CognitoClient", "IngestClient"],
    "clientevents.cfn": ["import_template", "load_template"],
}


@pytest.mark.parametrize("module", sorted(PROMISED))
def test_promised_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in PROMISED[module] if not hasattr(mod, name)]
    assert missing == []


def test_errors_are_value_errors() -> None:
    from clientevents.patterns import InvalidEventPattern
    from clientevents.transform import TransformError

    assert issubclass(InvalidEventPattern, ValueError)
    assert issubclass(TransformError, ValueError)


def test_the_cli_has_every_promised_command() -> None:
    from clientevents.cli import main

    assert {"serve", "worker", "validate", "test-pattern", "dlq", "replay"} <= set(main.commands)
    assert {"list", "show", "redrive", "purge"} <= set(main.commands["dlq"].commands)  # type: ignore[attr-defined]
    assert {"start", "status", "cancel", "list"} <= set(main.commands["replay"].commands)  # type: ignore[attr-defined]
    assert {"set", "get", "list", "delete"} <= set(main.commands["secrets"].commands)  # type: ignore[attr-defined]
    assert {"list", "describe"} <= set(main.commands["connections"].commands)  # type: ignore[attr-defined]
    assert {"generate", "tail", "init", "import-cloudformation"} <= set(main.commands)
    assert {"sign-up", "confirm", "login", "code", "list", "show", "disable", "enable",
            "delete"} <= set(main.commands["users"].commands)  # type: ignore[attr-defined]


def test_the_generator_keeps_the_blueprints_flags() -> None:
    from clientevents.cli import main

    options = {opt for p in main.commands["generate"].params for opt in getattr(p, "opts", [])}
    assert {"--minutes", "--batch", "--errors", "--loyalty", "--userid", "--password",
            "--appclientid", "--interval-secs", "--users", "--create-users", "--rate",
            "--duration", "--url", "--json"} <= options
    login = main.commands["users"].commands["login"]  # type: ignore[attr-defined]
    assert "--access-token-only" in {opt for p in login.params for opt in p.opts}
