"""A run's summary for people: a few readable lines."""

from __future__ import annotations

from typing import Any


def summary_text(summary: dict[str, Any]) -> str:
    """The summary (and the ceiling, when present) as a few readable lines."""
    lines: list[str] = []
    if "chargers" in summary:
        lines += _run_text(summary)
    if (ceiling := summary.get("ceiling")) is not None:
        lat = ceiling["latency_ms"]
        lines.append(
            f"generator ceiling: at least {ceiling['rate']:.0f} msg/s with {ceiling['chargers']} "
            f"chargers sending back to back for {ceiling['seconds']:.1f} s against an in-process "
            f"echo server sharing its core ({ceiling['cores']:.2f} cores used; "
            f"p50 {_ms(lat['p50'])} p99 {_ms(lat['p99'])} ms; {ceiling['errors']} errors)"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _run_text(s: dict[str, Any]) -> list[str]:
    c, k, m, lat = s["chargers"], s["connects"], s["messages"], s["latency_ms"]
    config = s["config"]
    lines = [
        f"fleet: {c['count']} chargers ({c['ocpp16']} OCPP 1.6J, {c['ocpp201']} OCPP 2.0.1) "
        f"against {config['url']} for {s['seconds']:.1f} s (seed {config['seed']})",
        f"connected {c['connected']} at the end ({c['booted']} booted), "
        f"{c['ever_connected']} ever; {k['attempts']} connection attempts, {k['failed']} failed "
        f"({k['refused_load']} refused for load, {k['failed_other']} other), "
        f"{k['reconnects']} reconnections",
        f"messages: {m['calls']} CALLs, {m['results']} results, {m['errors']} CALLERRORs, "
        f"{m['timeouts']} timeouts, {m['connection_errors']} lost with their connection; "
        f"{m['rate']:.1f} msg/s on average, {m['peak_rate']:.1f} at peak",
        f"latency: p50 {_ms(lat['p50'])} p90 {_ms(lat['p90'])} p99 {_ms(lat['p99'])} "
        f"max {_ms(lat['max'])} ms",
    ]
    width = max((len(name) for name in s["actions"]), default=6)
    if s["actions"]:
        lines.append(
            f"  {'action':<{width}} {'calls':>8} {'results':>8} {'errors':>7} {'timeouts':>8}"
            f" {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  (ms)"
        )
    for name, a in s["actions"].items():
        al = a["latency_ms"]
        lines.append(
            f"  {name:<{width}} {a['calls']:>8} {a['results']:>8} {a['errors']:>7}"
            f" {a['timeouts']:>8} {_ms(al['p50']):>7} {_ms(al['p90']):>7} {_ms(al['p99']):>7}"
            f" {_ms(al['max']):>7}"
        )
    sessions = s["sessions"]
    lines.append(
        "sessions: "
        + ", ".join(f"{n} {what}" for what, n in sessions.items())
        + f"; status changes {s['status_changes']}"
    )
    if sessions["refused"]:
        lines.append(
            "  (refused sessions: the platform did not accept the id tags; "
            "add them, e.g. `cpo token add TAG`, or pass --id-tag)"
        )
    if s["disconnects"] or s["storms"]:
        drops = ", ".join(f"{n} {why}" for why, n in s["disconnects"].items()) or "none"
        lines.append(f"disconnects: {drops}; storms {s['storms']}")
    if s["server_calls"]:
        lines.append(
            "CSMS CALLs answered: " + ", ".join(f"{a} {n}" for a, n in s["server_calls"].items())
        )
    if k["reasons"]:
        lines.append(
            "connection failures: " + ", ".join(f"{r} ({n})" for r, n in k["reasons"].items())
        )
    for text, n in list(s["errors"].items())[:10]:
        lines.append(f"  error x{n}: {text}")
    cpu = s["cpu"]
    lines.append(f"load generator CPU: {cpu['seconds']:.1f} s, {cpu['cores'] or 0:.2f} of a core")
    if (cpu["cores"] or 0) > 0.85:
        lines.append(
            "  (the generator ran near a full core: it may be the bottleneck; "
            "compare with its ceiling, --ceiling)"
        )
    return lines
