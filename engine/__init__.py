"""Everything that computes, and no network: the compute pool's processes talk to their service
over Unix socket pairs (``engine.frames``), never over a network connection.

The block rewriter (automatic parallelism), partition plans, the numba kernel builder with its
CPython fallback, the fork-based compute pool. engine/ never imports net/: it can be used and
tested on its own, with an in-process runner standing in for the cluster.
"""
