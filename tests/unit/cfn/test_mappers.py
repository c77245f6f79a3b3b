"""Each resource type's mapper, on small templates."""

from __future__ import annotations

from typing import Any

from clientevents.cfn import import_template, parse_template
from clientevents.config import Settings


def _import(resources: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    result = import_template(parse_template("Resources:\n" + resources), **kwargs)
    Settings.model_validate(result.config)  # always valid
    found: dict[str, list[str]] = {}
    for f in result.findings:
        found.setdefault(f.resource, []).append(f"{f.outcome}: {f.message}")
    return result.config, found


def test_rule_targets_by_kind() -> None:
    config, found = _import("""
  Main: {Type: AWS::Events::EventBus, Properties: {Name: main}}
  Audit: {Type: AWS::Events::EventBus, Properties: {Name: audit}}
  Clicks: {Type: AWS::Kinesis::Stream, Properties: {Name: clicks, RetentionPeriodHours: 48}}
  Fn: {Type: AWS::Lambda::Function, Properties: {FunctionName: f}}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      Name: fan_out
      EventBusName: !GetAtt Main.Arn
      State: DISABLED
      Description: every purchase
      EventPattern: {detail: {eventType: [purchase]}}
      Targets:
        - {Id: to_audit, Arn: !GetAtt Audit.Arn, Input: '{"audit": true}'}
        - {Id: to_clicks, Arn: !GetAtt Clicks.Arn, InputPath: $.detail}
        - {Id: to_fn, Arn: !GetAtt Fn.Arn}
        - Id: literal
          Arn: arn:aws:events:us-east-1:111122223333:event-bus/audit
          InputTransformer:
            InputPathsMap: {t: $.detail.eventType}
            InputTemplate: '{"type": <t>}'
          RetryPolicy: {MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 600}
""")
    (rule,) = config["rules"]
    assert rule["name"] == "fan_out" and rule["bus"] == "main" and rule["state"] == "disabled"
    assert rule["targets"] == [
        {"id": "to_audit", "type": "bus", "bus": "audit", "input": '{"audit": true}'},
        {"id": "to_clicks", "type": "stream", "stream": "clicks", "input_path": "$.detail"},
        {"id": "literal", "type": "bus", "bus": "audit",
         "input_transformer": {"input_paths_map": {"t": "$.detail.eventType"},
                               "input_template": '{"type": <t>}'},
         "retry_policy": {"maximum_retry_attempts": 3, "maximum_event_age_secs": 600}},
    ]
    assert config["streams"] == [{"name": "clicks", "retention_hours": 48}]
    assert any("to_fn: it sends to a Lambda function" in m for m in found["Rule"])
    assert found["Fn"] == ["not applicable: functions are not run; the blueprint's authorizer "
                           "and post-confirmation work is built into the gateway and the user "
                           "pool."]


def test_rules_that_cannot_run_are_left_out_with_why() -> None:
    config, found = _import("""
  Fn: {Type: AWS::Lambda::Function}
  Nightly:
    Type: AWS::Events::Rule
    Properties: {ScheduleExpression: rate(1 day), Targets: [{Id: t, Arn: !GetAtt Fn.Arn}]}
  OnlyLambda:
    Type: AWS::Events::Rule
    Properties: {EventPattern: {source: [x]}, Targets: [{Id: t, Arn: !GetAtt Fn.Arn}]}
  BadPattern:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [{prefix: 7}]}
      Targets: [{Id: t, Arn: "arn:aws:events:r:1:event-bus/elsewhere"}]
""")
    assert "rules" not in config
    assert any("runs on a schedule" in m for m in found["Nightly"])
    assert any("no target clientevents can deliver to" in m for m in found["OnlyLambda"])
    assert any(m.startswith("error: left out:") for m in found["rule BadPattern"])


def test_a_rule_without_a_bus_reads_the_default_bus() -> None:
    config, found = _import("""
  Out: {Type: AWS::Events::EventBus, Properties: {Name: out}}
  R:
    Type: AWS::Events::Rule
    Properties: {EventPattern: {source: [x]}, Targets: [{Id: t, Arn: !GetAtt Out.Arn}]}
""")
    assert [b["name"] for b in config["buses"]] == ["out", "default"]
    assert config["rules"][0]["bus"] == "default"
    assert any("added bus default" in m for m in found["bus default"])


def test_user_pool_and_client_settings() -> None:
    config, found = _import("""
  Pool:
    Type: AWS::Cognito::UserPool
    Properties:
      MfaConfiguration: "ON"
      Policies: {PasswordPolicy: {MinimumLength: 12, RequireNumbers: true, RequireSymbols: false}}
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
      GenerateSecret: true
      ExplicitAuthFlows: [ALLOW_USER_SRP_AUTH]
      AccessTokenValidity: 30
      IdTokenValidity: 2
      RefreshTokenValidity: 7
      TokenValidityUnits: {AccessToken: minutes, IdToken: hours}
      PreventUserExistenceErrors: LEGACY
""")
    pool = config["identity"]["user_pool"]
    assert pool["password_policy"] == {"minimum_length": 12, "require_numbers": True,
                                       "require_symbols": False}
    assert pool["access_token_ttl_secs"] == 1800 and pool["id_token_ttl_secs"] == 7200
    assert pool["refresh_token_ttl_days"] == 7
    assert pool["prevent_user_existence_errors"] is False
    assert any("MfaConfiguration" in m for m in found["Pool"])
    assert any("client secret" in m for m in found["Client"])
    assert any("USER_PASSWORD_AUTH is always allowed" in m for m in found["Client"])


def test_stages_of_every_kind() -> None:
    config, found = _import("""
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: b}}
  Api: {Type: AWS::ApiGateway::RestApi}
  Stage:
    Type: AWS::ApiGateway::Stage
    Properties:
      StageName: live
      Variables: {Bus: !Ref Bus}
      MethodSettings: [{HttpMethod: "*", ResourcePath: "/*", ThrottlingRateLimit: 50,
                        ThrottlingBurstLimit: 80}]
      AccessLogSetting: {DestinationArn: x}
  V2:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {StageName: beta, StageVariables: {Environment: staging}}
  Bad:
    Type: AWS::ApiGateway::Stage
    Properties: {StageName: "has space"}
""")
    assert config["stages"] == [
        {"name": "live", "bus": "b", "environment": "live",
         "rate_limit": {"requests_per_sec": 50.0, "burst": 80}},
        {"name": "beta", "bus": "b", "environment": "staging"},
    ]
    assert config["server"] == {"access_log": True}
    assert any("per clientId" in m for m in found["Stage"])
    assert any("the template's only bus" in m for m in found["V2"])
    assert any("not a URL path segment" in m for m in found["Bad"])


def test_archives_and_conditions() -> None:
    config, found = _import("""
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: b}}
  Keep:
    Type: AWS::Events::Archive
    Properties:
      SourceArn: !GetAtt Bus.Arn
      EventPattern: '{"detail": {"eventType": ["purchase"]}}'
      RetentionDays: 7
      Description: purchases
  Never:
    Type: AWS::Events::Archive
    Condition: IsOff
    Properties: {SourceArn: !GetAtt Bus.Arn}
Conditions:
  IsOff: !Equals [a, b]
""")
    assert config["archives"] == [{"name": "Keep", "bus": "b", "description": "purchases",
                                   "event_pattern": {"detail": {"eventType": ["purchase"]}},
                                   "retention_days": 7}]
    assert found["Never"] == ["skipped: its condition IsOff is false."]


def test_not_yet_mapped_resources_say_so() -> None:
    _, found = _import("""
  Fh: {Type: AWS::KinesisFirehose::DeliveryStream, Properties: {DeliveryStreamName: lake}}
  Conn: {Type: AWS::Events::Connection, Properties: {Name: zendesk}}
  Dest: {Type: AWS::Events::ApiDestination, Properties: {Name: tickets}}
""")
    assert found["Fh"][0].startswith("not yet: lake: delivery streams are not in the config")
    assert found["Conn"][0].startswith("not yet: zendesk: connections are not in the config")
    assert found["Dest"][0].startswith("not yet: tickets: API destinations are not in the")
