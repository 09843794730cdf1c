"""The benchmark harness: the same jobs on pyfora and on the alternatives, one table.

Run it from the repository root as ``python -m perf [--quick] [--url URL]`` (``make bench``).
Every variant of a job computes the same answer, which is checked; variants alternate round by
round so that a slow minute of the machine hurts them all alike, and each variant is compared
with pyfora's embedded cluster measured in the same run. ``perf/results/README.md`` explains the
output.

Layout: ``jobs`` (the functions every engine runs), ``engines`` (one small runner per engine,
all of one shape), ``install`` (fetches missing comparison packages), ``plan`` (sizes, repeats,
what is too slow to run), ``runner`` (start-up, alternation, clean-up), ``measure`` (one cell of
the table), ``report`` (Markdown and CSV), ``chart`` (PNG), ``targets`` (the figures of
DESIGN.md and issue 5), ``machine`` (the facts printed above every result), ``channel`` (the
data channel alone), ``responses`` (how soon errors, exits and rejoins come: the deadlines the
tests no longer assert).
"""
