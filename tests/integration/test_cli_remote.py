"""The commands that talk to a running server (``users``, ``generate``) against the gateway on
loopback, with the admin key the server wrote to its data folder."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from store_helpers import SharedBackend
from test_gateway import LiveServer

from clientevents.cli import main
from clientevents.client import CognitoClient
from clientevents.config import default_settings
from clientevents.generator import Generator, GeneratorOptions
from clientevents.generator.session import Session
from clientevents.generator.stats import Stats
from clientevents.server.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_shared_backend")]

PASSWORD = "Passw0rd!-cli"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           shared_backend: SharedBackend) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("cli") / "data"
    settings = default_settings().with_data_dir(data)
    with LiveServer(create_app(settings, data_dir=data, run_workers=True)) as live:
        yield live.url, data


def cli(server: tuple[str, Path], *args: str, data_dir: bool = False,
        input: str | None = None) -> Result:
    url, data = server
    extra = ["--data-dir", str(data)] if data_dir else []
    # The endpoint comes from the environment, as CLIENTEVENTS_ENDPOINT_URL promises.
    return CliRunner().invoke(main, [*args, *extra], input=input,
                              env={"CLIENTEVENTS_ENDPOINT_URL": url})


def test_sign_up_confirm_login_as_a_newcomer(server: tuple[str, Path]) -> None:
    signed = cli(server, "users", "sign-up", "carol", "--email", "carol@example.com",
                 "--password", PASSWORD)
    assert signed.exit_code == 0, signed.output
    assert "User carol signed up (waiting for confirmation)." in signed.stdout
    code = cli(server, "users", "code", "carol", data_dir=True)
    assert code.exit_code == 0 and code.stdout.strip().isdigit()
    record = json.loads(cli(server, "users", "code", "carol", "--json", data_dir=True).stdout)
    assert record["code"] == code.stdout.strip() and record["purpose"] == "sign_up"
    confirmed = cli(server, "users", "confirm", "carol", code.stdout.strip())
    assert confirmed.exit_code == 0 and "User carol is confirmed." in confirmed.stdout
    token = cli(server, "users", "login", "carol", "--password", PASSWORD, "--access-token-only")
    assert token.exit_code == 0 and token.stdout.count(".") == 2
    tokens = json.loads(cli(server, "users", "login", "carol", "--password", PASSWORD,
                            "--json").stdout)
    assert set(tokens) >= {"AccessToken", "IdToken", "RefreshToken", "ExpiresIn"}
    human = cli(server, "users", "login", "carol", "--password", PASSWORD)
    assert "AccessToken" in human.stdout and "RefreshToken" in human.stdout
    wrong = cli(server, "users", "login", "carol", "--password", "nope")
    assert wrong.exit_code == 1
    assert "NotAuthorizedException: Incorrect username or password." in wrong.output
    assert "Traceback" not in wrong.output


def test_admin_commands_list_show_disable_enable_delete(server: tuple[str, Path]) -> None:
    for name in ("dave", "erin"):
        signed = cli(server, "users", "sign-up", name, "--password", PASSWORD, "--json")
        assert json.loads(signed.stdout)["UserConfirmed"] is False
    listed = json.loads(cli(server, "users", "list", "--json", data_dir=True).stdout)
    names = [u["Username"] for u in listed["Users"]]
    assert {"dave", "erin"} <= set(names) and names == sorted(names)
    table = cli(server, "users", "list", "--filter", 'username = "dave"', data_dir=True)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["USERNAME", "STATUS", "ENABLED"]
    assert lines[2].split()[:3] == ["dave", "UNCONFIRMED", "yes"]
    assert lines[-1] == "1 user."
    shown = json.loads(cli(server, "users", "show", "erin", "--json", data_dir=True).stdout)
    assert shown["Username"] == "erin" and shown["Enabled"] is True

    disabled = cli(server, "users", "disable", "erin", data_dir=True)
    assert disabled.exit_code == 0 and "User erin is disabled" in disabled.stdout
    assert json.loads(cli(server, "users", "show", "erin", "--json",
                          data_dir=True).stdout)["Enabled"] is False
    enabled = cli(server, "users", "enable", "erin", "--json", data_dir=True)
    assert json.loads(enabled.stdout) == {"Username": "erin", "Operation": "AdminEnableUser",
                                          "Done": True}
    shown_lines = cli(server, "users", "show", "erin", data_dir=True).stdout.splitlines()
    assert ["Enabled", "yes"] in [line.split() for line in shown_lines]

    refused = cli(server, "users", "delete", "erin", data_dir=True, input="n\n")
    assert refused.exit_code == 1  # not confirmed: nothing deleted
    assert cli(server, "users", "show", "erin", data_dir=True).exit_code == 0
    deleted = cli(server, "users", "delete", "erin", "--yes", data_dir=True)
    assert deleted.exit_code == 0 and "User erin is deleted." in deleted.stdout
    gone = cli(server, "users", "show", "erin", data_dir=True)
    assert gone.exit_code == 1 and "UserNotFoundException" in gone.output


def test_admin_commands_explain_a_missing_admin_key(server: tuple[str, Path],
                                                    tmp_path: Path) -> None:
    result = cli(server, "users", "list", "--data-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "No admin key" in result.output and "--data-dir" in result.output
    assert "Traceback" not in result.output


def test_a_wrong_admin_key_is_refused_by_the_server(server: tuple[str, Path],
                                                    tmp_path: Path) -> None:
    (tmp_path / "admin-credentials.json").write_text(json.dumps(
        {"access_key_id": "AKCEWRONGWRONGWRONG1", "secret_access_key": "x" * 40}))
    result = cli(server, "users", "list", "--data-dir", str(tmp_path))
    assert result.exit_code == 1 and "UnrecognizedClientException" in result.output


def test_an_unreachable_server_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["users", "sign-up", "x", "--password", PASSWORD,
                                       "--endpoint-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "Cannot reach http://127.0.0.1:9/" in result.output
    assert "CLIENTEVENTS_ENDPOINT_URL" in result.output


# -- the generator in-process, against the same server ------------------------------------------


def _options(server: tuple[str, Path], names: list[str], **changes: Any) -> GeneratorOptions:
    url, data = server
    from clientevents.cli.remote import admin_key

    options = GeneratorOptions(
        url=f"{url}/prod/event", endpoint_url=url, usernames=names, password=PASSWORD,
        create_users=True, admin_credentials=admin_key(default_settings(), data),
        batch=5, rate=100, duration_secs=1.0, loyalty=True, seed=3,
    )
    return replace(options, **changes)


def test_generate_creates_users_and_counts_every_entry(server: tuple[str, Path]) -> None:
    result = cli(server, "generate", "--users", "3", "--userid", "gen-a", "--password",
                 PASSWORD, "--create-users", "--rate", "60", "--batch", "3", "--duration",
                 "1s", "--errors", "--loyalty", "--seed", "5", "--json", data_dir=True)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["users"] == 3 and summary["requests"] == 20
    assert summary["sent"] == 60
    assert summary["accepted"] + summary["rejected_total"] == 60
    assert set(summary["rejected"]) <= {"MalformedDetail"}
    assert summary["rejected_total"] == summary["sent_by_type"].get("shopping (malformed)", 0)
    assert summary["latency_ms"]["p50"] is not None
    # The users exist and are confirmed; a second run reuses them.
    listed = json.loads(cli(server, "users", "list", "--filter", 'username ^= "gen-a"',
                            "--json", data_dir=True).stdout)
    assert [u["UserStatus"] for u in listed["Users"]] == ["CONFIRMED"] * 3
    again = cli(server, "generate", "--users", "3", "--userid", "gen-a", "--password", PASSWORD,
                "--create-users", "--duration", "0.1s", "--json", data_dir=True)
    assert again.exit_code == 0, again.output


def test_generate_without_users_explains_how_to_create_them(server: tuple[str, Path]) -> None:
    result = cli(server, "generate", "--userid", "nobody-here", "--password", PASSWORD,
                 "--duration", "1s")
    assert result.exit_code == 1
    assert "No user could sign in" in result.output and "--create-users" in result.output


def test_a_401_makes_the_client_sign_in_again_once(server: tuple[str, Path]) -> None:
    url, _ = server
    generator = Generator(_options(server, ["relogin-1"], duration_secs=2.0, rate=50))

    async def run() -> dict[str, Any]:
        task = asyncio.create_task(generator.run())
        while generator.stats.accepted == 0:
            await asyncio.sleep(0.02)
        # Sign the user out everywhere: its access token is refused from now on (401).
        token = generator.sessions[0].tokens
        assert token is not None
        async with CognitoClient(url) as idp:
            await idp.call("GlobalSignOut", {"AccessToken": token.access_token})
        return await task

    summary = asyncio.run(run())
    assert summary["relogins"] == 1
    assert summary["rejected"] == {}  # the refused request was sent again after signing in
    assert summary["accepted"] == summary["sent"]


def test_tokens_are_refreshed_before_they_expire(server: tuple[str, Path]) -> None:
    url, _ = server
    options = _options(server, ["refresh-1"])

    async def run() -> tuple[Stats, str, str]:
        stats = Stats()
        async with CognitoClient(url, credentials=options.admin_credentials) as idp:
            await Generator(options)._create_users(idp)
            session = Session(idp, "refresh-1", PASSWORD, stats)
            await session.sign_in()
            assert session.tokens is not None
            first = await session.access_token()
            assert first == session.tokens.access_token and stats.token_refreshes == 0
            # Given the token is 10 s from expiring...
            session.tokens = replace(session.tokens,
                                     obtained_at=time.monotonic() - session.tokens.expires_in + 10)
            refreshed = await session.access_token()
            return stats, first, refreshed

    stats, first, refreshed = asyncio.run(run())
    assert stats.token_refreshes == 1 and stats.relogins == 0
    assert refreshed != first
