"""Large numpy arrays in the pickles that only tell whether a value changed (``engine.mutations``,
``engine.class_state``): their digest instead of their bytes.

A block's in-place changes are found by pickling each value it may touch before it runs and
again after, and comparing the two. For an array the pickle is a copy of its bytes, made twice,
into memory the process has not used yet: on a virtual machine whose host backs that memory
lazily (this project's test machines), 0.5 s for a 24 MB table that a 60 ms block only read. A
SHA-256 of the same bytes reads them where they lie (12 ms) and tells the same.

The digest stands in the pickle as an ``ArrayDigest`` object, so that reading the pickle back
(``engine.mutations`` does, to map where each object was) finds one object where the array was.
Arrays of Python objects are pickled as usual: their bytes are pointers, and their items may
change inside.

An array still holding the bytes it arrived with in the block's free variables (read in the
segment they came in, copy-on-write: ``engine.shm.same_as_arrived``) stands as ``ARRIVED``, with
no digest made: the pages the process wrote of it, if any, are compared with the segment's
(``engine.cow_pages``), where two digests of a 32 MB table took 35 ms of a 100 ms block.
"""
from __future__ import annotations

import hashlib
from typing import Any, Optional, Tuple

import numpy as np

from ufora.engine import shm

DIGEST_FROM = 1 << 16  # bytes from which an array is compared by its digest
# an array's bytes as they arrived in the block's free variables: no digest of them is made (a
# change makes its digest, which differs from this)
ARRIVED = "as it arrived"


class ArrayDigest:
    """An array as a comparison pickle holds it: its dtype, shape, order and a digest of its bytes."""
    __slots__ = ("facts",)

    def __init__(self, facts: Tuple[Any, ...]):
        self.facts = facts


def reduction(array: Any) -> Optional[Tuple[type, Tuple[Tuple[Any, ...]]]]:
    """The reduction of a large array (exactly ``np.ndarray``, not of objects) to its
    ``ArrayDigest``; None for any other value."""
    if type(array) is not np.ndarray or array.nbytes < DIGEST_FROM or array.dtype.hasobject:
        return None
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)  # as pickle keeps it
    if shm.same_as_arrived(array):  # still the bytes it arrived with (engine.cow_pages): no digest to make
        return ArrayDigest, ((array.dtype, array.shape, fortran, ARRIVED),)
    ordered = np.ascontiguousarray(array.T if fortran else array)  # a view unless strided
    digest = hashlib.sha256(ordered.reshape(-1).view(np.uint8)).digest()
    return ArrayDigest, ((array.dtype, array.shape, fortran, digest),)
