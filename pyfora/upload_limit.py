"""The documented limit on what one block or call sends (``schema.MAX_UPLOAD_BYTES``), checked
after pickling and before anything is sent: a value too large is an error naming it and both
sizes, and the session stays as it was."""
from __future__ import annotations

from typing import Any, Dict

from ufora.engine import serialization
from ufora.net import schema
from pyfora.Exceptions import PythonToForaConversionError


def check(pickled_size: int, values: Dict[str, Any], labels: Dict[str, str]) -> None:
    """``PythonToForaConversionError`` naming the largest of ``values`` if their pickle, of
    ``pickled_size`` bytes, is over the limit (each is pickled alone to tell, only then, into a
    counter rather than memory)."""
    if pickled_size <= schema.MAX_UPLOAD_BYTES:
        return
    sizes = {name: serialization.pickled_size(value) for name, value in values.items()}
    largest = max(sizes, key=sizes.__getitem__)
    label = labels.get(largest, f"free variable {largest!r}")
    together = "" if len(sizes) == 1 else f" (the values this one sends, together: {_size(pickled_size)})"
    raise PythonToForaConversionError(
        f"{label} pickles to {_size(sizes[largest])}, over the {_size(schema.MAX_UPLOAD_BYTES)} that one block "
        f"or call may send{together}: nothing was sent. Make it on the cluster instead (in a block, or "
        "read from a file there with importRemoteFile), and pass the proxy")


def _size(count: int) -> str:
    return f"{count / (1 << 30):.2f} GiB ({count:,} bytes)"
