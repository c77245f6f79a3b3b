"""The admin API's part of the OpenAPI document (``/admin/api/...``).

Every operation takes a console session (cookie ``__Host-clientevents-session``, plus
``X-CSRF-Token`` on anything but GET) or a SigV4 signature by the admin key (service
``execute-api``); every error answer is ``{"code", "message"}``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["admin_components", "admin_paths"]

_ERROR = {"description": "Refused: see code and message.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AdminError"}}}}

# (method, path, operationId, summary, changes state, query parameters, body properties)
_OPERATIONS: list[tuple[str, str, str, str, bool, tuple[str, ...], dict[str, Any] | None]] = [
    ("post", "/session", "adminSignIn",
     "Sign in with a console account or a one-time link; sets the session cookie.", False, (),
     {"username": {"type": "string"}, "password": {"type": "string"},
      "link": {"type": "string"}}),
    ("get", "/session", "adminWhoAmI", "Who is calling, the role, the session's CSRF token.",
     False, (), None),
    ("delete", "/session", "adminSignOut", "End this console session.", True, (), None),
    ("get", "/overview", "adminOverview",
     "Rates from the gateway's metrics, backlog per target, dead letters, active replays.",
     False, (), None),
    ("get", "/buses", "adminBuses", "Buses with their stages, rules and archives.", False, (),
     None),
    ("get", "/rules", "adminRules",
     "Rules with pattern, targets and matched events per minute (last hour).", False, ("bus",),
     None),
    ("post", "/sandbox", "adminSandbox",
     "Test an event against a pattern or rule: match, explanation, each target's input.",
     False, (), {"event": {"type": "object"}, "pattern": {"type": "object"},
                 "rule": {"type": "string"}}),
    ("get", "/buses/{bus}/events", "adminBusEvents",
     "Events after a position with their matched rules (no 'after': the newest position).",
     False, ("after", "limit", "pattern"), None),
    ("get", "/buses/{bus}/tail", "adminBusTail",
     "Live tail as server-sent events: hello, event (with matched rules), skipped {count}.",
     False, ("pattern",), None),
    ("get", "/deliveries", "adminDeliveries",
     "Per target: delivered, retried, dead-lettered, pending, retrying, last errors.", False,
     (), None),
    ("get", "/dead-letters", "adminDeadLetters", "Dead letters, oldest first, with the total.",
     False, ("bus", "rule", "target", "limit", "after_id"), None),
    ("get", "/dead-letters/{id}", "adminDeadLetter", "One dead letter with its payload.", False,
     (), None),
    ("post", "/dead-letters/redrive", "adminRedrive",
     "Put dead letters back on their queues ('ids', or 'all' with filters).", True, (),
     {"ids": {"type": "array", "items": {"type": "integer"}}, "all": {"type": "boolean"},
      "bus": {"type": "string"}, "rule": {"type": "string"}, "target": {"type": "string"},
      "include_transform_errors": {"type": "boolean"}}),
    ("post", "/dead-letters/purge", "adminPurge",
     "Delete dead letters for good ('ids', or 'all' with filters).", True, (),
     {"ids": {"type": "array", "items": {"type": "integer"}}, "all": {"type": "boolean"},
      "bus": {"type": "string"}, "rule": {"type": "string"}, "target": {"type": "string"}}),
    ("get", "/archives", "adminArchives",
     "Archives with event count and size (and in DescribeArchive's fields, 'aws').", False,
     ("bus", "name_prefix"), None),
    ("get", "/archives/{name}", "adminArchive", "One archive with its event count and size.",
     False, (), None),
    ("get", "/replays", "adminReplays",
     "Replays, newest first, with progress (and in DescribeReplay's fields, 'aws').", False,
     ("state", "archive", "name_prefix"), None),
    ("post", "/replays", "adminStartReplay",
     "Start a replay of an archive's window [start, end) (epoch seconds or RFC 3339).", True,
     (), {"name": {"type": "string"}, "archive": {"type": "string"}, "start": {},
          "end": {}, "rules": {"type": "array", "items": {"type": "string"}},
          "description": {"type": "string"}}),
    ("get", "/replays/{name}", "adminReplay", "One replay with its progress.", False, (), None),
    ("post", "/replays/{name}/cancel", "adminCancelReplay", "Cancel a STARTING or RUNNING replay.",
     True, (), None),
    ("get", "/users", "adminUsers", "The user pool's users with their status.", False,
     ("limit", "page_token", "filter"), None),
    ("post", "/users/{username}/disable", "adminDisableUser",
     "Disable a user (its tokens stop working at once).", True, (), None),
    ("post", "/users/{username}/enable", "adminEnableUser", "Enable a disabled user.", True, (),
     None),
    ("post", "/users/{username}/sign-out", "adminSignOutUser",
     "End every session of a user (sign out everywhere).", True, (), None),
    ("get", "/audit", "adminAudit", "The audit log, newest first.", False,
     ("action", "actor", "before_id", "limit"), None),
]


def admin_paths() -> dict[str, Any]:
    """The ``paths`` entries of the admin API."""
    paths: dict[str, Any] = {}
    for method, path, operation_id, summary, changes, query, body in _OPERATIONS:
        parameters: list[dict[str, Any]] = [
            {"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for name in path.split("/") if name.startswith("{")
        ]
        parameters += [{"name": q, "in": "query", "required": False,
                        "schema": {"type": "string"}} for q in query]
        responses: dict[str, Any] = {
            "200": {"description": "Done (JSON)." if "tail" not in path else
                    "A text/event-stream."},
            "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR,
        }
        if changes:
            responses["409"] = _ERROR
        spec: dict[str, Any] = {
            "operationId": operation_id, "summary": summary, "tags": ["admin"],
            "parameters": parameters, "responses": responses,
            "security": [] if operation_id == "adminSignIn" else
            [{"consoleSession": []}, {"adminKeySigV4": []}],
        }
        if body is not None:
            spec["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"type": "object", "properties": body}}}}
        if changes:
            spec["x-requires-role"] = "admin"
        paths.setdefault("/admin/api" + path, {})[method] = spec
    return paths


def admin_components() -> dict[str, Any]:
    """The schemas and security schemes the admin paths refer to."""
    return {
        "schemas": {"AdminError": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
        "securitySchemes": {
            "consoleSession": {"type": "apiKey", "in": "cookie",
                               "name": "__Host-clientevents-session",
                               "description": "Also send X-CSRF-Token on anything but GET."},
            "adminKeySigV4": {"type": "apiKey", "in": "header", "name": "Authorization",
                              "description": "AWS Signature Version 4 by the admin key, "
                              "service execute-api, any region."},
        },
    }
