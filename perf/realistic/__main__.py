"""``python -m perf.realistic [--quick] [program ...]``: the realistic programs alone, Markdown on
stdout and a CSV in perf/results/. Exits 0 whatever the figures say."""
from __future__ import annotations

import argparse

from perf.__main__ import RESULTS, _log
from perf.realistic import report

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m perf.realistic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes")
    parser.add_argument("names", nargs="*", metavar="program", help="only these programs (default: all)")
    args = parser.parse_args()
    print(report(args.quick, _log, RESULTS, args.names))
