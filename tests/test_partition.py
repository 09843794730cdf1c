from ufora.engine.partition import GuidedPlan


def partitions(plan):
    out = []
    while (p := plan.next_partition()) is not None:
        out.append(p)
    return out


def test_plan_covers_range_in_order_without_gaps():
    parts = partitions(GuidedPlan(1_000_003, processes=2))
    assert parts[0][0] == 0 and parts[-1][1] == 1_000_003
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


def test_partitions_shrink_towards_the_tail():
    sizes = [hi - lo for lo, hi in partitions(GuidedPlan(10_000_000, processes=2))]
    assert sizes[0] == 2_500_000
    assert sizes == sorted(sizes, reverse=True)
    assert len(sizes) > 4 * 2  # several partitions per process, for balance
    assert sizes[-1] <= 10_000_000 // (2 * 64) + 1


def test_empty_and_tiny_plans():
    assert partitions(GuidedPlan(0, processes=4)) == []
    assert partitions(GuidedPlan(1, processes=4)) == [(0, 1)]
    assert partitions(GuidedPlan(5, processes=4, minimum=2)) == [(0, 2), (2, 4), (4, 5)]
