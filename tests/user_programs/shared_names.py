"""Programs from a user's trial (2026-12-07, the second) whose block binds two names to one object,
or puts an object it binds in an outside container, and changes it after the block: each name
came back as a copy of its own, so the change showed through one name only."""
import collections

N = 300_000


class Config:
    def __init__(self):
        self.scale = 1


class Item:
    def __init__(self, i, config):
        self.i, self.config = i, config


def prog_two_names_for_one_list(ufora):
    with ufora.remotely.downloadAll():
        a = [0]
        b = a
        squares = [i * i for i in range(N)]
    b.append(1)
    return {"a": a, "same": a is b, "squares": squares[-1]}


def prog_a_defaultdict_entry_bound_in_the_block(ufora):
    groups = collections.defaultdict(list)
    with ufora.remotely.downloadAll():
        missing = groups[5]
        total = sum(i % 7 for i in range(N))
    missing.append(1)
    return {"groups": dict(groups), "total": total}


def prog_a_new_list_put_in_an_outside_dict(ufora):
    cache = {}
    with ufora.remotely.downloadAll():
        row = [1, 2]
        cache["r"] = row
        total = sum(i % 5 for i in range(N))
    row.append(3)
    return {"cache": cache, "total": total}


def prog_objects_made_with_a_shared_config(ufora):
    with ufora.remotely.downloadAll():
        base = Config()
        items = [Item(i, base) for i in range(N)]
    base.scale = 10
    return {"last": items[-1].config.scale, "same": items[0].config is base and items[-1].config is items[0].config}


def prog_records_indexed_by_key(ufora):
    with ufora.remotely.downloadAll():
        rows = [{"k": i, "name": f"n{i}"} for i in range(N)]
        by_key = {row["k"]: row for row in rows}
        first = rows[0]
    by_key[7]["name"] = "changed"
    first["k"] = -1
    return {"row": rows[7], "same": by_key[0] is first, "k": rows[0]["k"]}


def prog_a_name_bound_to_an_outside_tuple_among_new_values(ufora):
    pair = (1, 2, "x")
    rows = [[i, i + 1] for i in range(1000)]
    with ufora.remotely.downloadAll():
        same = pair
        made = [r[0] for r in rows]
        first = rows[0]
    first.append(99)
    return {"same": same is pair, "made": made[-1], "first_is_rows0": first is rows[0], "rows0": rows[0]}
