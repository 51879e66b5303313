"""One copy of what verified tokens repeat, for the token cache's memory (issue 13).

Tokens of one API repeat most of their content: the claim names, ``iss``, ``aud``,
``azp``, the ``scope`` string, the ``permissions`` names, the header. Parsed anew per
token, each copy costs memory in every cached entry. :class:`Sharing` hands out one
object for equal ones: strings, the frozensets of equal scope strings and permission
lists, equal headers. Only verified tokens pass through it (after the signature check),
and each map is bounded: when full it starts again, which costs memory, never a result.

The objects shared are immutable (``str``, ``frozenset``) or reached only through a
read-only view (the header behind the token's ``MappingProxyType``); a list claim stays
a list of its own per token, holding shared strings.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

__all__ = ["Sharing"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Claims unique to a token (or to a user): sharing them would only churn the maps.
_OWN_VALUES = frozenset({"sub", "jti", "sid"})
#: Longer strings are kept as they are (a token's own data, not a repeated name).
_LONGEST = 512


class _Bounded(dict[K, V]):
    """A dict that starts again when it reaches ``maxsize`` entries."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def one(self, key: K, make: Callable[[K], V]) -> V:
        found = self.get(key)
        if found is None:
            if len(self) >= self.maxsize:
                self.clear()
            found = self.setdefault(key, make(key))
        return found


def _same(value: Any) -> Any:
    return value


class Sharing:
    """Shared copies of strings, scope sets, permission sets and headers (bounded maps)."""

    def __init__(self, maxsize: int = 8192) -> None:
        self._strings: _Bounded[str, str] = _Bounded(maxsize)
        self._sets: _Bounded[Any, frozenset[str]] = _Bounded(maxsize)
        self._headers: _Bounded[tuple[tuple[str, Any], ...], dict[str, Any]] = _Bounded(256)

    def string(self, value: str) -> str:
        """The shared copy of ``value``."""
        if len(value) > _LONGEST:
            return value
        shared: str = self._strings.one(value, _same)
        return shared

    def claims(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``claims`` whose names and repeated string values are shared."""
        string = self.string
        copy: dict[str, Any] = {}
        for name, value in claims.items():
            if name not in _OWN_VALUES:
                if type(value) is str:
                    value = string(value)
                elif type(value) is list and all(type(item) is str for item in value):
                    value = [string(item) for item in value]
            copy[string(name)] = value
        return copy

    def header(self, header: dict[str, Any]) -> dict[str, Any]:
        """One dict for equal headers of string values (``alg``, ``typ``, ``kid``)."""
        if not all(type(value) is str for value in header.values()):
            return header
        key = tuple(header.items())
        shared: dict[str, Any] = self._headers.one(key, lambda _: header)
        return shared

    def scope_set(self, scope: str, split: Callable[[str], frozenset[str]]) -> frozenset[str]:
        """``split(scope)``, one frozenset per scope string."""
        shared: frozenset[str] = self._sets.one(scope, split)
        return shared

    def name_set(self, names: list[Any]) -> frozenset[str]:
        """``frozenset(names)`` (a ``permissions`` list), one per equal list."""
        try:
            key = ("permissions", *names)
            hash(key)
        except TypeError:  # an unhashable item: the claim's own check refuses it later
            return frozenset(names)
        shared: frozenset[str] = self._sets.one(key, lambda _: frozenset(names))
        return shared
