"""etcd's v3 JSON gateway, as the etcd:// backend speaks it: base64 keys and values, key
ranges by prefix, and answers read into JSON or raised as EtcdError."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "UNAUTHENTICATED",
    "EtcdError",
    "Json",
    "_answer",
    "_b64",
    "_range_end",
    "_unb64",
]

#: gRPC status codes etcd answers with
INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED = 3, 5, 16

Json = dict[str, Any]


class EtcdError(Exception):
    """An error answer from etcd (``code`` is the gRPC status code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd: {message} (code {code})")
        self.code = code
        self.message = message

    @classmethod
    def of(cls, answer: Json, status: int) -> EtcdError:
        error = answer.get("error")
        if isinstance(error, dict):  # an error inside a stream
            return cls(int(error.get("grpc_code", 0)), str(error.get("message", error)))
        return cls(int(answer.get("code", 0)), str(answer.get("message") or error or status))

    @property
    def lease_gone(self) -> bool:
        return self.code == NOT_FOUND and "lease not found" in self.message


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _range_end(prefix: bytes) -> bytes:
    """The end of the key range of every key starting with ``prefix`` (exclusive)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"  # every key
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _answer(response: httpx.Response) -> Json:
    """The JSON of an answer (a keepalive's single stream message is unwrapped too)."""
    try:
        answer = json.loads(response.content)
    except ValueError:
        text = response.text.strip()[:200] or "(empty)"
        raise EtcdError(0, f"HTTP {response.status_code}, not JSON: {text}") from None
    if not isinstance(answer, dict):
        raise EtcdError(0, f"HTTP {response.status_code} with unexpected JSON")
    if "error" in answer or response.status_code != 200:
        raise EtcdError.of(answer, response.status_code)
    result = answer.get("result", answer)
    return result if isinstance(result, dict) else answer
