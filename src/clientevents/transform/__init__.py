"""Input shaping: what a rule's target receives instead of the whole event.

EventBridge's three ways, with its semantics (docs/specs/input-transformers.md) and our
documented differences (docs/compatibility.md)::

    from clientevents.transform import apply_input_path, InputTransformer, TransformError

    apply_input_path(event, "$.detail.ticket")          # InputPath: JSON text of one part
    InputTransformer(paths_map, template).render(event, rule_name=..., rule_arn=...)
    constant_input('{"fixed": true}')                    # Input: checked constant JSON

Everything is validated when it is constructed (`TransformError`, a `ValueError`); rendering an
event raises `TransformError` only when that event cannot be shaped.
"""

from clientevents.transform.constant import constant_input
from clientevents.transform.errors import TransformError
from clientevents.transform.input import PREDEFINED_VARIABLES, InputTransformer
from clientevents.transform.input_path import InputPath, apply_input_path
from clientevents.transform.jsonpath import MISSING, JsonPath, compile_path

__all__ = [
    "MISSING",
    "PREDEFINED_VARIABLES",
    "InputPath",
    "InputTransformer",
    "JsonPath",
    "TransformError",
    "apply_input_path",
    "compile_path",
    "constant_input",
]
