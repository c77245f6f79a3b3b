"""Clients of clientevents' HTTP APIs (and of the AWS services they mirror).

::

    from clientevents.client import CognitoClient, IngestClient

    async with CognitoClient("http://127.0.0.1:8080", client_id="clientevents-local-app") as idp:
        tokens = await idp.password_auth("alice", "Passw0rd!")

``CognitoClient`` speaks Cognito's JSON API (admin operations SigV4-signed with the admin key),
``IngestClient`` the blueprint's ingest API (``POST /{stage}/event``). Both are async (httpx);
the command line runs them with :func:`asyncio.run`.
"""

from __future__ import annotations

from clientevents.client.cognito import AuthTokens, CognitoClient
from clientevents.client.errors import ClientError, CognitoClientError, EndpointUnreachable
from clientevents.client.ingest import IngestAnswer, IngestClient

__all__ = [
    "AuthTokens",
    "ClientError",
    "CognitoClient",
    "CognitoClientError",
    "EndpointUnreachable",
    "IngestAnswer",
    "IngestClient",
]
