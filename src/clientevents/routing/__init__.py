"""Routing: match each event of a bus against its rules and enqueue a delivery per target."""

from __future__ import annotations

from clientevents.routing.router import ROUTER_GROUP, RoutedBatch, Router
from clientevents.routing.rules import BusRoutes, TargetRoute, build_routes, rule_arn

__all__ = [
    "ROUTER_GROUP",
    "BusRoutes",
    "RoutedBatch",
    "Router",
    "TargetRoute",
    "build_routes",
    "rule_arn",
]
