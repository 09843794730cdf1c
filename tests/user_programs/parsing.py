"""Parsing records: CSV-ish lines split and converted, dates, key=value logs."""
import datetime
import re

N = 40_000


def make_csv(n):
    lines = []
    for i in range(n):
        lines.append(f"{i},{'abcdefg'[i % 7]}{i % 13},{(i * 37) % 1000 / 8},{i % 5 == 0}")
    return lines


def parse_row(line):
    ident, code, price, flag = line.split(",")
    return int(ident), code, float(price), flag == "True"


def prog_csv_price_total(ufora):
    lines = make_csv(N)
    with ufora.remotely.downloadAll():
        total = sum(float(line.split(",")[2]) for line in lines)
        flagged = sum(1 for line in lines if line.endswith("True"))
    return {"total": total, "flagged": flagged}


def prog_csv_rows_to_tuples(ufora):
    lines = make_csv(N)
    with ufora.remotely.downloadAll():
        rows = [parse_row(line) for line in lines]
        expensive = [r[0] for r in rows if r[2] > 120.0]
    return {"rows_head": rows[:50], "rows_tail": rows[-50:], "n": len(rows), "expensive": expensive}


def prog_csv_average_price_per_code(ufora):
    lines = make_csv(N)
    codes = sorted({line.split(",")[1][0] for line in lines})
    with ufora.remotely.downloadAll():
        averages = {}
        for code in codes:
            prices = [float(l.split(",")[2]) for l in lines if l.split(",")[1].startswith(code)]
            averages[code] = round(sum(prices) / len(prices), 4)
    return {"averages": averages}


def prog_dates_from_iso_strings(ufora):
    start = datetime.date(2020, 1, 1)
    stamps = [(start + datetime.timedelta(days=i % 1500)).isoformat() for i in range(N)]
    with ufora.remotely.downloadAll():
        dates = [datetime.date.fromisoformat(s) for s in stamps]
        latest = max(dates)
        total_days = sum((d - start).days for d in dates)
        weekdays = {name: sum(1 for d in dates if d.strftime("%a") == name) for name in ["Mon", "Sat"]}
    return {"first": dates[:5], "latest": latest, "total_days": total_days, "weekdays": weekdays}


def prog_timestamps_strptime_hours(ufora):
    stamps = [f"2023-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}"
              for i in range(30_000)]
    with ufora.remotely.downloadAll():
        hours = [datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").hour for s in stamps]
        busiest = max(range(24), key=hours.count)
    return {"hours_sum": sum(hours), "hours_tail": hours[-30:], "busiest": busiest}


def make_log(n):
    levels = ["INFO", "DEBUG", "WARN", "ERROR"]
    return [f"ts={1700000000 + i} level={levels[i % 4 if i % 11 else 3]} user=u{i % 97} ms={(i * 13) % 500}"
            for i in range(n)]


def prog_key_value_log_records(ufora):
    log = make_log(N)
    with ufora.remotely.downloadAll():
        records = [dict(pair.split("=") for pair in line.split()) for line in log]
        error_ms = sum(int(r["ms"]) for r in records if r["level"] == "ERROR")
        slowest = max(records, key=lambda r: int(r["ms"]))
    return {"n": len(records), "last": records[-1], "error_ms": error_ms, "slowest": slowest}


MS = re.compile(r"ms=(\d+)")


def prog_regex_walrus_filter(ufora):
    log = make_log(N) + ["ts=1 level=INFO user=none"] * 10
    with ufora.remotely.downloadAll():
        durations = [int(m.group(1)) for line in log if (m := MS.search(line))]
        mean_ms = sum(durations) / len(durations)
    return {"durations_tail": durations[-20:], "n": len(durations), "mean_ms": mean_ms, "m": m}


def prog_bad_field_raises_value_error(ufora):
    fields = [str(i) for i in range(N)]
    fields[35_123] = "n/a"
    values = error = None
    with_count = None
    try:
        with ufora.remotely.downloadAll():
            with_count = len(fields)
            values = [int(s) for s in fields]
    except Exception as e:
        error = e
    return {"values": values, "error": error, "with_count": with_count}


def prog_longest_line_ties(ufora):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    lines = [f"{words[i % 6]}-{i % 10}" for i in range(N)]
    with ufora.remotely.downloadAll():
        longest = max((line for line in lines), key=len)
        shortest = min(lines, key=len)
        longest_index = max(range(len(lines)), key=lambda i: len(lines[i]))
    return {"longest": longest, "shortest": shortest, "longest_index": longest_index}


def prog_loop_leaves_a_match_object(ufora):
    lines = [f"user={i} ms={i % 500}" for i in range(1000)]
    pattern = re.compile(r"user=(\d+) ms=(\d+)")
    with ufora.remotely.downloadAll():
        total = 0
        for line in lines:
            m = pattern.match(line)
            total += int(m.group(2))
    return {"total": total, "m": (type(m).__name__, m.group(0), m.regs, m.pos, m.endpos, m.re.pattern)}


def prog_finditer_leaves_the_last_match(ufora):
    text = " ".join(f"id={i};" if i % 7 else f"id={i}x" for i in range(3000))
    with ufora.remotely.downloadAll():
        ids = []
        for found in re.finditer(r"id=(\d+)(;)?", text):
            ids.append(int(found.group(1)))
    return {"ids": sum(ids), "found": (found.regs, found.lastindex, found.lastgroup, found.pos)}


def prog_comprehension_of_matches(ufora):
    lines = [f"{i:05d},{'ok' if i % 3 else 'bad'}" for i in range(50_000)]
    with ufora.remotely.downloadAll():
        matches = [re.match(r"(\d+),(ok|bad)", line) for line in lines]
    return {"count": len(matches), "bad": sum(1 for m in matches if m.group(2) == "bad"),
            "last": (type(matches[-1]).__name__, matches[-1].regs, matches[-1].string)}
