# SPDX-License-Identifier: Apache-2.0
# Shared by the reports of bench/run.sh and bench/tree.sh: results files of "key=value" lines,
# medians, and the stage breakdown from ferry's own logs (the "stage:NAME=US" fields).
import statistics


def read_runs(path):
    """One dict per line of "key=value" fields."""
    out = []
    for line in open(path):
        if line.strip():
            out.append(dict(kv.split("=", 1) for kv in line.split()))
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def stages(rows, prefix="stage:"):
    """Median milliseconds per stage over rows, in the order the stages ran."""
    order, vals = [], {}
    for r in rows:
        for k, v in r.items():
            if k.startswith(prefix):
                name = k[len(prefix):]
                if name not in vals:
                    order.append(name)
                    vals[name] = []
                vals[name].append(int(v) / 1000.0)
    return [(n, med(vals[n])) for n in order]


def stage_text(st, total_ms=None, min_ms=0.5):
    """'a 1.2, b 30.4 (87%), ... ms': stages below min_ms are summed into 'other'."""
    if not st:
        return "(no stage timings: log missing)"
    parts, other = [], 0.0
    for name, ms in st:
        if ms < min_ms:
            other += ms
            continue
        pct = f" ({100 * ms / total_ms:.0f}%)" if total_ms else ""
        parts.append(f"{name} {ms:.1f}{pct}")
    if other:
        parts.append(f"other {other:.1f}")
    return ", ".join(parts) + " ms"


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)
