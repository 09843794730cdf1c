"""cloudpickle, keeping the file names of code objects.

cloudpickle 3 writes ``<dynamic-code>`` as every shipped function's file name (for
deterministic payloads). Our users must see their own file and line in a remote traceback, so
code objects travel with their real ``co_filename``. This is the one pickler the client and the
engine use for user values; the contract is cloudpickle's own: same Python on both ends.
"""
from __future__ import annotations

import io
import types
from collections import ChainMap
from typing import Any

import cloudpickle

_DYNAMIC = "<dynamic-code>"
_code_reduce = cloudpickle.Pickler.dispatch_table[types.CodeType]


def _code_reduce_keeping_filename(code: types.CodeType):
    constructor, args = _code_reduce(code)
    return constructor, tuple(code.co_filename if arg == _DYNAMIC else arg for arg in args)


class _Pickler(cloudpickle.Pickler):
    dispatch_table = ChainMap({types.CodeType: _code_reduce_keeping_filename},
                              cloudpickle.Pickler.dispatch_table)


def dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(value)
    return buffer.getvalue()


loads = cloudpickle.loads
