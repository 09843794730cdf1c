"""Record parsing and string munging: CSV-ish lines split and converted, log lines, key=value
pairs, JSON lines, dates, formatting reports, slugs, word counts."""
from __future__ import annotations

import collections
import datetime
import json
import re
import string

from perf.realistic.catalog import program

CITIES = ["Paris", "Lyon", "Berlin", "Madrid", "Rome", "Oslo", "Vienna", "Dublin", "Lisbon", "Prague"]
PRODUCTS = ["apple", "pear", "plum", "kiwi", "mango", "lemon", "grape", "melon", "peach", "cherry",
            "fig", "lime"]
LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR"]
WORDS = ("the quick brown fox jumps over the lazy dog while data flows through the cluster "
         "and every worker counts words lines and records of users who write python").split()


def sales_lines(n):
    """A CSV file's lines, header first: order id, city, product, unit price, quantity, date."""
    lines = ["order_id,city,product,price,qty,date"]
    for i in range(n):
        day = datetime.date(2023, 1, 1) + datetime.timedelta(days=i % 365)
        lines.append(f"{i},{CITIES[i % 10]},{PRODUCTS[(i * 7) % 12]},{(i * 37) % 1000 / 10 + 0.99:.2f},"
                     f"{1 + i % 9},{day.isoformat()}")
    return lines


def log_lines(n):
    lines = []
    for i in range(n):
        stamp = datetime.datetime(2024, 3, 1) + datetime.timedelta(seconds=17 * i)
        level = LEVELS[(i * 5) % len(LEVELS)]
        lines.append(f"{stamp:%Y-%m-%d %H:%M:%S} {level} user={i % 997} action={WORDS[i % len(WORDS)]} "
                     f"ms={(i * 13) % 500}")
    return lines


def text_of(n):
    """n words of made-up text, with punctuation and capitals."""
    out = []
    for i in range(n):
        word = WORDS[(i * i + 3 * i) % len(WORDS)]
        if i % 11 == 0:
            word = word.capitalize()
        if i % 13 == 12:
            word += ","
        if i % 29 == 28:
            word += "."
        out.append(word)
    return " ".join(out)


# --- CSV --------------------------------------------------------------------------------------

@program(200_000, make=sales_lines)
def csv_revenue_by_city(ufora, lines):
    with ufora.remotely.downloadAll():
        revenue = {}
        for line in lines[1:]:
            order_id, city, product, price, qty, date = line.split(",")
            revenue[city] = revenue.get(city, 0.0) + float(price) * int(qty)
        best_city = max(revenue, key=revenue.get)
    return revenue, best_city


@program(200_000, make=sales_lines)
def csv_rows_then_total(ufora, lines):
    with ufora.remotely.downloadAll():
        header = lines[0].split(",")
        rows = [line.split(",") for line in lines[1:]]
        total = sum(float(r[3]) * int(r[4]) for r in rows)
        big_orders = len([r for r in rows if int(r[4]) >= 8])
    return header, total, big_orders


@program(100_000, make=sales_lines)
def csv_dict_reader_style(ufora, lines):
    with ufora.remotely.downloadAll():
        names = lines[0].split(",")
        records = [dict(zip(names, line.split(","))) for line in lines[1:]]
        for r in records:
            r["price"] = float(r["price"])
            r["qty"] = int(r["qty"])
        per_product = collections.defaultdict(int)
        for r in records:
            per_product[r["product"]] += r["qty"]
        per_product = dict(sorted(per_product.items()))
    return per_product, records[-1]


@program(150_000, make=sales_lines)
def csv_monthly_totals(ufora, lines):
    with ufora.remotely.downloadAll():
        monthly = collections.Counter()
        for line in lines[1:]:
            fields = line.split(",")
            month = fields[5][:7]
            monthly[month] += round(float(fields[3]) * int(fields[4]), 2)
        report = [f"{month}: {total:12.2f}" for month, total in sorted(monthly.items())]
    return report


def parse_sale(line):
    order_id, city, product, price, qty, date = line.split(",")
    return int(order_id), city, product, float(price), int(qty), datetime.date.fromisoformat(date)


@program(100_000, make=sales_lines)
def csv_parse_function_dates(ufora, lines):
    with ufora.remotely.downloadAll():
        sales = [parse_sale(line) for line in lines[1:]]
        weekend = sum(price * qty for _, _, _, price, qty, day in sales if day.weekday() >= 5)
        first, last = min(s[5] for s in sales), max(s[5] for s in sales)
    return weekend, first, last, sales[12345 % len(sales)]


def dirty_numbers(n):
    """Numbers as a spreadsheet export has them: some blank, some with thousands separators,
    some not numbers at all."""
    cells = []
    for i in range(n):
        if i % 17 == 0:
            cells.append("")
        elif i % 23 == 0:
            cells.append("n/a")
        elif i % 5 == 0:
            cells.append(f"{i * 31:,}")
        else:
            cells.append(f" {i * 0.37:.3f} ")
    return cells


@program(600_000, make=dirty_numbers)
def parse_dirty_numbers(ufora, cells):
    with ufora.remotely.downloadAll():
        values, bad = [], 0
        for cell in cells:
            cell = cell.strip().replace(",", "")
            if not cell:
                continue
            try:
                values.append(float(cell))
            except ValueError:
                bad += 1
        mean = sum(values) / len(values)
    return len(values), bad, mean


def readings_with_a_typo(n):
    """Sensor readings, one of which was typed by hand: 12.5.3."""
    lines = [f"{i},{(i * 37) % 1000 / 8}" for i in range(n)]
    lines[n * 9 // 10] = f"{n * 9 // 10},12.5.3"
    return lines


@program(300_000, make=readings_with_a_typo)
def parse_until_bad_record(ufora, lines):
    with ufora.remotely.downloadAll():
        values = [float(line.split(",")[1]) for line in lines]
        mean = sum(values) / len(values)
    return mean


# --- logs -------------------------------------------------------------------------------------

@program(150_000, make=log_lines)
def log_level_counts(ufora, lines):
    with ufora.remotely.downloadAll():
        levels = collections.Counter(line.split()[2] for line in lines)
        errors = [line for line in lines if " ERROR " in line]
        slow_users = {int(line.split("user=")[1].split()[0]) for line in errors if int(line.rsplit("ms=", 1)[1]) > 450}
    return dict(levels), len(errors), sorted(slow_users)[:20]


LOG_PATTERN = re.compile(r"^(\S+) (\S+) (\w+) user=(\d+) action=(\w+) ms=(\d+)$")


@program(100_000, make=log_lines)
def log_regex_parse(ufora, lines):
    with ufora.remotely.downloadAll():
        per_action = {}
        for line in lines:
            m = LOG_PATTERN.match(line)
            if m is None:
                continue
            action, ms = m.group(5), int(m.group(6))
            count, total = per_action.get(action, (0, 0))
            per_action[action] = (count + 1, total + ms)
        mean_ms = {a: total / count for a, (count, total) in per_action.items()}
    return mean_ms


@program(60_000, make=log_lines)
def log_hourly_strptime(ufora, lines):
    with ufora.remotely.downloadAll():
        hours = collections.Counter()
        for line in lines:
            when = datetime.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
            hours[when.hour] += 1
        busiest = hours.most_common(3)
    return busiest, len(hours)


# --- key=value and JSON -----------------------------------------------------------------------

def settings_lines(n):
    return [f"id={i};name=item{i};weight={(i * 3) % 100 / 4};tags={'a|b' if i % 3 else 'c'}" for i in range(n)]


@program(100_000, make=settings_lines)
def key_value_records(ufora, lines):
    with ufora.remotely.downloadAll():
        items = []
        for line in lines:
            item = dict(pair.split("=", 1) for pair in line.split(";"))
            item["id"] = int(item["id"])
            item["weight"] = float(item["weight"])
            item["tags"] = item["tags"].split("|")
            items.append(item)
        heavy = [item["name"] for item in items if item["weight"] > 20 and "a" in item["tags"]]
    return len(items), heavy[:50], items[99]


def json_lines(n):
    return [json.dumps({"user": f"u{i % 5000}", "amount": (i * 7) % 250 / 10, "ok": i % 19 != 0,
                        "items": [{"sku": f"s{(i + k) % 300}", "n": k + 1} for k in range(i % 4)]})
            for i in range(n)]


@program(60_000, make=json_lines)
def json_lines_aggregate(ufora, lines):
    with ufora.remotely.downloadAll():
        events = [json.loads(line) for line in lines]
        spent = collections.defaultdict(float)
        skus = collections.Counter()
        for e in events:
            if e["ok"]:
                spent[e["user"]] += e["amount"]
                for item in e["items"]:
                    skus[item["sku"]] += item["n"]
        top_users = sorted(spent.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        top_skus = skus.most_common(5)
    return top_users, top_skus


# --- string munging ---------------------------------------------------------------------------

@program(400_000, make=text_of)
def word_frequencies(ufora, text):
    with ufora.remotely.downloadAll():
        words = [w.strip(string.punctuation).lower() for w in text.split()]
        counts = collections.Counter(w for w in words if w)
        top = counts.most_common(10)
        distinct = len(counts)
    return top, distinct


def titles(n):
    return [f"  {WORDS[i % len(WORDS)].title()} & {WORDS[(i * 3) % len(WORDS)]}: Part #{i} (draft)!  "
            for i in range(n)]


def slugify(title):
    title = title.strip().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", title)
    return slug.strip("-")


@program(100_000, make=titles)
def slugs(ufora, titles):
    with ufora.remotely.downloadAll():
        slugs = [slugify(t) for t in titles]
        unique = len(set(slugs))
        longest = max(slugs, key=len)
    return slugs[:5], unique, longest


@program(40_000)
def formatted_report(ufora, n):
    with ufora.remotely.downloadAll():
        lines = []
        for i in range(n):
            name = f"item-{i:06d}"
            value = i * 1.2345
            share = (i % 100) / 100
            lines.append(f"{name:<14}|{value:>14,.2f}|{share:>7.1%}|{hex(i):>8}")
        report = "\n".join(lines)
        checksum = sum(ord(c) for c in report) % 1_000_003
    return len(report), checksum, lines[-1]


@program(300_000, make=text_of)
def caesar_cipher(ufora, text):
    with ufora.remotely.downloadAll():
        shift = 3
        encoded = "".join(chr((ord(c) - 97 + shift) % 26 + 97) if "a" <= c <= "z" else c for c in text)
        decoded = "".join(chr((ord(c) - 97 - shift) % 26 + 97) if "a" <= c <= "z" else c for c in encoded)
        round_trip_ok = decoded == text
    return encoded[:80], round_trip_ok


@program(1_000_000, quick=200_000)
def palindromic_numbers(ufora, n):
    with ufora.remotely.downloadAll():
        count = sum(1 for x in range(n) if str(x) == str(x)[::-1])
        largest = max(x for x in range(n) if str(x) == str(x)[::-1])
    return count, largest


def emails(n):
    domains = ["example.com", "mail.org", "corp.net", "uni.edu", "shop.io"]
    return [f"{WORDS[i % len(WORDS)]}.{WORDS[(i // 7) % len(WORDS)]}{i}@{domains[(i * i) % 5]}" for i in range(n)]


@program(200_000, make=emails)
def email_domains(ufora, addresses):
    with ufora.remotely.downloadAll():
        by_domain = {}
        for address in addresses:
            user, domain = address.split("@")
            by_domain.setdefault(domain, []).append(user)
        sizes = {domain: len(users) for domain, users in by_domain.items()}
        short_users = sorted({u for users in by_domain.values() for u in users if len(u) < 12})
    return sizes, short_users[:10], len(short_users)


@program(100_000, make=lambda n: [f"order {i}: {i % 7} x {PRODUCTS[i % 12]} at {i * 0.25:.2f} EUR" for i in range(n)])
def numbers_in_text(ufora, lines):
    with ufora.remotely.downloadAll():
        total = 0.0
        for line in lines:
            numbers = re.findall(r"\d+(?:\.\d+)?", line)
            total += float(numbers[1]) * float(numbers[2])
    return total
