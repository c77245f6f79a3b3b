"""The one error of input shaping: `TransformError`."""

from __future__ import annotations


class TransformError(ValueError):
    """An input path, input transformer or constant input is invalid, or an event cannot be shaped.

    Raised in two situations, told apart by where it is raised:

    - at construction (`InputPath`, `InputTransformer`, `constant_input`): the configuration is
      invalid (a malformed JSONPath, an undefined placeholder, a template that is not valid JSON);
      the message names the offending value and the fix;
    - at render time (`InputPath.apply`, `InputTransformer.render`): this event cannot be shaped
      by a valid configuration (the path matches nothing, a value cannot be placed where the
      template puts it); the message names the rule when one was given. The router dead-letters
      such an event rather than retrying it.

    It is a `ValueError`, so callers can catch it without importing clientevents' error tree.

    Attributes:
        rule: the rule name given to `render`, or "" when none was given.
    """

    def __init__(self, message: str, *, rule: str = "") -> None:
        self.rule = rule
        super().__init__(message)
