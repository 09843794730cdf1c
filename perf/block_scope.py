"""What running a block inside a function as a function's body saves (``engine.function_body``):
the body of ``perf.realistic.objects.namedtuple_vwap`` (a loop over 200,000 namedtuples
updating two defaultdicts, then a dict comprehension and a sum), compiled as ``run_block``
compiles it, run twice: written at module level (module code: every name a dict lookup) and
inside a function (fast locals); against the user's own function in local CPython. Only the body
is timed (not unpickling the free variables or the write-back), with the engine's hooks in the
namespace and no runner (the shapes run serially here). Interleaved round by round so that the
machine's load falls on all alike.

``python -m perf.block_scope [--rounds N]``.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import textwrap
import time

from ufora.engine import function_body, runtime
from ufora.engine.block import _compile_body
from perf.realistic.objects import trades

BODY = textwrap.dedent('''
    notional = collections.defaultdict(float)
    volume = collections.defaultdict(int)
    for t in trades:
        notional[t.symbol] += t.price * t.qty
        volume[t.symbol] += t.qty
    vwap = {s: notional[s] / volume[s] for s in sorted(notional)}
    net = sum(t.qty if t.side == "buy" else -t.qty for t in trades)
''')
MODULE = "with cluster:\n" + textwrap.indent(BODY, "    ")
FUNCTION = "def namedtuple_vwap(trades):\n    with cluster:\n" + textwrap.indent(BODY, "        ")


def _local(trades_list):
    namespace = {"collections": collections, "cluster": None}
    exec(FUNCTION.replace("    with cluster:\n", "    if True:\n") + "        return vwap, net\n", namespace)
    return namespace["namedtuple_vwap"](trades_list)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=200_000)
    args = parser.parse_args()
    data = trades(args.n)
    bodies = {"module-level block": _compile_body(MODULE, "<module>", 1)[0],
              "block in a function": _compile_body(FUNCTION, "<function>", 2)[0]}
    assert isinstance(bodies["block in a function"], function_body.FunctionBody)
    times: dict = {name: [] for name in [*bodies, "local CPython function"]}
    answers = set()
    for _ in range(args.rounds):
        for name, body in bodies.items():
            namespace = {"__builtins__": __builtins__, **runtime.hooks(), "trades": data, "collections": collections}
            start = time.perf_counter()
            if isinstance(body, function_body.FunctionBody):
                body.run(namespace)
            else:
                exec(body, namespace)
            times[name].append(time.perf_counter() - start)
            answers.add(namespace["net"])
        start = time.perf_counter()
        answers.add(_local(data)[1])
        times["local CPython function"].append(time.perf_counter() - start)
    assert len(answers) == 1
    for name, values in times.items():
        print(f"{name:24s} median {statistics.median(values) * 1000:7.1f} ms   min {min(values) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
