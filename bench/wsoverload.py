"""The overload step of ``python -m bench ws``: twice the saturation rate, open loop.

What a venue must do when offered more than it can take (WS_API.md:
``EService:Busy``, back-pressure, nothing placed): answer every request in
bounded time, keep its memory bounded and never drop a client. The step
offers twice the highest rate of orders the server took earlier in the same
run (its saturation throughput: answers less refusals) for 30 seconds,
from the same clients, with no cap on requests in flight (a client sends
every request on its schedule, so a backlog cannot hide in the clients).
It reports:

* ``ack`` latency from the scheduled send (p50, p99, p99.9, max) and
  whether p99 is under one second;
* the share of answers that are ``EService:Busy``, and the rest
  (accepted, or refused by the engine);
* unanswered requests and disconnects (both must be 0);
* the server's resident memory at the start, its peak and at the end.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.wsprint import print_step

__all__ = ["OVERLOAD_SECONDS", "UNBOUNDED_INFLIGHT", "overload_summary", "saturation"]

OVERLOAD_SECONDS = 30.0
UNBOUNDED_INFLIGHT = 1 << 30
ANSWER_WITHIN_US = 1_000_000


def saturation(steps: list[dict[str, Any]]) -> int:
    """The server's saturation: the highest rate of orders taken (orders/s) in ``steps``.

    A step's achieved rate counts every answer; refusals (``EService:Busy``
    above all, which cost the server little) are taken out, in proportion,
    so that a server shedding load does not look faster than it is.
    """
    best = 0.0
    for s in steps:
        if s["acked"]:
            refused = sum(s["errors"].values())
            best = max(best, s["achieved_orders_s"] * (s["acked"] - refused) / s["acked"])
    return round(best)


def overload_summary(step: dict[str, Any], saturated: int) -> dict[str, Any]:
    """The overload figures of a finished step (see the module docstring)."""
    answered = step["acked"]
    busy = step["errors"].get("EService:Busy", 0)
    ack = step["latency_us"]["ack"]
    return {
        "saturation_orders_s": saturated,
        "offered_orders_s": step["offered_orders_s"],
        "seconds": step["seconds"],
        "answered": answered,
        "unanswered": step["unanswered"],
        "disconnects": step["disconnects"],
        "busy": busy,
        "busy_share": round(busy / answered, 3) if answered else None,
        "other_errors": {k: v for k, v in step["errors"].items() if k != "EService:Busy"},
        "ack_us": ack,
        "p99_under_1s": ack is not None and ack["p99"] < ANSWER_WITHIN_US,
        "server_rss_mb": step["server_rss_mb"],
        "server_cpu_pct": step["server_cpu_pct"],
        "other_cpu_pct": step["other_cpu_pct"],
    }


def print_overload(summary: dict[str, Any]) -> None:
    ack, rss = summary["ack_us"], summary["server_rss_mb"]
    p50 = "-" if ack is None else f"{ack['p50'] / 1000:,.0f}"
    p99 = "-" if ack is None else f"{ack['p99'] / 1000:,.0f}"
    share = summary["busy_share"]
    print(
        f"  overload: {summary['offered_orders_s']:,} orders/s offered (2x the saturation "
        f"{summary['saturation_orders_s']:,}) for {summary['seconds']:.0f} s: ack p50 {p50} ms, "
        f"p99 {p99} ms ({'under' if summary['p99_under_1s'] else 'NOT under'} 1 s); "
        f"EService:Busy {share if share is None else f'{share:.0%}'} of "
        f"{summary['answered']:,} answers; unanswered {summary['unanswered']:,}, "
        f"disconnects {len(summary['disconnects'])}; server RSS {rss['start']} -> peak "
        f"{rss['peak']} -> {rss['end']} MB",
        flush=True,
    )


def run_overload(measure: Any, load: Any, saturated: int, seconds: float) -> dict[str, Any]:
    """Offer twice ``saturated`` for ``seconds`` with no in-flight cap; the summary.

    ``measure(rate, load)`` runs one step (bench.ws.run_step for tokex).
    """
    rate = 2 * max(saturated, 1)
    step = measure(rate, replace(load, seconds=seconds, max_inflight=UNBOUNDED_INFLIGHT))
    print_step("tokex (overload)", step)
    summary = overload_summary(step, saturated)
    print_overload(summary)
    return {"summary": summary, "step": step}
