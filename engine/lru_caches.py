"""lru_cache functions (``functools.lru_cache``, ``functools.cache``) sent to another process.

functools pickles an lru_cache function by its module and name, which fails for one defined in
a function, in ``__main__`` or in a user module the cluster does not have. Those go by value
(``reduce``): the wrapped function (by value, as cloudpickle sends functions), ``maxsize``,
``typed`` and the attributes set on the wrapper. One that an installed module defines still goes
by name: the cluster's own, with the cluster's cache, as any state of a library.

What cannot travel is the cache. A C lru_cache's entries cannot be read nor written, and its
counters cannot be set, so a copy starts empty: it is the original only while the original's
cache is unused (no call counted). Hence:

* a copy leaves the client for the cluster, or the driver for a shape's partitions, only from a
  wrapper whose cache is unused (``refusing_used``): else the block is refused before it runs,
  saying why (calls there would not find what they find here: what ``cache_info()`` reads,
  the objects cached results are, the effects of calls that would have been hits), and the
  shape runs serially;
* calling one is a side effect (``engine.purity``): split, each process would fill a cache of
  its own;
* what the block's calls put in the cluster's copy does not come back: the caller's cache and
  ``cache_info()`` stay as they were, and the client warns (``engine.mutations.caches``).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import pickle
from typing import Any, Callable, Iterator, Optional

from cloudpickle import cloudpickle

CacheWrapper = functools._lru_cache_wrapper  # the type of every lru_cache function

_refusing: contextvars.ContextVar[bool] = contextvars.ContextVar("ufora_refusing_used_caches", default=False)


def in_use(wrapper: Any) -> bool:
    """Whether the cache of ``wrapper`` has counted a call (a copy of it would differ)."""
    hits, misses, _, size = wrapper.cache_info()
    return bool(hits or misses or size)


@contextlib.contextmanager
def refusing_used() -> Iterator[None]:
    """While in it, pickling an lru_cache function whose cache is in use fails (``reduce``)."""
    token = _refusing.set(True)
    try:
        yield
    finally:
        _refusing.reset(token)


def reduce(wrapper: Any) -> Any:
    """The pickler's reduction of ``wrapper`` by value, or NotImplemented where it goes by name
    (an installed module's)."""
    found = cloudpickle._lookup_module_and_qualname(wrapper)
    if found is not None and not cloudpickle._is_registered_pickle_by_value(found[0]):
        return NotImplemented
    if _refusing.get() and in_use(wrapper):
        hits, misses, _, size = wrapper.cache_info()
        raise pickle.PicklingError(
            f"lru_cache function {wrapper.__name__!r} has a cache in use here (it holds {size} entries, has "
            f"counted {hits} hits and {misses} misses): the cluster cannot be given its entries, and calls there "
            f"would not find what they find here; call {wrapper.__name__}.cache_clear() first, or define it in "
            "the block")
    parameters = wrapper.cache_parameters()
    attributes = {name: value for name, value in vars(wrapper).items()
                  if name not in ("__wrapped__", "cache_parameters")}  # made again by lru_cache
    return rebuilt, (wrapper.__wrapped__, parameters["maxsize"], parameters["typed"]), attributes


def rebuilt(function: Callable, maxsize: Optional[int], typed: bool) -> Any:
    """``function`` with an empty cache of its own."""
    return functools.lru_cache(maxsize=maxsize, typed=typed)(function)
