"""Objects that live on the client only, referred to from a block: the executor and its connection.

A user's object often holds the executor (``self.executor = ufora``), and a block in one of its
methods reads ``self``. The executor's sockets and threads cannot be pickled, and the block has no
use for them: a ``ClientObject`` pickles as a reference (``reference``), a token that is unique to
this client. Unpickled where that object lives (back on the client: the block's values written
back, ``downloadAll``, ``toLocal()``), the reference is the very same object again; anywhere else
(on the cluster) it is a ``StandIn``, one per token in each process, so identity is kept there too
(``self.executor is ufora`` in the block is True).

A block cannot use the executor on the cluster: blocks and calls do not nest (the block would wait
for cores that it holds itself). Reading one of the executor's public attributes through the
stand-in raises ``NotImplementedError`` saying so; other names are an ``AttributeError`` as on any
object, so ``getattr(x, name, default)``, ``copy`` and numpy's probes behave as usual.
"""
from __future__ import annotations

import uuid
import weakref
from typing import Any, Callable, Tuple


class ClientObject:
    """Base of client objects that travel to the cluster as a reference (see the module)."""


# this process's objects that were sent as references, by token, and their tokens
_objects: "weakref.WeakValueDictionary[str, ClientObject]" = weakref.WeakValueDictionary()
_tokens: "weakref.WeakKeyDictionary[ClientObject, str]" = weakref.WeakKeyDictionary()
# the stand-ins made in this process, by token
_stand_ins: "weakref.WeakValueDictionary[str, StandIn]" = weakref.WeakValueDictionary()


class StandIn:
    """What a block sees on the cluster in place of a client object (see the module)."""

    __slots__ = ("_token", "_kind", "_public", "__weakref__")

    def __init__(self, token: str, kind: str, public: Tuple[str, ...]):
        self._token, self._kind, self._public = token, kind, public

    def __getattr__(self, name: str) -> Any:
        if name in self._public:
            raise NotImplementedError(
                f"{self._kind}.{name} cannot be used on the cluster, inside a block or call: blocks and "
                "calls do not nest; use it on the client, before or after the block")
        raise AttributeError(f"{self._kind!r} object has no attribute {name!r}")

    def __reduce__(self) -> Tuple[Callable, tuple]:
        return referred, (self._token, self._kind, self._public)

    def __repr__(self) -> str:
        return f"<the client's {self._kind} (a stand-in on the cluster)>"


def reference(obj: ClientObject) -> Tuple[Callable, tuple]:
    """The reduction of ``obj`` for pickling: a reference that ``referred`` resolves."""
    token = _tokens.get(obj)
    if token is None:
        token = _tokens[obj] = uuid.uuid4().hex
        _objects[token] = obj
    kind = f"{type(obj).__module__.split('.')[0]}.{type(obj).__qualname__}"
    public = tuple(name for name in (*dir(type(obj)), *vars(obj)) if not name.startswith("_"))
    return referred, (token, kind, public)


def referred(token: str, kind: str, public: Tuple[str, ...]) -> Any:
    """Called by unpickling: the object itself in the process it lives in, else its stand-in."""
    obj = _objects.get(token)
    if obj is not None:
        return obj
    stand_in = _stand_ins.get(token)
    if stand_in is None:
        stand_in = _stand_ins[token] = StandIn(token, kind, public)
    return stand_in
