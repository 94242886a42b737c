"""Renderers for a report dict: terminal (rich), Markdown, HTML, JSON.

All of them format the same table specs, so the formats agree.  The HTML
is one self-contained file (inline CSS bars, no scripts, no network).
"""

from __future__ import annotations

import html
import json

from profilers.advice import fmt_bytes, fmt_ns


def _pct(x):
    return f"{100 * (x or 0):.1f}%"


def _num(x, fmt="{:.1f}"):
    return "-" if x is None else fmt.format(x)


def _key(header):
    """The row's key column (left-aligned)."""
    return (header, lambda r: r["key"], False)


def _ns(field, header=None):
    """A time column: ``row[field + "_ns"]`` formatted, right-aligned."""
    return (header or field, lambda r: fmt_ns(r[f"{field}_ns"]), True)


CALLS = ("calls", lambda r: str(r["calls"]), True)
SHARE = ("share", lambda r: _pct(r["share"]), True)
GFLOPS = ("GFLOP/s", lambda r: _num(r["gflops"]), True)


# (title, table key, [(header, fn(row) -> str, align right?)], bar field)
TABLES = [
    ("Top ops", "by_op", [
        _key("op"), CALLS, _ns("total"), _ns("mean"), _ns("p50"), _ns("p95"),
        SHARE, _ns("kernel"), _ns("dispatch"), _ns("device"), GFLOPS,
    ]),
    ("Top source lines (backward charged to its forward line)", "by_line", [
        _key("line"), CALLS, _ns("total"), _ns("forward"), _ns("backward"),
        SHARE, ("ops", lambda r: r["extra"].get("ops", ""), False),
    ]),
    ("Modules (total includes submodules; self is ops directly inside)",
     "by_module", [
        _key("module"), CALLS, _ns("total"), _ns("self"), _ns("forward"),
        _ns("backward"), SHARE,
    ]),
    ("Top input shapes", "by_shape", [
        _key("op and input shapes"), CALLS, _ns("total"), _ns("mean"), SHARE,
        GFLOPS, ("GB/s", lambda r: _num(r["gbps"]), True),
    ]),
    ("Phases", "by_phase", [
        _key("phase"), CALLS, _ns("total"), SHARE, _ns("kernel"),
        _ns("dispatch"), _ns("device"),
    ]),
    ("Devices (host time vs device timer)", "by_device", [
        _key("device"), CALLS, _ns("total", "host total"),
        _ns("kernel", "host kernel"), _ns("device", "device time"), SHARE,
    ]),
]

_FUNC = ("function", lambda r: r["function"], False)
_WHERE = ("line", lambda r: r["location"], False)

PYSPY_TABLES = [
    ("Python time outside ops (py-spy)", "outside_by_line", [
        _FUNC, _WHERE, ("samples", lambda r: str(r["samples"]), True),
        _ns("time"), SHARE,
    ]),
    ("py-spy samples by user line, next to recorded op time", "lines", [
        _FUNC, _WHERE, ("in ops", lambda r: str(r["in_op_samples"]), True),
        ("outside ops", lambda r: str(r["outside_samples"]), True),
        _ns("sampled"), _ns("op_time", "op time (profiler)"),
    ]),
]


def summary_lines(rep) -> list:
    s = rep["summary"]
    cw = s["corrected_wall_ns"] or 1
    lines = [
        f"wall time {fmt_ns(s['wall_ns'])} measured, {fmt_ns(s['corrected_wall_ns'])} "
        f"without the profiler; {s['ops']} ops"
        + (f" over {s['steps']} step(s)" if s.get("steps") else ""),
        f"in ops {fmt_ns(s['in_op_ns'])} ({_pct(s['in_op_ns'] / cw)}): kernels "
        f"{fmt_ns(s['kernel_ns'])}, eager dispatch {fmt_ns(s['dispatch_ns'])}; "
        f"forward {fmt_ns(s['forward_ns'])}, backward {fmt_ns(s['backward_ns'])}",
        f"outside ops {fmt_ns(s['outside_op_ns'])} ({_pct(s['outside_op_ns'] / cw)})",
    ]
    if s.get("device_ns") is not None:
        lines.append(f"device (GPU timers) {fmt_ns(s['device_ns'])}")
    lines.append(rep["overhead"]["statement"])
    py = rep.get("pyspy") or {}
    if py.get("status") == "ok":
        lines.append(f"py-spy: {py['samples']} samples at {py['rate_hz']} Hz: "
                     f"{py['in_op_samples']} in ops, {py['outside_samples']} "
                     f"outside ops, {py['other_samples']} other (startup, profiler)")
    elif py.get("status") not in (None, "not requested"):
        lines.append(f"py-spy {py['status']}: {py.get('reason', '')}")
    return lines


def _specs(rep):
    for title, key, cols in TABLES:
        rows = rep["tables"].get(key) or []
        if rows:
            yield title, key, cols, rows
    py = rep.get("pyspy") or {}
    if py.get("status") == "ok":
        for title, key, cols in PYSPY_TABLES:
            rows = py.get(key) or []
            if rows:
                yield title, key, cols, rows


def _title(rep):
    script = rep.get("meta", {}).get("script", "")
    return f"Profile of {script}" if script else "Profile"


# ------------------------------------------------------------ markdown --


def _md_cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(rep) -> str:
    out = [f"# {_title(rep)}", "", "## Summary", ""]
    out += [f"- {_md_cell(line)}" for line in summary_lines(rep)]
    out += ["", "## Recommendations", ""]
    recs = rep.get("recommendations") or []
    if not recs:
        out.append("No rule fired: nothing stands out.")
    for i, r in enumerate(recs, 1):
        out.append(f"{i}. **{_md_cell(r['title'])}** (up to {fmt_ns(r['impact_ns'])})")
        for e in r["evidence"]:
            out.append(f"   - {_md_cell(e)}")
        out.append(f"   - *Do:* {_md_cell(r['action'])}")
    for title, _, cols, rows in _specs(rep):
        out += ["", f"## {title}", ""]
        out.append("| " + " | ".join(c[0] for c in cols) + " |")
        out.append("|" + "|".join("---:" if c[2] else "---" for c in cols) + "|")
        for r in rows:
            out.append("| " + " | ".join(_md_cell(c[1](r)) for c in cols) + " |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- html --

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.k{font-family:ui-monospace,monospace;font-size:12.5px}
.bar{position:relative;min-width:120px}
.bar span{position:absolute;left:0;top:3px;bottom:3px;background:#9cc3f0;z-index:0}
.bar b{position:relative;z-index:1;font-weight:normal}
.rec{border-left:4px solid #e08a2e;padding:.3em .8em;margin:.7em 0;background:#fdf6ee}
.rec ul{margin:.2em 0}.do{color:#0a5}
.summary li{margin:.15em 0}
"""


def _bar_cell(text, frac):
    w = max(0.0, min(1.0, frac or 0.0)) * 100
    return (f'<td class="n bar"><span style="width:{w:.1f}%"></span>'
            f"<b>{html.escape(text)}</b></td>")


def to_html(rep) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(_title(rep))}</title><style>{_CSS}</style></head><body>",
           f"<h1>{e(_title(rep))}</h1>", "<h2>Summary</h2>", '<ul class="summary">']
    out += [f"<li>{e(line)}</li>" for line in summary_lines(rep)]
    out.append("</ul><h2>Recommendations</h2>")
    recs = rep.get("recommendations") or []
    if not recs:
        out.append("<p>No rule fired: nothing stands out.</p>")
    for r in recs:
        out.append(f'<div class="rec"><b>{e(r["title"])}</b> '
                   f"(up to {e(fmt_ns(r['impact_ns']))})<ul>")
        out += [f"<li>{e(x)}</li>" for x in r["evidence"]]
        out.append(f'<li class="do">Do: {e(r["action"])}</li></ul></div>')
    for title, key, cols, rows in _specs(rep):
        out.append(f"<h2>{e(title)}</h2><table><tr>")
        out += [f'<th class="{"n" if c[2] else ""}">{e(c[0])}</th>' for c in cols]
        out.append("</tr>")
        for r in rows:
            out.append("<tr>")
            for i, (name, fn, right) in enumerate(cols):
                text = fn(r)
                if name == "share":
                    out.append(_bar_cell(text, r.get("share")))
                elif right:
                    out.append(f'<td class="n">{e(text)}</td>')
                else:
                    out.append(f'<td class="{"k" if i == 0 else ""}">{e(text)}</td>')
            out.append("</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ terminal --


def to_terminal(rep, console=None) -> None:
    """Print the report with rich (to ``console`` or stdout)."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:        # a pipe or file: do not squeeze
            console = Console(width=max(console.width, 140))
    console.print(Panel("\n".join(summary_lines(rep)), title=_title(rep),
                        expand=False))
    recs = rep.get("recommendations") or []
    if recs:
        body = []
        for i, r in enumerate(recs, 1):
            body.append(f"[bold]{i}. {_esc(r['title'])}[/] "
                        f"(up to {fmt_ns(r['impact_ns'])})")
            body += [f"   • {_esc(x)}" for x in r["evidence"]]
            body.append(f"   [green]→ {_esc(r['action'])}[/]")
        console.print(Panel("\n".join(body), title="What to do", expand=False))
    else:
        console.print("No recommendation rule fired: nothing stands out.")
    for title, _, cols, rows in _specs(rep):
        t = Table(title=title, title_justify="left", show_lines=False)
        for name, _, right in cols:
            t.add_column(name, justify="right" if right else "left",
                         overflow="fold")
        for r in rows:
            t.add_row(*[_esc(c[1](r)) for c in cols])
        console.print(t)


def _esc(s):
    from rich.markup import escape

    return escape(str(s))


def to_text(rep, width=140) -> str:
    """The terminal report as plain text (for tests and logs)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=_Null(), color_system=None)
    to_terminal(rep, console)
    return console.export_text()


class _Null:
    def write(self, s):
        return len(s)

    def flush(self):
        pass


def to_json(rep) -> str:
    return json.dumps(rep, indent=1)


__all__ = ["to_markdown", "to_html", "to_terminal", "to_text", "to_json",
           "fmt_ns", "fmt_bytes"]
