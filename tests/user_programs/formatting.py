"""String formatting of numbers: f-strings, %-formatting, format(), str(float), round()."""
import numpy as np

N = 40_000


def prog_fstring_three_decimals(ufora):
    with ufora.remotely.downloadAll():
        labels = [f"{x / 7:.3f}" for x in range(N)]
    return {"head": labels[:5], "tail": labels[-5:], "total_chars": sum(map(len, labels))}


def prog_percent_formatting(ufora):
    with ufora.remotely.downloadAll():
        rows = ["%d: %.2f%% of %s" % (i, i / 3, "total") for i in range(N)]
    return {"head": rows[:3], "tail": rows[-3:], "n": len(rows)}


def prog_format_with_thousands(ufora):
    with ufora.remotely.downloadAll():
        cells = [format(x * 1.1, ",.2f") for x in range(N)]
        widest = max(cells, key=len)
    return {"tail": cells[-3:], "widest": widest}


def prog_str_of_floats(ufora):
    with ufora.remotely.downloadAll():
        texts = [str(x / 10) for x in range(N)]
        reprs = [repr(x * 0.1) for x in range(N)]
    return {"texts": texts[::997], "reprs": reprs[::997]}


def prog_round_two_places(ufora):
    with ufora.remotely.downloadAll():
        rounded = [round(x * 0.01 + 0.005, 2) for x in range(N)]
        halves = [round(x / 2) for x in range(N)]
    return {"rounded": rounded[::331], "halves_head": halves[:12], "halves_sum": sum(halves),
            "types": sorted({type(v).__name__ for v in rounded + halves})}


def prog_numpy_floats_to_text(ufora):
    values = np.linspace(0.0, 1.0, N)
    with ufora.remotely.downloadAll():
        as_str = [str(v) for v in values]
        as_fstr = [f"{v}" for v in values]
        as_repr = [repr(v) for v in values[:30_000]]
    return {"str": as_str[::1001], "fstr": as_fstr[::1001], "repr": as_repr[::1001]}


def prog_integer_format_specs(ufora):
    with ufora.remotely.downloadAll():
        codes = [f"{i:05d}|{i:x}|{i:b}|{-i:+d}" for i in range(N)]
    return {"head": codes[:4], "tail": codes[-2:]}


def prog_join_of_generator(ufora):
    values = [i * 0.25 for i in range(N)]
    with ufora.remotely.downloadAll():
        line = ", ".join(f"{v:.1e}" for v in values)
        width = max(len(f"{v:>12.4g}") for v in values)
    return {"start": line[:80], "length": len(line), "width": width}


def prog_scientific_and_general(ufora):
    with ufora.remotely.downloadAll():
        sci = [f"{1.5 ** (i % 900):.6g}" for i in range(N)]
        percent = ["{:.1%}".format(i / N) for i in range(N)]
    return {"sci": sci[::997], "percent": percent[::997]}
