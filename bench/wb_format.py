"""wb_format: how numbers are written, shared by report, compare and
reproduce (times in ns internally; ratios A/B, < 1 faster)."""

import math

from wb_parse import TIME_UNIT_NS


def _nan(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def time_unit_for(ns):
    a = abs(ns)
    if a >= 1e9:
        return "s"
    if a >= 1e6:
        return "ms"
    if a >= 1e3:
        return "us"
    return "ns"


def fmt_sig(x, digits=3):
    if _nan(x):
        return "–"
    if x == 0:
        return "0"
    mag = int(math.floor(math.log10(abs(x))))
    if mag >= 6 or mag < -4:
        return "%.*g" % (digits, x)
    return "%.*f" % (max(0, digits - 1 - mag), x)


def fmt_time(ns, unit=None):
    if _nan(ns):
        return "–"
    unit = unit or time_unit_for(ns)
    return "%s %s" % (fmt_sig(ns / TIME_UNIT_NS[unit]), unit)


def fmt_num(x):
    if _nan(x):
        return "–"
    if float(x).is_integer() and abs(x) < 1e15:
        return "%d" % int(x)
    return fmt_sig(x, 4)


def fmt_p(p):
    if _nan(p):
        return "–"
    if p < 1e-4:
        return "%.1e" % p
    return "%.2g" % p if p < 0.01 else "%.3f" % p


def fmt_ratio(r):
    if _nan(r):
        return "–"
    return "%.3f×" % r


def fmt_ratio_ci(r):
    """'0.880× [0.84, 0.92]' from a wb_stats.Ratio (None: '–')."""
    if r is None or not r.valid:
        return "–"
    if r.lo is None:
        return "%.3f× (no CI%s)" % (r.ratio, ": one launch" if r.one_launch else "")
    return "%.3f× [%.3f, %.3f]%s" % (r.ratio, r.lo, r.hi, " ‡" if r.one_launch else "")


def fmt_pct(x):
    if _nan(x):
        return "–"
    return "%.1f %%" % (100 * x)


def fmt_metric(metric, v, unit=None):
    if metric == "time_ns":
        return fmt_time(v, unit)
    return fmt_sig(v)


def fmt_ci(ci, metric="time_ns", unit=None):
    if ci is None:
        return "n/a"
    if metric == "time_ns":
        unit = unit or time_unit_for(ci[0])
        return "[%s, %s] %s" % (fmt_sig(ci[0] / TIME_UNIT_NS[unit]),
                                fmt_sig(ci[1] / TIME_UNIT_NS[unit]), unit)
    return "[%s, %s]" % (fmt_sig(ci[0]), fmt_sig(ci[1]))


def text_table(header, rows):
    widths = [len(h) for h in header]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(md_escape(c) for c in r) + " |")
    return out
