"""The exception hierarchy of clientevents, in one place.

Classes marked with a module (under ``clientevents.``) live next to the code that raises them;
the others are defined here. ``tests/unit/test_errors.py`` checks that this tree names every
subclass of :class:`ClientEventsError`, so a new error must be added to it.

::

    ClientEventsError
    ├── ConfigError(path)                 a configuration file or value is invalid
    │   ├── ConfigValidationError         config.errors: every problem of a file, by field
    │   └── ConfigFileError               config.errors: the file cannot be read or parsed
    ├── StoreError                        the embedded or external state store failed
    │   ├── Conflict
    │   │   ├── ResourceAlreadyExists     archive.errors
    │   │   ├── IllegalStatus             archive.errors
    │   │   └── ReplayLimitExceeded       archive.errors
    │   ├── NotFound
    │   │   ├── ResourceNotFound          archive.errors
    │   │   └── UnknownStream             streams.store
    │   ├── MissingExtra                  store.factory: the chosen store's driver is missing
    │   ├── SecretError                   secrets.errors: the secret store cannot give a secret
    │   │   ├── MasterKeyError            secrets.errors: no usable master key
    │   │   ├── SecretNotFound            secrets.errors
    │   │   └── SecretUnreadable          secrets.errors: wrong key or damaged entry
    │   └── ObjectStoreError(code)        objectstore.base: an object could not be written
    ├── DeliveryError                     a target could not take a delivery
    │   ├── RetryableDeliveryError(after_secs)
    │   └── PermanentDeliveryError        dead-lettered, never retried
    ├── RequestError(status)              a client's request is refused with an HTTP status
    │   ├── RequestRejected(reason)       server.errors: the gateway refuses a whole request
    │   ├── AuthError(reason)             identity.principal: a token is refused (401, or 403
    │   │                                 for a disabled user)
    │   ├── CognitoError(error_type)      identity.errors: the Cognito-compatible API refuses
    │   │                                 an operation, SigV4 failures of admin operations too
    │   └── AdminError(status, code)      admin.errors: the admin API refuses a request
    │       ├── BadRequest                admin.errors
    │       ├── NotSignedIn               admin.errors
    │       ├── Forbidden                 admin.errors
    │       ├── NotFoundError             admin.errors
    │       ├── ConflictError             admin.errors
    │       └── TooManyAttempts           admin.errors
    ├── ClientDisconnected                server.body: the client left before its body was read
    ├── JwksFetchError                    identity.remote: an issuer's keys cannot be fetched
    ├── ClientError                       client.errors: a call to a server failed
    │   ├── EndpointUnreachable           client.errors: no answer at all (is it running?)
    │   ├── CognitoClientError(code)      client.errors: the Cognito API answered an error
    │   └── AdminClientError(status, code)
    │                                     admin.client: the admin API refused a client's call
    ├── TemplateError                     cfn.template: a CloudFormation template cannot be
    │                                     read or parsed
    ├── AddressNotAllowed                 targets.api_destination.guard: an outbound address
    │                                     the destination's policy refuses
    ├── PutEventsRequestError             events.publisher: a PutEvents call is malformed as a
    │                                     whole (also a ValueError)
    └── InvalidReplayRequest              archive.errors: a replay request is invalid (also a
                                          ValueError)

The rule language has its own errors next to it: ``clientevents.patterns.InvalidEventPattern``
and ``clientevents.transform.TransformError`` (both are ``ValueError`` subclasses, so library
users can catch them without importing this module).
"""

from __future__ import annotations


class ClientEventsError(Exception):
    """Root of every error clientevents raises on purpose."""


class ConfigError(ClientEventsError):
    """A configuration problem, with the file and the dotted field path it concerns."""

    def __init__(self, message: str, *, path: str = "", file: str = "") -> None:
        self.path = path
        self.file = file
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(ClientEventsError):
    """The state store could not complete an operation."""


class Conflict(StoreError):
    """The operation conflicts with existing state (a duplicate name, a stale version)."""


class NotFound(StoreError):
    """The named object does not exist."""


class DeliveryError(ClientEventsError):
    """A target failed to take a delivery."""

    def __init__(self, message: str, *, code: str = "DeliveryFailed") -> None:
        self.code = code
        super().__init__(message)


class RetryableDeliveryError(DeliveryError):
    """A transient failure: the delivery is retried within the target's retry policy."""

    def __init__(
        self, message: str, *, code: str = "TransientError", after_secs: float | None = None
    ) -> None:
        self.after_secs = after_secs
        super().__init__(message, code=code)


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying cannot fix: the delivery goes to the dead-letter queue at once."""


class RequestError(ClientEventsError):
    """A client's request is refused; ``status`` is the HTTP status the client gets."""

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)
