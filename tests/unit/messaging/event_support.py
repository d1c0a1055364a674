"""What the EventStream tests share: the tokens of two projects and the authorizer."""

from __future__ import annotations

from anker.messaging import Subscriber, SubscriptionRefused

TOKENS = {"token-a": "project-a", "token-b": "project-b"}


async def authorize(subscriber: Subscriber) -> str:
    """A token from the ``x-auth-token`` header or the query (a browser's EventSource and
    WebSocket cannot set headers); ``broken`` fails as a dead Keystone would, ``nobody`` is
    a known user who may not subscribe."""
    token = subscriber.headers.get("x-auth-token") or subscriber.query.get("token", "")
    if token == "broken":
        raise RuntimeError("keystone is down")
    if token == "nobody":
        raise SubscriptionRefused("not allowed to watch", 403)
    if token not in TOKENS:
        raise SubscriptionRefused("unknown token")
    return TOKENS[token]
