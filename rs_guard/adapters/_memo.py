"""What an adapter derives from an accepted token, made once per token object.

The guard's token cache hands back the same :class:`~rs_guard.token.AccessToken` object
for the same token, so an adapter that turns a token into request state (Starlette's
``request.auth``/``request.user``, the verified records of :mod:`._shell`) makes that
state once per token instead of once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..token import AccessToken

__all__ = ["MEMO_SIZE", "TokenMemo"]

T = TypeVar("T")

#: How many tokens a :class:`TokenMemo` of an adapter keeps.
MEMO_SIZE = 4096


class TokenMemo(Generic[T]):
    """``make(token)`` for accepted tokens, made once per token object (bounded).

    Keyed by ``id(token)``: an entry holds its token, so the id cannot be reused while
    the entry lives, and an entry of another object under a reused id is never taken.
    ``maxsize`` 0 keeps nothing (with the token cache off every request brings a new token
    object). Full, it starts over: what it keeps is derived from the token alone, so a
    request never depends on what the memo holds, only its cost does.
    """

    __slots__ = ("_entries", "_make", "maxsize")

    def __init__(self, make: Callable[[AccessToken], T], maxsize: int) -> None:
        self._entries: dict[int, tuple[AccessToken, T]] = {}
        self._make = make
        self.maxsize = maxsize

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: AccessToken) -> T:
        entry = self._entries.get(id(token))
        if entry is not None and entry[0] is token:
            return entry[1]
        value = self._make(token)
        if self.maxsize > 0:
            if len(self._entries) >= self.maxsize:
                self._entries.clear()
            self._entries[id(token)] = (token, value)
        return value
