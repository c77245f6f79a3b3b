"""One mapper per resource type: ``mapper(ctx, resource)`` adds to the configuration and
records what it carried over and what not (``ctx.note``).

:data:`MAPPERS` lists them in the order they run: buses and the user pool first, so stages,
archives and rules find the buses they name, and delivery streams, connections and API
destinations before the rules that send to them. Types not listed are reported as not applicable,
with why (``not_applicable.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from clientevents.cfn.context import ImportContext
from clientevents.cfn.mappers.apigateway import (
    map_deployment,
    map_rest_api,
    map_stage,
    map_stage_v2,
)
from clientevents.cfn.mappers.cognito_user_pool import map_user_pool
from clientevents.cfn.mappers.cognito_user_pool_client import map_user_pool_client
from clientevents.cfn.mappers.event_bus import map_event_bus
from clientevents.cfn.mappers.events_api_destination import map_api_destination
from clientevents.cfn.mappers.events_archive import map_archive
from clientevents.cfn.mappers.events_connection import map_connection
from clientevents.cfn.mappers.events_rule import map_rule
from clientevents.cfn.mappers.firehose import map_delivery_stream
from clientevents.cfn.mappers.kinesis_stream import map_kinesis_stream
from clientevents.cfn.mappers.not_applicable import map_not_applicable, why_not
from clientevents.cfn.template import Resource

__all__ = ["MAPPERS", "Mapper", "map_not_applicable", "why_not"]

Mapper = Callable[[ImportContext, Resource], None]

MAPPERS: dict[str, Mapper] = {
    "AWS::Events::EventBus": map_event_bus,
    "AWS::Kinesis::Stream": map_kinesis_stream,
    "AWS::Cognito::UserPool": map_user_pool,
    "AWS::Cognito::UserPoolClient": map_user_pool_client,
    "AWS::ApiGateway::RestApi": map_rest_api,
    "AWS::ApiGateway::Deployment": map_deployment,
    "AWS::ApiGateway::Stage": map_stage,
    "AWS::ApiGatewayV2::Stage": map_stage_v2,
    "AWS::Events::Archive": map_archive,
    "AWS::KinesisFirehose::DeliveryStream": map_delivery_stream,
    "AWS::Events::Connection": map_connection,
    "AWS::Events::ApiDestination": map_api_destination,
    "AWS::Events::Rule": map_rule,
}
"""Resource type → its mapper, in the order the mappers run."""
