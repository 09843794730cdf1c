"""Bulk data: a megabyte of strings, dict/set comprehensions over records, sorting then
comprehension, generators with filters, nested loops, any/all, Counter."""
import collections

N = 30_000
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Doha"]


def make_records(n):
    return [{"id": i, "city": CITIES[(i * 7) % 5], "score": (i * 37) % 101, "age": 18 + (i * 13) % 60}
            for i in range(n)]


def prog_megabyte_of_strings(ufora):
    lines = ["%06d" % i + "abcdefghij" * 9 + "xyzw" for i in range(N)]
    with ufora.remotely.downloadAll():
        upper = [s.upper() for s in lines]
        total_len = sum(len(s) for s in upper)
        with_7 = [s[:6] for s in upper if "7" in s[:6]]
    return {"upper": upper, "total_len": total_len, "with_7_n": len(with_7)}


def prog_strings_built_in_block(ufora):
    with ufora.remotely.downloadAll():
        rows = [("row%d," % i) * 10 for i in range(N)]
        size = sum(len(r) for r in rows)
    return {"rows_tail": rows[-2:], "size": size}


def prog_dict_comprehension_last_wins(ufora):
    records = make_records(N)
    with ufora.remotely.downloadAll():
        by_bucket = {r["id"] % 1000: r["score"] for r in records}
        by_city = {r["city"]: r["id"] for r in records}
    return {"by_bucket": by_bucket, "by_city": by_city}


def prog_set_comprehension_over_records(ufora):
    records = make_records(N)
    with ufora.remotely.downloadAll():
        cities = {r["city"] for r in records}
        ages = {r["age"] for r in records if r["score"] > 50}
    return {"cities": cities, "ages": ages}


def prog_sort_then_filter(ufora):
    records = make_records(N)
    with ufora.remotely.downloadAll():
        ranked = sorted(records, key=lambda r: (-r["score"], r["id"]))
        top = [r["id"] for r in ranked if r["score"] > 98]
        youngest_top = min(ranked[:1000], key=lambda r: r["age"])
    return {"top_head": top[:20], "n_top": len(top), "youngest_top": youngest_top}


def prog_generator_with_two_filters(ufora):
    records = make_records(N)
    with ufora.remotely.downloadAll():
        oslo_odd = sum(r["score"] for r in records if r["city"] == "Oslo" if r["score"] % 2)
        mean_age = sum(r["age"] for r in records if r["score"] > 50) / sum(1 for r in records if r["score"] > 50)
    return {"oslo_odd": oslo_odd, "mean_age": mean_age}


def prog_nested_loops_pairs(ufora):
    with ufora.remotely.downloadAll():
        pairs = [(i, j) for i in range(300) for j in range(300) if (i * j) % 7 == 1]
        triangle = sum(i * j for i in range(400) for j in range(i))
        ragged = [(i, j) for i in range(N) for j in range(i % 3)]
    return {"pairs_n": len(pairs), "pairs_tail": pairs[-3:], "triangle": triangle, "ragged": ragged[-5:],
            "ragged_n": len(ragged)}


def prog_table_of_rows(ufora):
    with ufora.remotely.downloadAll():
        table = [[x * y % 10 for y in range(10)] for x in range(N)]
        row_sums = [sum(row) for row in table]
    return {"table_tail": table[-2:], "row_sums_sum": sum(row_sums)}


def prog_zip_and_enumerate(ufora):
    vals = [((i * 7919) % 1000) / 1000 for i in range(N)]
    with ufora.remotely.downloadAll():
        diffs = [b - a for a, b in zip(vals, vals[1:])]
        peaks = [i for i, v in enumerate(vals) if v > 0.998]
        weighted = sum(i * v for i, v in enumerate(vals))
    return {"diffs": diffs[:5], "peaks": peaks[:10], "weighted": weighted}


def prog_oldest_by_min_ties(ufora):
    records = make_records(N)
    with ufora.remotely.downloadAll():
        youngest = min(records, key=lambda r: r["age"])
        oldest = max(records, key=lambda r: r["age"])
        any_perfect = any(r["score"] == 100 for r in records)
        all_adults = all(r["age"] >= 18 for r in records)
    return {"youngest": youngest, "oldest": oldest, "any_perfect": any_perfect, "all_adults": all_adults}


def prog_groups_by_nested_comprehension(ufora):
    records = make_records(N)
    with ufora.remotely.downloadAll():
        groups = {city: [r["id"] for r in records if r["city"] == city] for city in CITIES}
    return {"sizes": {c: len(v) for c, v in groups.items()}, "oslo_head": groups["Oslo"][:5]}


def prog_counter_most_common(ufora):
    words = [("Apple", "pear", "PEAR", "fig", "apple", "Fig")[(i * 11) % 6] for i in range(N)]
    with ufora.remotely.downloadAll():
        counts = collections.Counter(w.lower() for w in words)
        top = counts.most_common(2)
        lowered = [w.lower() for w in words]
    return {"counts": counts, "top": top, "lowered_tail": lowered[-3:]}


def prog_characters_of_text(ufora):
    text = "the quick brown fox jumps over the lazy dog " * 1000
    with ufora.remotely.downloadAll():
        vowels = sum(1 for ch in text if ch in "aeiou")
        codes = [ord(ch) for ch in text]
    return {"vowels": vowels, "codes_sum": sum(codes)}


def prog_ranges_with_steps(ufora):
    with ufora.remotely.downloadAll():
        down = [x for x in range(N, 0, -3)]
        around = sum(x for x in range(-N, N, 7))
        evens = [x // 2 for x in range(0, 2 * N, 2)]
    return {"down_tail": down[-3:], "down_n": len(down), "around": around, "evens_tail": evens[-2:]}


def prog_star_unpacking_rows(ufora):
    rows = [(f"id{i}", i % 10, i * 0.5, "x") for i in range(N)]
    with ufora.remotely.downloadAll():
        firsts = [first for first, *rest in rows]
        tails = [rest for first, *rest in rows if first.endswith("99")]
        numbered = [(n, row[0]) for n, row in enumerate(rows, start=1) if row[1] == 9]
    return {"firsts_tail": firsts[-2:], "tails": tails[:3], "numbered_tail": numbered[-2:]}
