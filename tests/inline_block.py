"""A block run as a worker's driver runs it, on the in-process runner: for tests of the shapes of
ufora's own modules (``engine.showcase``)."""
from typing import Any, List, Tuple

from ufora.engine import runtime, serialization
from ufora.engine.block import Block, run_block
from ufora.engine.runtime import InlineRunner


def value_and_reports(source: str, free: dict, name: str) -> Tuple[Any, List[runtime.Report]]:
    """The value the block ``source`` (``with cluster:`` and its body) leaves in ``name``, as the
    client gets it, and the reports of its shapes; the block must not raise."""
    pickled, _, written = serialization.dumps_written(free)
    runtime.reports.clear()
    result = run_block(Block(source, "<block>", 1, pickled), InlineRunner(processes=2))
    result.take_over()
    assert result.error is None, result.error.exception()
    value = serialization.loads_referring(result.variables[name], written, result.parts.get(name, ()))
    return value, list(runtime.reports)
