"""The committed benchmark results agree: README table, plots and JSON (docs/BENCH.md)."""

from __future__ import annotations

from bench.report import (
    PLOTS,
    README,
    RESULTS,
    expected_plots,
    load_results,
    readme_section,
    render,
)

STAGE_FILES = {
    "engine-peer-flow",
    "engine-ecore-mix",
    "engine-xstocks",
    "peers",
    "recovery",
    "ws",
    "fix",
    "settlement",
}


def test_the_readme_results_section_is_what_the_committed_json_renders_to() -> None:
    results = load_results(RESULTS)
    assert set(results) >= STAGE_FILES, sorted(results)
    assert readme_section(README) == render(results)


def test_every_committed_result_says_where_and_how_it_ran() -> None:
    results = load_results(RESULTS)
    for name in STAGE_FILES:
        meta = results[name]["meta"]
        for key in ("run_id", "machine", "python", "fsync", "config", "load"):
            assert meta[key], (name, key)
        assert meta["build"]["kind"] in ("pure", "compiled"), name
        assert len(meta["commit"]["sha"]) == 40, name
        assert meta["load"]["other_cores"] is not None, name
    # One make bench run made the set the README shows.
    assert len({results[n]["meta"]["run_id"] for n in STAGE_FILES}) == 1


def test_every_plot_the_readme_links_is_committed_and_made_from_this_json() -> None:
    results = load_results(RESULTS)
    section = readme_section(README)
    plots = expected_plots(results)
    assert plots == list(PLOTS)
    for name in plots:
        path = RESULTS / name
        assert f"(bench/results/{name})" in section
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    # The README links the plots relative to itself.
    assert (README.parent / "bench" / "results" / plots[0]).exists()
