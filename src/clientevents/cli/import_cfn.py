"""``clientevents import-cloudformation TEMPLATE``: an AWS SAM / CloudFormation template as a
clientevents configuration, with what could not be carried over listed resource by resource."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.text import Text

from clientevents.cfn import ImportResult, import_template, load_template
from clientevents.cli import output

__all__ = ["import_cloudformation"]

_COLOURS = {"mapped": "green", "partly": "yellow", "not applicable": "dim", "skipped": "red",
            "error": "red"}


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name or not text:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE.", param_hint=option)
        found[name] = text
    return found


def _report(result: ImportResult) -> None:
    output.table(
        ("RESOURCE", "TYPE", "RESULT", "WHY"),
        ((f.resource, f.type or "-", Text(f.outcome, style=_COLOURS.get(f.outcome, "")),
          f.message) for f in result.findings),
        title=f"{result.template.file}: {len(result.warnings)} of {len(result.findings)} "
              "findings are not a clean mapping",
        stderr=True,
    )


@click.command("import-cloudformation")
@click.argument("template", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the configuration here [default: standard output].")
@click.option("--parameter", "parameters", multiple=True, metavar="NAME=VALUE",
              help="A template parameter's value (repeat for several); parameters left out "
                   "take their Default, or are read from the environment.")
@click.option("--function", "functions", multiple=True, metavar="LAMBDA=MODULE:FUNCTION",
              help="Run this Python function in place of a Firehose transformation Lambda "
                   "(its logical id, name or ARN); repeat for several.")
@click.option("--buckets", type=click.Choice(["local", "s3"]), default="local",
              show_default=True,
              help="local: a bucket becomes a folder of its name under the data dir; s3: the "
                   "delivery stream writes to the bucket itself.")
@click.option("--full-event", is_flag=True,
              help="Write <aws.events.event> in input templates as <aws.events.event.json>: "
                   "the whole event, which the blueprint's lake expects (EventBridge renders "
                   "<aws.events.event> without detail).")
@click.option("--region", default="local", show_default=True,
              help="AWS::Region, and the configuration's region.")
@click.option("--account", default="000000000000", show_default=True,
              help="AWS::AccountId, and the configuration's account.")
@click.option("--stack-name", default="clientevents", show_default=True,
              help="AWS::StackName.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@output.json_option()
def import_cloudformation(template: Path, out_file: Path | None, parameters: tuple[str, ...],
                          functions: tuple[str, ...], buckets: str, full_event: bool,
                          region: str, account: str, stack_name: str, force: bool,
                          as_json: bool) -> None:
    """Write the clientevents configuration equivalent to an AWS SAM / CloudFormation TEMPLATE.

    Event buses, rules (patterns, targets, InputPath, InputTransformer, retry policies,
    dead-letter configs), archives, Firehose delivery streams, connections (Secrets Manager
    references become secret store references), API destinations, the Cognito user pool and
    app client, and API Gateway stages are carried over; everything else is listed, resource
    by resource, with why (on standard error, and at the top of the file). Exits 0 when the
    configuration was written, warnings or not.

    \b
    Example:
      clientevents import-cloudformation template.yaml --out clientevents.yaml \\
        --parameter ZendeskEndpoint=/inbox/api/v2/tickets.json --full-event \\
      --function TransformationFunction=clientevents.delivery_stream.examples:blueprint_transform
      clientevents validate clientevents.yaml
      clientevents serve --config clientevents.yaml
    """
    if out_file is not None and out_file.exists() and not force:
        raise click.ClickException(f"{out_file} exists; pass --force to overwrite it.")
    result = import_template(load_template(template),
                             parameters=_pairs(parameters, "--parameter"),
                             functions=_pairs(functions, "--function"),
                             buckets="s3" if buckets == "s3" else "local",
                             full_event=full_event,
                             region=region, account=account, stack_name=stack_name)
    text = result.yaml()
    if out_file is not None:
        tmp = out_file.with_name(f".{out_file.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out_file)
    if as_json:
        output.echo_json({"file": str(out_file) if out_file else None, "config": result.config,
                          "findings": [f.to_dict() for f in result.findings]})
        return
    if out_file is None:
        click.echo(text, nl=False)
    _report(result)
    if out_file is not None:
        output.note(f"Wrote {out_file}: check it with `clientevents validate {out_file}`.")
