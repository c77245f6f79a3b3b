"""The user pool's API errors, named and shaped like Amazon Cognito's.

A :class:`CognitoError` travels from the user pool to the JSON API route, which answers
``{"__type": error_type, "message": message}`` with ``status`` (400 unless said otherwise) and
the ``x-amzn-ErrorType`` header, as Cognito does; boto3 and the aws CLI raise the same
exception classes they raise against AWS.
"""

from __future__ import annotations

from typing import Final

from clientevents.errors import RequestError

__all__ = ["CognitoError", "Messages"]


class CognitoError(RequestError):
    """A Cognito-style API error: ``error_type`` is the exception name clients match on."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        self.error_type = error_type
        self.message = message
        super().__init__(f"{error_type}: {message}", status=status)

    def body(self) -> dict[str, str]:
        """The JSON body Cognito sends for this error."""
        return {"__type": self.error_type, "message": self.message}


class Messages:
    """The messages Cognito uses, where clients or people may recognise them."""

    BAD_CREDENTIALS: Final = "Incorrect username or password."
    USER_NOT_FOUND: Final = "User does not exist."
    USER_EXISTS: Final = "User already exists"
    USER_DISABLED: Final = "User is disabled."
    USER_NOT_CONFIRMED: Final = "User is not confirmed."
    LOCKED_OUT: Final = "Password attempts exceeded"
    CODE_MISMATCH: Final = "Invalid verification code provided, please try again."
    CODE_EXPIRED: Final = "Invalid code provided, please request a code again."
    CODE_ATTEMPTS: Final = "Too many failed attempts with this code; request a new code."
    SEND_LIMIT: Final = "Attempt limit exceeded, please try after some time."
    INVALID_ACCESS_TOKEN: Final = "Invalid Access Token"
    EXPIRED_ACCESS_TOKEN: Final = "Access Token has expired"
    REVOKED_ACCESS_TOKEN: Final = "Access Token has been revoked"
    INVALID_REFRESH_TOKEN: Final = "Invalid Refresh Token"
    EXPIRED_REFRESH_TOKEN: Final = "Refresh Token has expired"
    REVOKED_REFRESH_TOKEN: Final = "Refresh Token has been revoked"
