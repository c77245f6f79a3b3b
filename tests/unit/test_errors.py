"""The error tree drawn in clientevents.errors' docstring is the real one."""

from __future__ import annotations

import importlib
import pkgutil
import re

import clientevents
from clientevents import errors
from clientevents.errors import ClientEventsError


def _subclasses(cls: type) -> dict[str, type]:
    found: dict[str, type] = {}
    for sub in cls.__subclasses__():
        found[sub.__name__] = sub
        found.update(_subclasses(sub))
    return found


def test_the_docstring_tree_names_every_error_under_its_parent() -> None:
    for module in pkgutil.walk_packages(clientevents.__path__, "clientevents."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    doc = errors.__doc__ or ""
    # Each tree line: indentation made of "│   " / "    ", a branch, and the class name.
    lines = re.findall(r"^    ((?:[│ ]   )*)[├└]── (\w+)", doc, flags=re.MULTILINE)
    parents: dict[str, str] = {}
    stack = ["ClientEventsError"]
    for indent, name in lines:
        depth = len(indent) // 4
        del stack[depth + 1:]
        parents[name] = stack[depth]
        stack.append(name)
    real = _subclasses(ClientEventsError)
    assert sorted(parents) == sorted(real)
    for name, cls in real.items():
        assert any(base.__name__ == parents[name] for base in cls.__bases__), name


def test_identity_gateway_and_sigv4_errors_are_request_errors() -> None:
    from clientevents.identity.errors import CognitoError
    from clientevents.identity.principal import AuthError
    from clientevents.server.errors import RequestRejected

    for error in (
        CognitoError("InvalidSignatureException", "bad", 400),
        AuthError.refuse("expired", "The token has expired."),
        RequestRejected(413, "too large", reason="too_large"),
    ):
        assert isinstance(error, errors.RequestError) and error.status in (400, 401, 413)
