"""How the nats transport names things: subjects for requests, casts, replies, notifications
and dead letters, and the JetStream streams and consumers that hold them.

Every name anker takes from a user (exchange, topic, server, pool) becomes exactly one subject
token: bytes outside ``[A-Za-z0-9_-]`` are written ``~XX``, so a topic with dots (neutron's
``<topic>.<host>``) can never be read as a topic and a server, and no name is a wildcard.
Stream and consumer names, which the server also uses as file names, are the same tokens,
shortened with a hash past 64 characters.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Final

PREFIX: Final = "anker"
#: what a stream or consumer name may be before it is shortened with a hash
MAX_NAME: Final = 64
_SAFE = re.compile(rb"[A-Za-z0-9_-]")
_ALL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def id_token(name: str) -> str:
    """:func:`token` for names made new for each message (ids: hex already), uncached."""
    return name if _ALL_SAFE.fullmatch(name) else token(name)


@functools.lru_cache(maxsize=4096)  # every send names its subject: a hot path
def token(name: str) -> str:
    """``name`` as one subject token (``a.b`` -> ``a~2Eb``); empty is ``~``.

    Not ``%``: the server formats some subjects holding consumer names with Go's printf.
    """
    if not name:
        return "~"
    if _ALL_SAFE.fullmatch(name):
        return name
    return "".join(
        chr(byte) if _SAFE.fullmatch(bytes((byte,))) else f"~{byte:02X}"
        for byte in name.encode("utf-8", "surrogatepass")
    )


def untoken(text: str) -> str:
    """The name :func:`token` made ``text`` of."""
    if text == "~":
        return ""
    parts = text.split("~")
    raw = bytearray(parts[0].encode())
    for part in parts[1:]:
        raw += bytes.fromhex(part[:2]) + part[2:].encode()
    return raw.decode("utf-8", "surrogatepass")


def short(name: str) -> str:
    """A stream or consumer name: ``name`` itself, or a prefix and a hash if too long."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: MAX_NAME - 17]}-{digest}"


# -- RPC (core NATS for calls and fanout, JetStream for casts) -----------------------------


@functools.lru_cache(maxsize=1024)
def request_subject(exchange: str, topic: str, server: str | None) -> str:
    """Where a call goes: the topic's queue group, or one server's."""
    base = f"{PREFIX}.rpc.{token(exchange)}.{token(topic)}"
    return base if server is None else f"{base}.{token(server)}"


def fanout_subject(exchange: str, topic: str) -> str:
    """Where a fanout cast goes: every server of the topic subscribes without a group."""
    return f"{PREFIX}.fanout.{token(exchange)}.{token(topic)}"


def cast_subject(exchange: str, topic: str, server: str | None) -> str:
    """Where a cast goes: kept in the exchange's cast stream until a server takes it."""
    base = f"{PREFIX}.cast.{token(exchange)}.{token(topic)}"
    return base if server is None else f"{base}.{token(server)}"


def cast_stream(exchange: str) -> tuple[str, str]:
    """The exchange's cast stream: its name and the subjects it holds."""
    return short(f"anker-cast-{token(exchange)}"), f"{PREFIX}.cast.{token(exchange)}.>"


def queue_consumer(topic: str, server: str | None) -> str:
    """The durable consumer all servers of a topic share (or one server's own)."""
    name = token(topic) if server is None else f"{token(topic)}~~{token(server)}"
    return short(f"rpc-{name}")


@functools.lru_cache(maxsize=1024)
def reply_subject(reply_queue: str) -> str:
    """Where replies to a transport's calls go (``_reply_q`` is the queue's name)."""
    return f"_INBOX.{token(reply_queue)}"


# -- notifications (JetStream) -------------------------------------------------------------


def notify_stream(exchange: str) -> tuple[str, str]:
    """The exchange's notification stream: its name and the subjects it holds."""
    return short(f"anker-notify-{token(exchange)}"), f"{PREFIX}.notify.{token(exchange)}.>"


def notify_subject(exchange: str, key: str) -> str:
    """Where a notification of routing key ``topic.priority`` goes."""
    return f"{PREFIX}.notify.{token(exchange)}.{token(key)}"


def pool_consumer(pool: str, key: str) -> str:
    """The durable consumer of pool ``pool`` for key ``topic.priority`` (one per key, so
    servers before NATS 2.10, which allow one filter subject per consumer, work too)."""
    return short(f"pool-{token(pool)}~~{token(key)}")


def dead_letter_stream(exchange: str) -> tuple[str, str]:
    """The exchange's dead-letter stream (limits retention: kept for an operator)."""
    return short(f"anker-dlq-{token(exchange)}"), f"{PREFIX}.dlq.{token(exchange)}.>"


def dead_letter_subject(exchange: str, consumer: str) -> str:
    """Where a message the consumer ``consumer`` (a name made here: already one token)
    rejected for good, or gave up on, is kept."""
    return f"{PREFIX}.dlq.{token(exchange)}.{consumer}"


# -- raw messages (JetStream) --------------------------------------------------------------
#
# A routing key's words become one token each, and a last token ``~`` (which no word
# becomes) ends every subject, so that AMQP's ``a.#`` ("a", then zero or more words) is the
# one NATS filter ``...a.>``; ``*`` stays ``*``.

#: the token ending every raw subject
END: Final = "~"


def raw_stream(exchange: str) -> tuple[str, str]:
    """The raw exchange's stream: its name and the subjects it holds."""
    return short(f"anker-raw-{token(exchange)}"), f"{PREFIX}.raw.{token(exchange)}.>"


@functools.lru_cache(maxsize=4096)  # every publish names its subject
def raw_subject(exchange: str, key: str) -> str:
    """Where a raw message with routing key ``key`` (checked: no empty word) goes."""
    words = ".".join(token(word) for word in key.split("."))
    return f"{PREFIX}.raw.{token(exchange)}.{words}.{END}"


@functools.lru_cache(maxsize=4096)  # every delivery reads its key
def raw_key(subject: str) -> str | None:
    """The routing key of a raw subject (None: not one)."""
    parts = subject.split(".")
    if len(parts) < 5 or parts[-1] != END:
        return None
    return ".".join(untoken(part) for part in parts[3:-1])


def raw_filter(exchange: str, pattern: str) -> str | None:
    """The NATS filter subject matching exactly the keys AMQP's ``pattern`` matches, or None
    where NATS cannot say it (a ``#`` before the last word)."""
    words: list[str] = []
    for word in pattern.split("."):
        if not (word == "#" and words and words[-1] == "#"):
            words.append(word)
    if "#" in words[:-1]:
        return None
    tokens = [word if word in ("*", "#") else token(word) for word in words]
    if tokens[-1] == "#":
        tokens[-1] = ">"
    else:
        tokens.append(END)
    return f"{PREFIX}.raw.{token(exchange)}.{'.'.join(tokens)}"


def raw_cover(exchange: str, patterns: tuple[str, ...]) -> str:
    """One filter subject matching every key the patterns match (and maybe more: the
    consumer checks each key): JetStream before 2.10 takes one filter per consumer."""
    base = f"{PREFIX}.raw.{token(exchange)}"
    everything = f"{base}.>"
    filters = [raw_filter(exchange, pattern) for pattern in patterns]
    if any(found is None for found in filters):
        return everything
    split = [found[len(base) + 1 :].split(".") for found in filters if found is not None]
    shortest = min(len(tokens) for tokens in split)
    cover: list[str] = []
    for index in range(shortest):
        column = {tokens[index] for tokens in split}
        if ">" in column:
            cover.append(">")
            break
        cover.append(column.pop() if len(column) == 1 else "*")
    else:
        if any(len(tokens) != shortest for tokens in split):
            cover[shortest - 1 :] = [">"]
    return f"{base}.{'.'.join(cover)}"


def raw_consumer(queue: str) -> str:
    """The durable consumer that is the raw queue ``queue`` (in its exchange's stream)."""
    return short(f"raw-{token(queue)}")
