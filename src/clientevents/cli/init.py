"""``clientevents init [FILE]``: write the embedded default as a commented configuration file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from clientevents import __version__
from clientevents.cli import output
from clientevents.config.annotated import commented_yaml
from clientevents.config.defaults import BLUEPRINT

__all__ = ["init", "init_text"]

HEADER = f"""\
clientevents configuration: the embedded default (the blueprint's pipeline), written by
`clientevents init` (clientevents {__version__}).
Edit it, check it with `clientevents validate FILE`, run it with `clientevents serve --config FILE`.
Above each key: what it means. Lines `# key: value` show a key left at its default.
Every key, its type, default and an example: docs/configuration-reference.md."""


def init_text() -> str:
    """The file ``init`` writes."""
    return commented_yaml(BLUEPRINT, header=HEADER)


@click.command("init")
@click.argument("file", default="clientevents.yaml", required=False,
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@output.json_option()
def init(file: str, force: bool, as_json: bool) -> None:
    """Write the embedded default configuration, with comments, to FILE ('-': standard output).

    The file is the blueprint's pipeline, exactly what `clientevents serve` runs without
    --config; edit it from there.

    \b
    Example:
      clientevents init clientevents.yaml
      clientevents validate clientevents.yaml
      clientevents serve --config clientevents.yaml
    """
    text = init_text()
    if file == "-":
        click.echo(text, nl=False)
        return
    path = Path(file)
    if path.exists() and not force:
        raise click.ClickException(
            f"{path} exists; pass --force to overwrite it, or name another file."
        )
    if path.parent and not path.parent.is_dir():
        raise click.ClickException(f"The folder {path.parent} does not exist; create it first.")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    if as_json:
        output.echo_json({"file": str(path), "bytes": len(text.encode())})
    else:
        output.success(f"Wrote {path}. Check it with `clientevents validate {path}`, run it "
                       f"with `clientevents serve --config {path}`.")
