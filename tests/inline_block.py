"""A block run as a worker's driver runs it, on the in-process runner: for tests of the shapes of
ufora's own modules (``engine.showcase``)."""
from typing import Any, Dict, List, Tuple

from ufora.engine import runtime, serialization
from ufora.engine.block import ASSIGNED_GROUPS, Block, BlockResult, run_block
from ufora.engine.runtime import InlineRunner


def variables_of(result: BlockResult, written: Any = None) -> Dict[str, Any]:
    """The downloaded variables of a block's result (taken over), as the client reads them
    (``pyfora.remote.values_of``): in order, on their parts, the objects they refer to the
    client's own (``written``) or an earlier one's; those of ``ASSIGNED_GROUPS`` by their names."""
    together = serialization.TogetherRead()
    values: Dict[str, Any] = {}
    for name, data in result.variables.items():
        value = serialization.loads_referring(data, written, result.parts.get(name, ()), together)
        if name in ASSIGNED_GROUPS:
            values.update(value)
        else:
            values[name] = value
    return values


def value_and_reports(source: str, free: dict, name: str) -> Tuple[Any, List[runtime.Report]]:
    """The value the block ``source`` (``with cluster:`` and its body) leaves in ``name``, as the
    client gets it, and the reports of its shapes; the block must not raise."""
    pickled, _, written = serialization.dumps_written(free)
    runtime.reports.clear()
    result = run_block(Block(source, "<block>", 1, pickled), InlineRunner(processes=2))
    result.take_over()
    assert result.error is None, result.error.exception()
    return variables_of(result, written)[name], list(runtime.reports)
