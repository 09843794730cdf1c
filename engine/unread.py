"""Lists a block assigns and never reads: kept as numpy arrays until someone looks at them.

``result = [x * 0.5 for x in range(N)]`` as the last word on ``result`` in a block, with 10M
elements, would make the driver build ten million float objects (a third of a second), pickle
them one by one, and the client unpickle them one by one, when only the client will ever see
them. When the block never reads the name, the compiled collection is left as the numpy array
its partitions wrote (``NumericList``), which pickles as the list it stands for: an array's
bytes and ``tolist()`` at the other end, or, for a remote object, the array's buffer kept in
shared memory and the list built in the later block that uses it. Nobody can tell the
difference: nothing in the block sees the value.

A name counts as read if the block loads it anywhere (also inside functions, lambdas and
comprehensions it defines) or augments it; a block that calls ``locals``, ``vars``, ``eval``,
``exec``, ``globals`` or ``dir`` reads everything.
"""
from __future__ import annotations

import ast
from multiprocessing import shared_memory
from typing import Any, List, Optional

import numpy as np

from ufora.engine import code, rewriter, shm

UNREAD_COLLECT_HOOK = "__ufora_collect_unread__"
_READ_ALL = {"locals", "vars", "eval", "exec", "globals", "dir"}


class NumericList:
    """Stands for ``array.tolist()``, a list of Python numbers, in a block's namespace only.

    Its array may be the shared-memory segment the shape's partitions wrote (``segment``, from
    its start): the segment is then this list's, unlinked when it goes, unless the value is
    sent on first, when the worker service takes the segment as the value's buffer
    (``engine.remote_values``, ``shm.take``), not a copy of it."""

    stands_for = list

    def __init__(self, array: np.ndarray, segment: Optional[shared_memory.SharedMemory] = None):
        self.array = array
        self._segment = segment  # the array's memory lives as long as the segment object does
        if segment is not None:
            shm.handable(segment, array.nbytes, self)

    def __reduce__(self):
        return as_list, (self.array,)


def as_list(array: np.ndarray) -> List[Any]:
    return array.tolist()


def mark(body: List[ast.stmt]) -> List[ast.stmt]:
    """The rewritten block body, with each list collection assigned to a name it never reads
    calling ``UNREAD_COLLECT_HOOK`` instead."""
    read = set(code.read_names(body))
    if read & _READ_ALL:
        return body
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id not in read
                and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                and node.value.func.id == rewriter.COLLECT_HOOK and node.value.args
                and isinstance(node.value.args[0], ast.Constant) and node.value.args[0].value == "list"):
            node.value.func.id = UNREAD_COLLECT_HOOK
    return body
