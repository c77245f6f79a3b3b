"""The ``api_destination`` target: HTTP endpoints behind connections, as in EventBridge.

Modules: ``target`` (the target and the per-destination runtime), ``auth`` (connections at
work: credentials, OAuth tokens, state), ``state`` (the ``connection_states`` table),
``request`` (a delivery as an HTTP request), ``outcome`` (an answer as an outcome), ``params``
(``http_parameters`` rendered at routing time), ``guard`` (the outbound address policy),
``client`` (the pooled HTTP client). ``docs/api-destinations.md`` is the user's guide.
"""

from clientevents.targets.api_destination.guard import AddressNotAllowed, AddressPolicy
from clientevents.targets.api_destination.request import EVENT_ID_HEADER, USER_AGENT
from clientevents.targets.api_destination.state import (
    AUTHORIZED,
    AUTHORIZING,
    DEAUTHORIZED,
    ConnectionState,
    read_states,
)
from clientevents.targets.api_destination.target import (
    GATEWAY_URL_ENV,
    ApiDestinationTarget,
    Destination,
    gateway_url,
)

__all__ = [
    "AUTHORIZED",
    "AUTHORIZING",
    "DEAUTHORIZED",
    "EVENT_ID_HEADER",
    "GATEWAY_URL_ENV",
    "USER_AGENT",
    "AddressNotAllowed",
    "AddressPolicy",
    "ApiDestinationTarget",
    "ConnectionState",
    "Destination",
    "gateway_url",
    "read_states",
]
