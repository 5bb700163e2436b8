"""The README's results section and the plots, made from ``bench/results/*.json`` alone.

``python -m bench report`` (and the end of ``make bench``) reads the JSON
the stages wrote, draws the PNG plots into ``bench/results/`` with
matplotlib, and rewrites the README between its ``bench:begin`` and
``bench:end`` markers. Nothing here measures: the table, the plots and the
JSON agree because the first two are made from the third, and
``tests/unit/bench/test_committed.py`` checks that the committed README
section is exactly what :func:`render` makes of the committed JSON.

Each section says which run (id, commit, build, Python) its figures come
from and how busy the machine was meanwhile; a results file no section
knows (a stage added later) is still listed with its run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

__all__ = [
    "PLOTS",
    "README",
    "RESULTS",
    "draw_plots",
    "expected_plots",
    "load_results",
    "readme_section",
    "regenerate",
    "render",
]

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

PLOTS = {
    "throughput.png": "Throughput per workload and engine (median, range over runs)",
    "latency-ccdf.png": "Latency CCDF per path (engine in-process, WebSocket, FIX)",
    "ws-latency-vs-rate.png": "WebSocket order-to-ack latency against offered rate",
    "fix-latency-vs-rate.png": "FIX order-to-ack latency against offered rate, WebSocket alongside",
    "restart-vs-journal.png": "Restart time against journal length",
}


def load_results(results: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` directly in ``results`` by name (without ``.json``), sorted."""
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(results.glob("*.json"))
    }


# --------------------------------------------------------------------------- text


def _n(x: float | int) -> str:
    return f"{round(x):,}"


def _run_line(rep: dict[str, Any]) -> str:
    meta = rep.get("meta")
    if not meta:
        return "_Run: not recorded (a result from before runs carried their metadata)._"
    sha = meta["commit"]["sha"][:10]
    dirty = " with uncommitted changes" if meta["commit"].get("dirty") else ""
    load = meta.get("load") or {}
    other = load.get("other_cores")
    busy = (
        f"; other work took {other} of {load['cores']} cores meanwhile"
        f" (load average {load['loadavg_1m_start']} to {load['loadavg_1m_end']})"
        if other is not None
        else ""
    )
    return (
        f"_Run {meta['run_id']}, commit {sha}{dirty}, {meta['build']['kind']} build,"
        f" Python {meta['python']}, fsync: {meta['fsync']}{busy}._"
    )


def _engine_section(results: dict[str, dict[str, Any]]) -> list[str]:
    engines = [r for name, r in results.items() if name.startswith("engine-")]
    if not engines:
        return []
    lines = ["### Engine in-process (risk on)", ""]
    lines += [
        "| workload | engine | build | Python | commands x runs | throughput (cmd/s) |"
        " p50 | p99 | p99.9 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rep in engines:
        lat = rep["latency_ns"]
        lo, hi = rep["throughput_range"]
        build = rep.get("meta", {}).get("build", {}).get("kind", "-")
        lines.append(
            f"| {rep['workload']} | tokex | {build} | {rep['python']} | {_n(rep['commands'])} x"
            f" {rep['runs']} | {_n(rep['throughput_cmd_s'])} [{_n(lo)}-{_n(hi)}] |"
            f" {_n(lat['p50'])} ns | {_n(lat['p99'])} ns | {_n(lat['p999'])} ns |"
        )
    lines += [""]
    seen = set()
    for rep in engines:
        line = _run_line(rep)
        if line not in seen:
            seen.add(line)
            lines += [f"{rep['workload']}: {line}", ""]
    return lines


def _row_build(name: str, row: dict[str, Any], peers: dict[str, Any]) -> str:
    """The build a peers row ran: recorded by the runner, else what is known of older runs."""
    if "build" in row:
        return str(row["build"]["kind"])
    if not name.startswith("tokex-"):
        return "-"
    if _python(row["python"]) == _python(peers.get("meta", {}).get("python", peers["python"])):
        return str(peers.get("meta", {}).get("build", {}).get("kind", "-"))
    # Before the peers' venv built tokex's core, tokex on another Python ran pure.
    return "pure"


def _python(version: object) -> str:
    return ".".join(str(version).split(".")[:2])


def _peers_section(peers: dict[str, Any]) -> list[str]:
    lines = [
        "### Peers, side by side on peer-flow",
        "",
        f"{_n(peers['commands'])} commands, {peers['runs']} interleaved rounds; every engine in"
        " a fresh process of its own.",
        "",
        "| engine | build | Python | throughput (cmd/s) | p50 | p99 | p99.9 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in peers["engines"].items():
        lat = row["latency_ns"]
        lo, hi = row["throughput_range"]
        lines.append(
            f"| {name} | {_row_build(name, row, peers)} | {row['python']} |"
            f" {_n(row['throughput_cmd_s'])} [{_n(lo)}-{_n(hi)}] |"
            f" {_n(lat['p50'])} ns | {_n(lat['p99'])} ns | {_n(lat['p999'])} ns |"
        )
    lines.append("")
    engines = peers["engines"]
    for peer, pair in peers["tokex_ratio"].items():
        ours, theirs = engines[pair["tokex"]]["python"], engines[peer]["python"]
        both = f"Python {theirs} both" if ours == theirs else f"Python {ours} and {theirs}"
        lines.append(
            f"- {pair['tokex']} ({_row_build(pair['tokex'], engines[pair['tokex']], peers)})"
            f" / {peer} ({both}): **{pair['ratio']}x** throughput, same run."
        )
    for peer, same in peers.get("equal_python_ratio", {}).items():
        python = engines[peer]["python"]
        pure = (
            f"; {same['pure']['tokex']} (pure): {same['pure']['ratio']}x" if "pure" in same else ""
        )
        lines.append(
            f"- At equal interpreter versions, {same['tokex']} ({same['build']}) / {peer}"
            f" (Python {python} both): **{same['ratio']}x**{pure}."
        )
    instr = peers.get("instructions")
    if instr:
        lines += [
            "",
            f"Machine instructions per command ({_n(instr['commands'])} commands, callgrind;"
            " steady where wall-clock time is not):",
            "",
            "| engine | instructions/command | tokex uses fewer by |",
            "|---|---|---|",
        ]
        same_instr = instr.get("equal_python_ratio", {})
        for name, n in instr["per_command"].items():
            pair = instr["tokex_ratio"].get(name)
            fewer = [f"{pair['ratio']}x ({pair['tokex']})"] if pair else []
            if name in same_instr:
                fewer.append(f"{same_instr[name]['ratio']}x ({same_instr[name]['tokex']})")
            lines.append(f"| {name} | {_n(n)} | {', '.join(fewer) or '-'} |")
    return [*lines, "", _run_line(peers), ""]


def _recovery_section(rep: dict[str, Any]) -> list[str]:
    a = rep["append_records_s"]
    lines = [
        "### Journal and recovery",
        "",
        f"{_n(rep['commands'])} records, {rep['journal_bytes'] / 1e6:.0f} MB of journal;"
        f" medians of {rep['runs']} runs.",
        "",
        "| figure | result | target |",
        "|---|---|---|",
        f"| append, fsync `off` (batches of 100) | {_n(a['off'])} records/s | - |",
        f"| append, fsync `batch` (group commit, batches of 100) | {_n(a['batch'])} records/s"
        " | - |",
        f"| append, fsync `always` | {_n(a['always'])} records/s | - |",
        f"| replay from the journal alone (read, check, decode, apply) |"
        f" {_n(rep['replay_records_s'])} records/s [{_n(rep['replay_range'][0])}-"
        f"{_n(rep['replay_range'][1])}] | 500,000 records/s |",
        f"| of which read, check and decode alone | {_n(rep['read_decode_records_s'])}"
        " records/s | - |",
        f"| snapshot at 90% plus tail ({_n(rep['commands'])} records) | {rep['restore_s']} s"
        f" [{rep['restore_range'][0]}-{rep['restore_range'][1]}] | under 3 s for 1,000,000 |",
        f"| engine pause to snapshot (fork) | {rep['snapshot_fork_pause_ms']} ms | - |",
    ]
    restarts = rep.get("restarts")
    if restarts:
        lines += [
            "",
            f"Restart against journal length: {restarts['lifetimes']} lifetimes of"
            f" {_n(restarts['records_per_lifetime'])} records on one data directory, a snapshot"
            f" once {_n(restarts['snapshot_records'])} records follow the newest; the node opened"
            f" {restarts['runs']} times before each lifetime (median [range]):",
            "",
            "| journal records | journal on disk | restart | records replayed |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {_n(r['journal_records'])} | {r['journal_mb']} MB | {r['restart_s']} s"
            f" [{r['restart_range'][0]}-{r['restart_range'][1]}] | {_n(r['replayed'])} |"
            for r in restarts["restarts"]
        ]
    return [*lines, "", _run_line(rep), ""]


def _med(d: dict[str, Any] | None, scale: float = 1.0, digits: int = 1) -> str:
    if not d:
        return "-"

    def f(x: float) -> str:
        return f"{x / scale:,.{digits}f}" if digits else _n(x / scale)

    if d["min"] == d["max"]:
        return f(d["median"])
    return f"{f(d['median'])} [{f(d['min'])}-{f(d['max'])}]"


def _e2e_section(rep: dict[str, Any], title: str) -> list[str]:
    lines = [
        f"### {title}",
        "",
        f"{rep['clients']} clients, {rep['seconds']} s per step at a fixed offered rate (open"
        f" loop), a fresh server each step; {rep['runs']} runs, medians [range]. Held:"
        f" {rep['held_rule']}.",
        "",
        "| target | offered/s | achieved/s | ack p50 ms | ack p99 ms | exec p99 ms | held |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {target} | {_n(row['offered_orders_s'])} |"
        f" {_med(row['achieved_orders_s'], digits=0)} |"
        f" {_med(row.get('ack_p50_us'), 1000, 2)} | {_med(row.get('ack_p99_us'), 1000, 2)}"
        f" | {_med(row.get('exec_p99_us'), 1000, 2)} | {row['held']}/{row['runs']} |"
        for target, entry in rep["targets"].items()
        for row in entry["rates"]
    ]
    swept = {t: e for t, e in rep["targets"].items() if e.get("sweeps")}
    if swept:
        lines.append("")
        for target, entry in swept.items():
            sw = entry["sweeps"][-1]
            bound = f", stopped after {len(sw['steps'])} steps" if sw.get("bounded") else ""
            held = _n(sw["max_held_orders_s"]) + "/s" if sw["max_held_orders_s"] else "none"
            lines.append(
                f"- {target}: highest rate held {held} (first not held:"
                f" {_n(sw['first_not_held_orders_s'] or 0)}/s{bound})."
            )
    return [*lines, "", _run_line(rep), ""]


def _settlement_section(rep: dict[str, Any]) -> list[str]:
    lines = [
        "### Settlement",
        "",
        f"The worker alone booking {_n(rep['trades'])} queued trades, and each trade's lag"
        f" (queued to booked) while `tokex serve` takes {_n(rep['offered_orders_s'])} orders/s"
        f" offered; {rep['runs']} runs, medians [range].",
        "",
        "| backend | booked/s, worker alone | trades/s under load | lag p50 ms | lag p99 ms |",
        "|---|---|---|---|---|",
    ]

    def mr(d: dict[str, Any]) -> str:
        lo, hi = d["range"]
        return f"{d['median']:,} [{lo:,}-{hi:,}]"

    for backend, b in rep["backends"].items():
        alone, under = b["worker_alone"], b["under_load"]
        lines.append(
            f"| {backend} | {_n(alone['trades_per_s'])} [{_n(alone['range'][0])}-"
            f"{_n(alone['range'][1])}] | {mr(under['trades_per_s'])} |"
            f" {mr(under['lag_p50_ms'])} | {mr(under['lag_p99_ms'])} |"
        )
    for backend, why in (rep.get("not_measured") or {}).items():
        lines.append(f"| {backend} | not measured: {why} | | | |")
    return [*lines, "", _run_line(rep), ""]


Section = Callable[[dict[str, dict[str, Any]]], list[str]]


def _one(name: str, fn: Callable[[dict[str, Any]], list[str]]) -> Section:
    return lambda results: fn(results[name]) if name in results else []


SECTIONS: list[tuple[str, Section]] = [
    ("engine-", _engine_section),
    ("peers", _one("peers", _peers_section)),
    ("recovery", _one("recovery", _recovery_section)),
    ("ws", _one("ws", lambda r: _e2e_section(r, "WebSocket end to end"))),
    ("fix", _one("fix", lambda r: _e2e_section(r, "FIX end to end"))),
    ("settlement", _one("settlement", _settlement_section)),
]
"""Result names (or prefixes) each README section is made from, in order."""


def render(results: dict[str, dict[str, Any]]) -> str:
    """The README's results section (markdown) from the results by name."""
    plots = expected_plots(results)
    runs = sorted({r["meta"]["run_id"] for r in results.values() if r.get("meta")})
    metas = [r["meta"] for r in results.values() if r.get("meta")]
    lines = ["_Made by `make bench` from `bench/results/*.json`; do not edit by hand._", ""]
    if metas:
        # Sections may come from runs on different machines: say which ran where.
        where: dict[str, set[str]] = {}
        for m in metas:
            where.setdefault(f"{m['machine']}; Python {m['python']}", set()).add(m["run_id"])
        if len(where) == 1:
            lines += [f"Machine: {next(iter(where))}; runs: {', '.join(runs)}.", ""]
        else:
            parts = [f"{k} (runs {', '.join(sorted(v))})" for k, v in sorted(where.items())]
            lines += [f"Machines: {'; '.join(parts)}.", ""]
    if plots:
        lines += [
            " ".join(f"[![{PLOTS[p]}](bench/results/{p})](bench/results/{p})" for p in plots),
            "",
        ]
    known: set[str] = set()
    for key, section in SECTIONS:
        lines += section(results)
        known |= {n for n in results if n == key or (key.endswith("-") and n.startswith(key))}
    others = [n for n in results if n not in known]
    if others:
        lines += ["Other results:", ""]
        for name in others:
            lines.append(f"- `bench/results/{name}.json`: {_run_line(results[name])}")
        lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def update_readme(body: str, readme: Path = README) -> None:
    """Replace what stands between the README's bench markers with ``body``."""
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}", encoding="utf-8")


def readme_section(readme: Path = README) -> str:
    """What stands between the README's bench markers now."""
    text = readme.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


# --------------------------------------------------------------------------- plots


def _fraction_above(points: list[list[float]], count: int) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for pct, value in points:
        above = 1.0 - pct / 100.0
        if above <= 0:
            above = 1.0 / max(count, 1)
        xs.append(float(value))
        ys.append(above)
    return xs, ys


def _median_step(steps: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The run whose p99 of ``kind`` is the median one (the CCDF drawn for a rate)."""
    having = [s for s in steps if (s.get("latency_ccdf_us") or {}).get(kind)]
    if not having:
        return None
    having.sort(key=lambda s: s["latency_us"][kind]["p99"])
    return having[len(having) // 2]


def expected_plots(results: dict[str, dict[str, Any]]) -> list[str]:
    """The plots the results allow, in :data:`PLOTS` order (what :func:`draw_plots` draws)."""
    engines = any(n.startswith("engine-") for n in results)
    have = {
        "throughput.png": engines or "peers" in results,
        "latency-ccdf.png": any(
            n.startswith("engine-") and r.get("latency_ccdf_ns") for n, r in results.items()
        )
        or any(
            (s.get("latency_ccdf_us") or {}).get(kind)
            for b in ("ws", "fix")
            for e in (results.get(b) or {}).get("targets", {}).values()
            for s in e["rates"][0]["steps"]
            for kind in ("ack", "exec")
        ),
        "ws-latency-vs-rate.png": "ws" in results,
        "fix-latency-vs-rate.png": "fix" in results,
        "restart-vs-journal.png": bool((results.get("recovery") or {}).get("restarts")),
    }
    return [p for p in PLOTS if have[p]]


def draw_plots(results: dict[str, dict[str, Any]], out: Path = RESULTS) -> list[str]:
    """Draw every plot the results allow into ``out``; the file names drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn: list[str] = []
    runs = sorted({r["meta"]["run_id"] for r in results.values() if r.get("meta")})
    note = f"run {', '.join(runs)}" if runs else ""

    def save(fig: Any, name: str) -> None:
        fig.text(0.99, 0.005, note, ha="right", va="bottom", fontsize=7, color="grey")
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        drawn.append(name)

    # Throughput per workload and engine.
    bars: list[tuple[str, float, float, float]] = []
    for name, rep in results.items():
        if name.startswith("engine-"):
            lo, hi = rep["throughput_range"]
            build = rep.get("meta", {}).get("build", {}).get("kind", "")
            label = f"{rep['workload']} · tokex ({build})" if build else rep["workload"]
            bars.append((label, rep["throughput_cmd_s"], lo, hi))
    if "peers" in results:
        for engine, row in results["peers"]["engines"].items():
            lo, hi = row["throughput_range"]
            bars.append((f"peer-flow · {engine}", row["throughput_cmd_s"], lo, hi))
    if bars:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(bars) + 1.5))
        ys = list(range(len(bars)))[::-1]
        med = [b[1] / 1000 for b in bars]
        err = [[(b[1] - b[2]) / 1000 for b in bars], [(b[3] - b[1]) / 1000 for b in bars]]
        colors = ["tab:blue" if "tokex" in b[0] else "tab:grey" for b in bars]
        ax.barh(ys, med, xerr=err, color=colors, capsize=3)
        ax.set_yticks(ys, [b[0] for b in bars], fontsize=8)
        ax.set_xlabel("thousand commands/s (median; bar: range over runs)")
        ax.set_title("Engine throughput per workload and engine (risk on for tokex)")
        save(fig, "throughput.png")

    # Latency CCDF per path.
    curves: list[tuple[str, list[float], list[float]]] = []
    for name, rep in results.items():
        if name.startswith("engine-") and rep.get("latency_ccdf_ns"):
            c = rep["latency_ccdf_ns"]
            xs, ys2 = _fraction_above(c["points"], c["count"])
            curves.append((f"engine {rep['workload']} (per command)", [x / 1000 for x in xs], ys2))
    for bench, label in (("ws", "WebSocket"), ("fix", "FIX")):
        e2e = results.get(bench)
        if not e2e:
            continue
        for target, entry in e2e["targets"].items():
            row = entry["rates"][0]
            for kind in ("ack", "exec"):
                step = _median_step(row["steps"], kind)
                if step is None:
                    continue
                c = step["latency_ccdf_us"][kind]
                xs, ys2 = _fraction_above(c["points"], c["count"])
                curves.append(
                    (f"{label} run: {target} {kind} at {_n(row['offered_orders_s'])}/s", xs, ys2)
                )
    if curves:
        fig, ax = plt.subplots(figsize=(8, 5))
        for label, xs, ys2 in curves:
            ax.step(xs, ys2, where="post", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latency, µs")
        ax.set_ylabel("fraction of commands slower")
        ax.set_title("Latency CCDF per path")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, "latency-ccdf.png")

    # Latency against offered rate, WebSocket and FIX.
    for bench, title in (
        ("ws", "WebSocket: order to ack against offered rate"),
        ("fix", "FIX: order to ack against offered rate (WebSocket in the same run)"),
    ):
        e2e = results.get(bench)
        if not e2e:
            continue
        fig, ax = plt.subplots(figsize=(8, 5))
        for target, entry in e2e["targets"].items():
            for key, style in (("ack_p50_us", "--"), ("ack_p99_us", "-")):
                rows = [r for r in entry["rates"] if r.get(key)]
                if not rows:
                    continue
                xs = [r["offered_orders_s"] for r in rows]
                med = [r[key]["median"] / 1000 for r in rows]
                err = [
                    [(r[key]["median"] - r[key]["min"]) / 1000 for r in rows],
                    [(r[key]["max"] - r[key]["median"]) / 1000 for r in rows],
                ]
                ax.errorbar(
                    xs, med, yerr=err, fmt="o" + style, capsize=3, label=f"{target} {key[4:7]}"
                )
        ax.axhline(5, color="red", lw=0.8, ls=":", label="5 ms target (p99)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered orders/s")
        ax.set_ylabel("ack latency, ms (median over runs; bar: range)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, f"{bench}-latency-vs-rate.png")

    # Restart time against journal length.
    restarts = (results.get("recovery") or {}).get("restarts")
    if restarts:
        rows = restarts["restarts"]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        xs = [r["journal_records"] / 1000 for r in rows]
        med = [r["restart_s"] for r in rows]
        err = [
            [r["restart_s"] - r["restart_range"][0] for r in rows],
            [r["restart_range"][1] - r["restart_s"] for r in rows],
        ]
        ax.errorbar(xs, med, yerr=err, fmt="o-", capsize=3, label="restart (median, range)")
        ax2 = ax.twinx()
        gaps = [b - a for a, b in pairwise(xs) if b > a]
        width = 0.4 * min(gaps) if gaps else 1.0
        ax2.bar(xs, [r["replayed"] / 1000 for r in rows], width=width, alpha=0.25, color="grey")
        ax2.set_ylabel("thousand records replayed after the snapshot", color="grey")
        ax.set_xlabel("journal length, thousand records")
        ax.set_ylabel("restart, s")
        ax.set_title("Restart time against journal length")
        ax.grid(True, alpha=0.3)
        save(fig, "restart-vs-journal.png")
    return drawn


def regenerate(results: Path = RESULTS, readme: Path = README) -> list[str]:
    """Plots and the README section from the JSON in ``results``; what was done, as lines."""
    loaded = load_results(results)
    if not loaded:
        raise SystemExit(f"{results}: no results (*.json) to report")
    drawn = draw_plots(loaded, results)
    expected = expected_plots(loaded)
    if drawn != expected:
        raise RuntimeError(f"plots drawn {drawn} are not the ones expected {expected}")
    update_readme(render(loaded), readme)
    return [f"plots: {', '.join(drawn)}", f"README: results section from {len(loaded)} files"]
