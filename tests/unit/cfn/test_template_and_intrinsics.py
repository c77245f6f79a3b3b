"""Reading templates (short-form tags, JSON) and evaluating intrinsic functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clientevents.cfn import TemplateError, parse_template
from clientevents.cfn.intrinsics import NO_VALUE, Resolver, ResourceValue, Unresolved
from clientevents.cfn.template import load_template

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Env: {Type: String, Default: dev}
  Secret: {Type: String}
  Zones: {Type: CommaDelimitedList, Default: "a, b"}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Sizes: {dev: {Retention: 7}, prod: {Retention: 30}}
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub "${Env}-bus"
  Other:
    Type: AWS::Events::EventBus
    Properties: {Name: !Join ["-", [!Ref Bus, other]]}
  Thing:
    Type: Custom::Thing
    Properties:
      Arn: !GetAtt Bus.Arn
      Name: !GetAtt [Bus, Name]
      Literal: !Sub "${!NotAVariable} in ${AWS::Region} of ${AWS::AccountId}"
      Vars: !Sub ["${A}-${B}", {A: one, B: !Ref Env}]
      First: !Select [1, !Split [",", "x,y,z"]]
      Chosen: !If [IsProd, big, small]
      Other: !If [NotProd, !Ref AWS::NoValue, kept]
      Size: !FindInMap [Sizes, !Ref Env, Retention]
      Missing: !Ref Secret
      Imported: !ImportValue other-stack-output
      Zones: !Ref Zones
      Encoded: !Base64 hi
"""


def _resolve(**parameters: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    template = parse_template(TEMPLATE)
    problems: list[tuple[str, str]] = []
    resolver = Resolver(template, dict(parameters), region="eu-west-1", account="123456789012",
                        on_problem=lambda where, message: problems.append((where, message)))
    value = resolver.resolve(template.resources["Thing"].properties, "Thing")
    return value, problems


def test_dates_stay_text_and_short_tags_become_long_forms() -> None:
    template = parse_template(TEMPLATE)
    assert template.resources["Bus"].properties == {"Name": {"Fn::Sub": "${Env}-bus"}}
    assert template.resources["Thing"].properties["Arn"] == {"Fn::GetAtt": ["Bus", "Arn"]}
    assert template.parameters["Env"]["Default"] == "dev"


def test_functions_are_evaluated_as_a_deployment_would() -> None:
    value, problems = _resolve()
    assert value["Arn"] == "arn:aws:events:eu-west-1:123456789012:event-bus/dev-bus"
    assert isinstance(value["Arn"], ResourceValue) and value["Arn"].logical_id == "Bus"
    assert value["Name"] == "dev-bus"
    assert value["Literal"] == "${NotAVariable} in eu-west-1 of 123456789012"
    assert value["Vars"] == "one-dev"
    assert value["First"] == "y"
    assert value["Chosen"] == "small"
    assert "Other" not in value  # AWS::NoValue removes the property
    assert value["Size"] == 7
    assert value["Zones"] == ["a", "b"]
    assert value["Encoded"] == "aGk="
    # A parameter without a default is read from the environment.
    assert value["Missing"] == "${env:Secret}"
    assert isinstance(value["Imported"], Unresolved)
    assert {where for where, _ in problems} >= {"Parameters.Secret", "Thing.Imported"}


def test_parameters_given_win_over_defaults() -> None:
    value, _ = _resolve(Env="prod", Secret="s3cret")
    assert value["Arn"].endswith(":event-bus/prod-bus")
    assert value["Chosen"] == "big" and value["Other"] == "kept"
    assert value["Size"] == 30 and value["Missing"] == "s3cret"


def test_names_follow_references_between_resources() -> None:
    template = parse_template(TEMPLATE)
    resolver = Resolver(template)
    assert resolver.resource_name(template.resources["Other"]) == "dev-bus-other"
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_json_templates_are_read_too(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"Resources": {"B": {"Type": "AWS::Events::EventBus", '
                    '"Properties": {"Name": {"Fn::Sub": "x-${AWS::Region}"}}}}}')
    template = load_template(path)
    assert Resolver(template, region="r1").resource_name(template.resources["B"]) == "x-r1"


@pytest.mark.parametrize(("text", "message"), [
    ("Resources: [\n", "invalid YAML"),
    ("just: text\n", "has no Resources mapping"),
    ("Resources:\n  A: {Properties: {}}\n", "resource 'A' has no Type"),
    ("Resources:\n  A: {Type: X, Properties: !Bogus x}\n", "unknown CloudFormation tag !Bogus"),
])
def test_what_is_not_a_template_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(text, file="t.yaml")
