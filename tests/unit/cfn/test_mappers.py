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
                           "pool, and a Firehose transformation runs as a Python function "
                           "(--function)."]


def test_full_event_writes_the_whole_event_where_the_template_says_event() -> None:
    rule = """
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: b}}
  Out: {Type: AWS::Events::EventBus, Properties: {Name: out}}
  R:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern: {source: [x]}
      Targets:
        - Id: t
          Arn: !GetAtt Out.Arn
          InputTransformer: {InputPathsMap: {}, InputTemplate: "<aws.events.event>\\n"}
"""
    kept, found = _import(rule)
    whole, _ = _import(rule, full_event=True)
    template = kept["rules"][0]["targets"][0]["input_transformer"]["input_template"]
    assert template == "<aws.events.event>\n"
    assert any("renders the event without detail" in m for m in found["R"])
    assert whole["rules"][0]["targets"][0]["input_transformer"]["input_template"] == \
        "<aws.events.event.json>\n"


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


FIREHOSE = """
  Glue:
    Type: AWS::Glue::Table
    Properties:
      DatabaseName: lakehouse
      TableInput:
        Name: events
        StorageDescriptor:
          Columns: [{Name: id, Type: string}, {Name: detail-type, Type: string},
                    {Name: count, Type: BIGINT}]
  Fn: {Type: AWS::Lambda::Function, Properties: {FunctionName: enrich, Timeout: 30}}
  Fh:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties:
      DeliveryStreamName: events
      ExtendedS3DestinationConfiguration:
        BucketARN: arn:aws:s3:::example-lake
        Prefix: "year=!{timestamp:yyyy}/"
        ErrorOutputPrefix: "failed/!{firehose:error-output-type}/"
        BufferingHints: {SizeInMBs: 64, IntervalInSeconds: 900}
        CompressionFormat: ZIP
        FileExtension: .json
        CustomTimeZone: Europe/Paris
        S3BackupMode: Enabled
        ProcessingConfiguration:
          Enabled: true
          Processors:
            - Type: AppendDelimiterToRecord
            - Type: Lambda
              Parameters:
                - {ParameterName: LambdaArn, ParameterValue: !GetAtt Fn.Arn}
                - {ParameterName: NumberOfRetries, ParameterValue: "5"}
            - Type: RecordDeAggregation
              Parameters:
                - {ParameterName: SubRecordType, ParameterValue: DELIMITED}
                - {ParameterName: Delimiter, ParameterValue: IyMjIw==}
        DataFormatConversionConfiguration:
          Enabled: true
          SchemaConfiguration: {DatabaseName: lakehouse, TableName: events}
          OutputFormatConfiguration: {Serializer: {ParquetSerDe: {Compression: GZIP}}}
"""


def test_a_delivery_stream_with_every_option() -> None:
    config, found = _import(FIREHOSE, functions={"enrich": "json:loads"}, buckets="s3",
                            region="eu-west-1")
    (stream,) = config["delivery_streams"]
    assert stream == {
        "name": "events",
        "destination": {"type": "s3", "s3": {"bucket": "example-lake", "region": "eu-west-1"}},
        "prefix": "year=!{timestamp:yyyy}/",
        "error_output_prefix": "failed/!{firehose:error-output-type}/",
        "buffering": {"size_mib": 64.0, "interval_secs": 900.0},
        "file_extension": ".json",
        "processors": [
            {"type": "record_deaggregation", "sub_record_type": "delimited",
             "delimiter": "####"},
            {"type": "function", "function": "json:loads", "number_of_retries": 5,
             "timeout_secs": 30.0},
            {"type": "append_delimiter"},
        ],
        "format": {"type": "parquet", "compression": "gzip",
                   "columns": [{"name": "id", "type": "string"},
                               {"name": "detail-type", "type": "string"},
                               {"name": "count", "type": "bigint"}]},
    }
    messages = " | ".join(found["Fh"])
    for said in ("CompressionFormat ZIP is not supported", "CustomTimeZone Europe/Paris",
                 "not carried over: S3BackupMode", "in Firehose's order",
                 "runs as the Python function json:loads", "Parquet with the 3 columns"):
        assert said in messages


def test_a_delivery_stream_to_a_folder_and_what_cannot_map() -> None:
    config, found = _import("""
  Bucket: {Type: AWS::S3::Bucket, Properties: {BucketName: my-lake}}
  Plain:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties:
      S3DestinationConfiguration:
        BucketARN: !GetAtt Bucket.Arn
        Prefix: "!{timestamp:yyyy}/"
        CompressionFormat: GZIP
      DeliveryStreamType: KinesisStreamAsSource
  NeedsKeys:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties:
      ExtendedS3DestinationConfiguration:
        BucketARN: arn:aws:s3:::my-lake
        Prefix: "!{partitionKeyFromQuery:k}/"
        ErrorOutputPrefix: "e/!{firehose:error-output-type}/"
  Orc:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties:
      ExtendedS3DestinationConfiguration:
        BucketARN: arn:aws:s3:::other
        DataFormatConversionConfiguration:
          OutputFormatConfiguration: {Serializer: {OrcSerDe: {}}}
  Nowhere:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties: {HttpEndpointDestinationConfiguration: {EndpointConfiguration: {Url: x}}}
""")
    plain, orc = config["delivery_streams"]
    assert plain["destination"] == {"type": "local", "local": {"path": "my-lake"}}
    assert plain["error_output_prefix"] == "_errors/!{firehose:error-output-type}/"
    assert plain["compression"] == "gzip"
    # The prefix needs a metadata_extraction processor that the template does not have.
    assert any(m.startswith("error: left out:") and "metadata_extraction" in m
               for m in found["delivery_stream NeedsKeys"])
    assert any("KinesisStreamAsSource is not read" in m for m in found["Plain"])
    assert "format" not in orc
    assert any("clientevents writes Parquet only" in m for m in found["Orc"])
    assert any("writes to HttpEndpoint destination" in m for m in found["Nowhere"])


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm/login-AbC123"


def test_connections_of_every_kind_and_their_secrets() -> None:
    config, found = _import("""
  Basic:
    Type: AWS::Events::Connection
    Properties:
      Name: basic
      AuthorizationType: BASIC
      AuthParameters:
        BasicAuthParameters:
          Username: '{{resolve:secretsmanager:<ARN>:SecretString:user}}'
          Password: '{{resolve:secretsmanager:<ARN>:SecretString:pass:AWSCURRENT}}'
  Key:
    Type: AWS::Events::Connection
    Properties:
      Name: key
      AuthorizationType: API_KEY
      AuthParameters:
        ApiKeyAuthParameters:
          ApiKeyName: x-api-key
          ApiKeyValue: '{{resolve:secretsmanager:hooks/key}}'
        InvocationHttpParameters:
          HeaderParameters:
            - {Key: x-tenant, Value: acme}
            - {Key: x-signing, Value: '{{resolve:secretsmanager:hooks/sign:SecretString:k}}',
               IsValueSecret: true}
          QueryStringParameters:
            - {Key: token, Value: '{{resolve:ssm-secure:/hooks/token}}'}
  Oauth:
    Type: AWS::Events::Connection
    Properties:
      Name: oauth
      AuthorizationType: OAUTH_CLIENT_CREDENTIALS
      AuthParameters:
        OAuthParameters:
          AuthorizationEndpoint: https://auth.example.com/oauth/token
          HttpMethod: POST
          ClientParameters:
            ClientID: my-client
            ClientSecret: '{{resolve:secretsmanager:crm/oauth:SecretString:secret}}'
          OAuthHttpParameters:
            BodyParameters: [{Key: scope, Value: tickets}]
  Clear:
    Type: AWS::Events::Connection
    Properties:
      Name: clear
      AuthorizationType: BASIC
      AuthParameters: {BasicAuthParameters: {Username: u, Password: hunter22}}
""".replace("<ARN>", SECRET_ARN))
    basic, key, oauth, clear = config["connections"]
    assert basic["basic"] == {"secret": "crm/login", "username_key": "user",
                              "password_key": "pass"}
    assert any("asks for version AWSCURRENT" in m for m in found["Basic"])
    assert key["api_key"] == {"name": "x-api-key", "secret": "hooks/key"}
    assert key["invocation_http_parameters"] == {
        "header_parameters": [{"key": "x-tenant", "value": "acme"},
                              {"key": "x-signing", "secret": "hooks/sign", "secret_key": "k"}],
        "query_string_parameters": [{"key": "token", "value": "${env:KEY_PARAM_TOKEN}",
                                     "is_value_secret": True}],
    }
    assert oauth["oauth"] == {
        "authorization_endpoint": "https://auth.example.com/oauth/token", "http_method": "POST",
        "client_id": "my-client", "client_secret": "${env:OAUTH_CLIENT_SECRET}",
        "oauth_http_parameters": {"body_parameters": [{"key": "scope", "value": "tickets"}]}}
    assert any("set OAUTH_CLIENT_SECRET" in m and "secretsmanager crm/oauth, key secret" in m
               for m in found["Oauth"])
    assert clear["basic"] == {"username": "u", "password": "hunter22"}
    assert any("password is written in the template in clear" in m for m in found["Clear"])


def test_api_destinations_and_the_rule_targets_calling_them() -> None:
    config, found = _import("""
  Conn:
    Type: AWS::Events::Connection
    Properties:
      Name: crm
      AuthorizationType: API_KEY
      AuthParameters: {ApiKeyAuthParameters: {ApiKeyName: k, ApiKeyValue: v}}
  Dest:
    Type: AWS::Events::ApiDestination
    Properties:
      Name: orders
      ConnectionArn: !GetAtt Conn.Arn
      InvocationEndpoint: https://crm.example.com/orders/*
      HttpMethod: put
      InvocationRateLimitPerSecond: 5
  Local:
    Type: AWS::Events::ApiDestination
    Properties:
      Name: inbox
      ConnectionArn: arn:aws:events:us-east-1:1:connection/crm/0f6c3c0e
      InvocationEndpoint: /inbox/api/v2/tickets.json
  Orphan:
    Type: AWS::Events::ApiDestination
    Properties: {Name: orphan, ConnectionArn: arn:aws:events:r:1:connection/gone/x,
                 InvocationEndpoint: https://x.example.com/}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [shop]}
      Targets:
        - Id: call
          Arn: !GetAtt Dest.Arn
          HttpParameters:
            PathParameterValues: [$.detail.orderId]
            HeaderParameters: {x-shop: $.source}
            QueryStringParameters: {v: "2"}
        - {Id: lost, Arn: !GetAtt Orphan.Arn}
""")
    orders, inbox = config["api_destinations"]
    assert orders == {"name": "orders", "connection": "crm",
                      "invocation_endpoint": "https://crm.example.com/orders/*",
                      "http_method": "PUT", "invocation_rate_limit_per_sec": 5}
    assert inbox["allow_private_networks"] == ["127.0.0.0/8", "::1/128"]
    assert any("is not a connection of this template" in m for m in found["Orphan"])
    call, lost = config["rules"][0]["targets"]
    assert call == {"id": "call", "type": "api_destination", "api_destination": "orders",
                    "http_parameters": {"path_parameter_values": ["$.detail.orderId"],
                                        "header_parameters": {"x-shop": "$.source"},
                                        "query_string_parameters": {"v": "2"}}}
    assert lost == {"id": "lost", "type": "log", "path": "orphan/requests.jsonl"}
    assert any("API destination orphan was not carried over" in m for m in found["Rule"])
