"""A self-contained HTML report of an eval run: scoreboard, charts (inline SVG, no scripts), every case."""

from __future__ import annotations

from html import escape
from typing import Any

from evals.scoreboard import STATUSES, percentile

COLORS = {
    "completed": "#2e7d32",
    "escalated": "#f9a825",
    "denied": "#c62828",
    "rejected": "#6a1b9a",
    "shadowed": "#00838f",
    "interrupted": "#1565c0",
    "invalid_input": "#757575",
    "error": "#000000",
}
STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.fail{background:#fdecea}.pass{background:#edf7ed}h2{margin-top:1.6em}svg text{font:11px sans-serif}"""


def outcome_bars(board: dict[str, Any]) -> str:
    """One horizontal stacked bar per workflow: its cases by outcome."""
    rows, width = board["workflows"], 520
    height = 30 * len(rows) + 40
    parts = [f'<svg width="{width + 160}" height="{height}" role="img" aria-label="outcomes per workflow">']
    for i, (name, m) in enumerate(rows.items()):
        y, x = 10 + 30 * i, 120.0
        parts.append(f'<text x="0" y="{y + 15}">{escape(name)} ({m["cases"]})</text>')
        for status in STATUSES:
            count = m["outcomes"].get(status, 0)
            w = width * count / max(m["cases"], 1)
            if count:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" fill="{COLORS[status]}">'
                    f"<title>{status}: {count}</title></rect>"
                )
                if w > 18:
                    parts.append(f'<text x="{x + 3:.1f}" y="{y + 14}" fill="#fff">{count}</text>')
            x += w
    legend_y = 20 + 30 * len(rows)
    for j, status in enumerate(STATUSES):
        parts.append(
            f'<rect x="{120 + 95 * j}" y="{legend_y}" width="10" height="10" fill="{COLORS[status]}"/>'
            f'<text x="{134 + 95 * j}" y="{legend_y + 9}">{status}</text>'
        )
    return "".join(parts) + "</svg>"


def _edges(low: float, high: float, bins: int, log: bool) -> list[float]:
    """Bin edges from ``low`` to ``high``: evenly spaced, or evenly on a log scale."""
    if log:
        return [low * (high / low) ** (i / bins) for i in range(bins + 1)]
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def histogram(values: list[float], label: str, *, bins: int = 12) -> str:
    """A histogram of ``values`` as an SVG, every bin labelled with its range, and p50 / p95 / max beside it.

    Values spanning more than a factor of 20 get log-scale bins, so one slow outlier does not squash the rest into
    a single bar. Values without spread (all the same, e.g. every cost 0 on the rules model) get a sentence, not a
    chart of one bar."""
    if not values:
        return f"<p>No {escape(label)} values.</p>"
    low, high = min(values), max(values)
    summary = (
        f"<p>{len(values)} runs: p50 {percentile(values, 0.5):.4g}, p95 {percentile(values, 0.95):.4g},"
        f" max {high:.4g} {escape(label)}</p>"
    )
    if high == low:
        return f"<p>All {len(values)} runs: {low:.4g} {escape(label)} (no spread, so no chart).</p>"
    log = low > 0 and high / low > 20
    edges = _edges(low, high, bins, log)
    counts = [0] * bins
    for value in values:
        index = next((i for i in range(bins) if value < edges[i + 1]), bins - 1)
        counts[index] += 1
    top, width, height = max(counts), 44, 140
    scale = "log scale" if log else "linear scale"
    parts = [f'<svg width="{bins * width + 60}" height="{height + 90}" role="img" aria-label="{escape(label)}">']
    for i, count in enumerate(counts):
        h = height * count / top
        x = 40 + i * width
        parts.append(
            f'<rect x="{x}" y="{height - h + 10:.1f}" width="{width - 4}" height="{h:.1f}" fill="#1565c0">'
            f"<title>{edges[i]:.4g}–{edges[i + 1]:.4g}: {count}</title></rect>"
        )
        if count:
            parts.append(f'<text class="n" x="{x + 2}" y="{height - h + 6:.1f}">{count}</text>')
        parts.append(
            f'<text x="{x + 4}" y="{height + 16}" transform="rotate(45 {x + 4} {height + 16})">{edges[i]:.3g}</text>'
        )
    parts.append(f'<text x="40" y="{height + 84}">{escape(label)} per bin ({scale}; lower edge shown)</text>')
    return summary + "".join(parts) + "</svg>"


def render(board: dict[str, Any], *, title: str, gate_problems: list[str] | None = None) -> str:
    head = (
        "<tr><th>workflow</th><th>cases</th><th>pass</th><th>completion</th><th>escalation</th>"
        "<th>silent failures</th><th>policy violations</th><th>tools/run</th><th>USD per completed</th>"
        "<th>p50 ms</th><th>p95 ms</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{m['cases']}</td><td>{m['pass_rate']:.0%}</td>"
        f"<td>{m['completion_rate']:.0%}</td><td>{m['escalation_rate']:.0%}</td><td>{m['silent_failures']}</td>"
        f"<td>{m['policy_violations']}</td><td>{m['avg_tool_calls']:.2f}</td><td>{m['cost_per_completed_usd']}</td>"
        f"<td>{m['latency_p50_ms']}</td><td>{m['latency_p95_ms']}</td></tr>"
        for name, m in [*board["workflows"].items(), ("overall", board["overall"])]
    )
    cases = "".join(
        f"<tr class='{'pass' if c['passed'] else 'fail'}'><td>{escape(c['workflow'])}/{escape(c['id'])}</td>"
        f"<td>{'pass' if c['passed'] else 'FAIL'}</td><td>{c['dataset']}</td><td>{c['status']}</td>"
        f"<td>{escape(c['reason_code'] or '—')}</td>"
        f"<td>{c['tool_calls']}</td><td>{c['cost_usd']}</td><td>{c['latency_ms']}</td><td style='text-align:left'>"
        + "<br>".join(
            f"{'✓' if v['passed'] else '✗'} {escape(k)}: {escape(v['comment'])}"
            for k, v in c["verdicts"].items()
            if not v["passed"]
        )
        + "</td></tr>"
        for c in board["cases"]
    )
    gate = (
        ""
        if gate_problems is None
        else (
            "<p class='pass'>Gate: passed.</p>"
            if not gate_problems
            else "<div class='fail'><b>Gate failed:</b><ul>"
            + "".join(f"<li>{escape(p)}</li>" for p in gate_problems)
            + "</ul></div>"
        )
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{STYLE}"
        f"</style></head><body><h1>{escape(title)}</h1>{gate}<h2>Scoreboard</h2><table>{head}{rows}</table>"
        f"<h2>Outcomes per workflow</h2>{outcome_bars(board)}"
        f"<h2>Cost per run (USD)</h2>{histogram([float(c['cost_usd']) for c in board['cases']], 'cost USD')}"
        f"<h2>Latency per run (ms)</h2>{histogram([c['latency_ms'] for c in board['cases']], 'latency ms')}"
        "<h2>Cases</h2><table><tr><th>case</th><th>result</th><th>dataset</th><th>status</th><th>reason</th><th>tools</th>"
        f"<th>USD</th><th>ms</th><th>failed checks</th></tr>{cases}</table></body></html>"
    )
