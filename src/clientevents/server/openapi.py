"""The OpenAPI 3.0 document of the gateway's own routes, served at ``GET /openapi.json``.

It documents the ingest route and its answers, the stream consumer API, the probes and the
admin API (:mod:`clientevents.server.openapi_admin`). The
identity routes (the Cognito JSON API) follow AWS's own API reference and are not repeated here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from clientevents import __version__
from clientevents.server.openapi_admin import admin_components, admin_paths

_MESSAGE = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
    }


_INGEST_BODY = {
    "type": "object",
    "required": ["entries"],
    "properties": {
        "entries": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["entry"],
                "properties": {
                    "entry": {
                        "oneOf": [
                            {"type": "string", "description": "JSON text of an object"},
                            {"type": "object"},
                        ]
                    }
                },
            },
        }
    },
}

_PUT_EVENTS_ANSWER = {
    "type": "object",
    "required": ["FailedEntryCount", "Entries"],
    "properties": {
        "FailedEntryCount": {"type": "integer", "minimum": 0},
        "Entries": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "EventId": {"type": "string"},
                    "ErrorCode": {"type": "string"},
                    "ErrorMessage": {"type": "string"},
                },
            },
        },
    },
}

_STREAM_READ = {
    "type": "object",
    "required": ["group"],
    "properties": {
        "group": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "max_records": {"type": "integer", "minimum": 1, "maximum": 1000},
        "wait_secs": {"type": "number", "minimum": 0, "maximum": 20},
        "start": {"oneOf": [{"enum": ["oldest", "latest"]}, {"type": "number", "minimum": 0}]},
    },
}

_STREAM_ACK = {
    "type": "object",
    "required": ["group", "ids"],
    "properties": {
        "group": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "ids": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "integer"}},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    api_key = {"name": "X-Api-Key", "in": "header", "required": True,
               "schema": {"type": "string"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "clientevents gateway", "version": __version__},
        "paths": {
            "/{stage}/event": {
                "post": {
                    "operationId": "ingest",
                    "summary": "Send up to 10 entries; each becomes an event on the stage's bus.",
                    "parameters": [
                        {"name": "stage", "in": "path", "required": True,
                         "schema": {"type": "string"}},
                        {"name": "Authorization", "in": "header", "required": True,
                         "schema": {"type": "string"},
                         "description": "The user's JWT, bare or after 'Bearer '."},
                    ],
                    "requestBody": _json_body(_INGEST_BODY),
                    "responses": {
                        "200": {"description": "One result per entry, in request order.",
                                "content": {"application/json": {"schema": _PUT_EVENTS_ANSWER}}},
                        "400": _error("The body is not a valid ingest request."),
                        "401": _error("No token, or the token is not valid."),
                        "403": _error("The token is valid but not allowed here."),
                        "404": _error("No such stage."),
                        "413": _error("The body is larger than the limit."),
                        "415": _error("The Content-Type is not JSON."),
                        "429": _error("Too many requests for this client; see Retry-After."),
                    },
                }
            },
            "/streams/{name}/read": {
                "post": {
                    "operationId": "streamRead",
                    "parameters": [name_param, api_key],
                    "requestBody": _json_body(_STREAM_READ),
                    "responses": {"200": {"description": "Records for the group."},
                                  "400": _error("Bad request."), "401": _error("No key."),
                                  "403": _error("Key not granted."), "404": _error("No stream.")},
                }
            },
            "/streams/{name}/ack": {
                "post": {
                    "operationId": "streamAck",
                    "parameters": [name_param, api_key],
                    "requestBody": _json_body(_STREAM_ACK),
                    "responses": {"200": {"description": "How many records were acknowledged."},
                                  "400": _error("Bad request."), "401": _error("No key."),
                                  "403": _error("Key not granted."), "404": _error("No stream.")},
                }
            },
            "/health": {"get": {"operationId": "health",
                                "responses": {"200": {"description": "The process answers."}}}},
            "/ready": {"get": {"operationId": "ready",
                               "responses": {"200": {"description": "The database answers."},
                                             "503": {"description": "It does not."}}}},
            "/metrics": {"get": {"operationId": "metrics",
                                 "responses": {"200": {"description": "Prometheus metrics."}}}},
            **admin_paths(),
        },
        "components": {
            "schemas": {"Message": _MESSAGE, **admin_components()["schemas"]},
            "securitySchemes": admin_components()["securitySchemes"],
        },
    }
