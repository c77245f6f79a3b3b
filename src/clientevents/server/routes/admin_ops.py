"""Admin API routes that recover and administer: deliveries, dead letters, archives and
replays, the user pool's users, and the audit log (the framework is in :mod:`.admin`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Route

from clientevents.admin import AdminService
from clientevents.admin.errors import BadRequest
from clientevents.server.adminauth import AdminAuth
from clientevents.server.routes.admin import AdminCall, endpoint

__all__ = ["ops_routes"]

MAX_IDS = 1000


def _ids(call: AdminCall) -> list[int] | None:
    """The entries a redrive or purge acts on: ``ids``, or ``None`` with ``"all": true``."""
    ids, every = call.doc.get("ids"), call.doc.get("all")
    if every is True and ids is None:
        return None
    if every not in (None, False) or ids is None:
        raise BadRequest('Name the dead letters with "ids": [...], or send "all": true (with '
                         'optional "bus", "rule", "target" filters) to act on every match.')
    if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS or not all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids
    ):
        raise BadRequest(f'"ids" must be a list of 1 to {MAX_IDS} dead-letter ids (integers).')
    return ids


def _filters(source: Any) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("bus", "rule", "target"):
        value = source.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f'"{name}" must be text.')
        found[name] = value or None
    return found


def _subject_ids(call: AdminCall) -> str:
    ids = call.doc.get("ids")
    if isinstance(ids, list):
        return ",".join(str(i) for i in ids[:50])
    return "all " + " ".join(f"{k}={v}" for k, v in _filters(call.doc).items() if v)


def ops_routes(admin: AdminService, auth: AdminAuth) -> list[BaseRoute]:
    """Deliveries, dead letters, archives, replays, users and the audit log."""
    recovery, users = admin.recovery, admin.users

    async def deliveries(call: AdminCall) -> Any:
        return {"targets": await run_in_threadpool(recovery.deliveries)}

    async def dead_letters(call: AdminCall) -> Any:
        params = call.request.query_params
        flt = _filters(params)
        limit = call.query_int("limit", 100, 1, 500)
        after = call.query_int("after_id", 0, 0, 2**62)
        return await run_in_threadpool(
            lambda: recovery.dead_letters(limit=limit, after_id=after, **flt)
        )

    async def dead_letter(call: AdminCall) -> Any:
        entry_id = _int_param(call, "id")
        return await run_in_threadpool(recovery.dead_letter, entry_id)

    async def redrive(call: AdminCall) -> Any:
        ids, flt = _ids(call), _filters(call.doc)
        include = call.doc.get("include_transform_errors", False)
        if not isinstance(include, bool):
            raise BadRequest('"include_transform_errors" must be true or false.')
        return await run_in_threadpool(
            lambda: recovery.redrive(ids, include_transform_errors=include, **flt)
        )

    async def purge(call: AdminCall) -> Any:
        ids, flt = _ids(call), _filters(call.doc)
        return await run_in_threadpool(lambda: recovery.purge(ids, **flt))

    async def archives(call: AdminCall) -> Any:
        bus, prefix = call.query("bus") or None, call.query("name_prefix") or None
        return {"archives": await run_in_threadpool(
            lambda: recovery.archive_list(bus=bus, name_prefix=prefix))}

    async def archive(call: AdminCall) -> Any:
        return await run_in_threadpool(recovery.archive, call.param("name"))

    async def replays(call: AdminCall) -> Any:
        state, archive_name = call.query("state") or None, call.query("archive") or None
        prefix = call.query("name_prefix") or None
        return {"replays": await run_in_threadpool(
            lambda: recovery.replay_list(state, archive=archive_name, name_prefix=prefix))}

    async def replay(call: AdminCall) -> Any:
        return await run_in_threadpool(recovery.replay, call.param("name"))

    async def start_replay(call: AdminCall) -> Any:
        d = call.doc
        return await run_in_threadpool(
            lambda: recovery.start_replay(d.get("name"), d.get("archive"), d.get("start"),
                                          d.get("end"), d.get("rules"), d.get("description"))
        )

    async def cancel_replay(call: AdminCall) -> Any:
        return await run_in_threadpool(recovery.cancel_replay, call.param("name"))

    async def user_list(call: AdminCall) -> Any:
        limit = call.query_int("limit", 60, 1, 60)
        token, text = call.query("page_token"), call.query("filter") or ""
        return await run_in_threadpool(
            lambda: users.list(limit=limit, page_token=token, filter_text=text)
        )

    async def disable(call: AdminCall) -> Any:
        await run_in_threadpool(users.disable, call.param("username"))
        return {"username": call.param("username"), "enabled": False}

    async def enable(call: AdminCall) -> Any:
        await run_in_threadpool(users.enable, call.param("username"))
        return {"username": call.param("username"), "enabled": True}

    async def sign_out(call: AdminCall) -> Any:
        ended = await run_in_threadpool(users.sign_out, call.param("username"))
        return {"username": call.param("username"), "sessions_ended": ended}

    async def audit(call: AdminCall) -> Any:
        limit = call.query_int("limit", 100, 1, 500)
        before = call.query("before_id")
        before_id = call.query_int("before_id", 0, 1, 2**62) if before else None
        entries = await run_in_threadpool(
            lambda: admin.audit.query(action=call.query("action"), actor=call.query("actor"),
                                      before_id=before_id, limit=limit)
        )
        return {"entries": [e.to_dict() for e in entries]}

    def by_name(call: AdminCall) -> str:
        return call.param("name")

    def by_user(call: AdminCall) -> str:
        return call.param("username")

    def new_replay(call: AdminCall) -> str:
        return str(call.doc.get("name", ""))

    def change(handler: Any, action: str, subject: Any) -> Any:
        return endpoint(admin, auth, handler, change=True, action=action, subject=subject)

    def read(handler: Any) -> Any:
        return endpoint(admin, auth, handler)

    return [
        Route("/deliveries", read(deliveries), methods=["GET"]),
        Route("/dead-letters", read(dead_letters), methods=["GET"]),
        Route("/dead-letters/redrive", change(redrive, "dlq.redrive", _subject_ids),
              methods=["POST"]),
        Route("/dead-letters/purge", change(purge, "dlq.purge", _subject_ids), methods=["POST"]),
        Route("/dead-letters/{id}", read(dead_letter), methods=["GET"]),
        Route("/archives", read(archives), methods=["GET"]),
        Route("/archives/{name}", read(archive), methods=["GET"]),
        Route("/replays", read(replays), methods=["GET"]),
        Route("/replays", change(start_replay, "replay.start", new_replay), methods=["POST"]),
        Route("/replays/{name}", read(replay), methods=["GET"]),
        Route("/replays/{name}/cancel", change(cancel_replay, "replay.cancel", by_name),
              methods=["POST"]),
        Route("/users", read(user_list), methods=["GET"]),
        Route("/users/{username}/disable", change(disable, "user.disable", by_user),
              methods=["POST"]),
        Route("/users/{username}/enable", change(enable, "user.enable", by_user),
              methods=["POST"]),
        Route("/users/{username}/sign-out", change(sign_out, "user.sign_out", by_user),
              methods=["POST"]),
        Route("/audit", read(audit), methods=["GET"]),
    ]


def _int_param(call: AdminCall, name: str) -> int:
    raw = call.param(name)
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"{name} must be a positive integer, not {raw[:40]!r}.")
    return int(raw)
