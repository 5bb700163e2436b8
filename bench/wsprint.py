"""The console table of ``python -m bench ws`` (one line per step, then a summary)."""

from __future__ import annotations

from typing import Any

__all__ = ["print_header", "print_step", "print_summary"]


def _fmt(lat: dict[str, int] | None, key: str) -> str:
    return "-" if lat is None else f"{lat[key] / 1000:,.2f}"


def print_step(target: str, step: dict[str, Any]) -> None:
    lat = step["latency_us"]
    ack, ex = lat["ack"], lat["exec"]
    bad = sum(step["errors"].values()) + len(step["disconnects"]) + step["unanswered"]
    print(
        f"  {target:<21}{step['offered_orders_s']:>9,}{step['achieved_orders_s']:>9,}"
        f"{_fmt(ack, 'p50'):>10}{_fmt(ack, 'p99'):>10}{_fmt(ack, 'p999'):>10}"
        f"{_fmt(ack, 'max'):>10}{_fmt(ex, 'p99'):>10}{bad:>7}{step['server_cpu_pct']:>5}%"
        f"{step['generator_cpu_pct']:>5}%{step['other_cpu_pct']:>5}%"
        f"  {'held' if step['held'] else '-'}",
        flush=True,
    )
    by_process = step.get("cpu_pct_by_process") or {}
    if len(by_process) > 1 or step.get("fsync_us"):
        cpu = ", ".join(
            f"{name} {pct}% ({step['cpu_us_per_order'][name]} us/order)"
            for name, pct in by_process.items()
        )
        fsync = step.get("fsync_us") or {}
        print(
            f"{'':>8}  cpu: {cpu}; disk fsync p50 {fsync.get('p50', '-')} us,"
            f" p99 {fsync.get('p99', '-')} us",
            flush=True,
        )


def print_header() -> None:
    print(
        f"  {'target':<21}{'offered':>9}{'achieved':>9}{'ack p50':>10}{'p99':>10}{'p99.9':>10}"
        f"{'max':>10}{'exec p99':>10}{'errors':>7}{'srv':>6}{'gen':>6}{'other':>6}\n"
        "  (orders/s; latency in ms from the scheduled send; errors: failed, unanswered or\n"
        "  disconnected; CPU in % of one core: the server, all generators, other processes)",
        flush=True,
    )


def print_summary(report: dict[str, Any]) -> None:
    print(
        f"\nbench ws: {report['clients']} clients over {report['procs']} generator processes, "
        f"{report['seconds']} s per rate; {report['machine']}; Python {report['python']}"
    )
    for target, entry in report["targets"].items():
        if "sweep" in entry:
            found = entry["sweep"]
            print(
                f"  {target}: highest rate held {found['max_held_orders_s']:,} orders/s "
                f"(not held at {found['first_not_held_orders_s'] or '-'})"
            )
    if "ratio_max_held" in report:
        print(f"  tokex / peer highest held rate: {report['ratio_max_held']}x (target >= 20x)")
    print(f"  took {report['elapsed_s']} s")
