"""The operator console in a real browser: Debian's chromium, headless, driven by selenium.

One ``tokex serve`` (simulated clock, Monday 10:00 ET) and one browser for
the module; each test loads the page afresh (a reload forgets the key).
Orders come from real WebSocket clients; what the page does is checked on
the page and, for its actions, on the WebSocket API itself. Screenshots at
1280x800 and at phone width are saved under the test's tmp path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.console.browser import chromium
from tests.integration.console.serving import Served, console_server, limit
from tests.integration.gateway.ws.client import Client, connect, pushes_until_pong, run_within

SYMBOL = "AAPLx/USD"
WAIT_S = 15


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with console_server(tmp_path_factory.mktemp("data")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory.mktemp("profile")) as driver:
        yield driver


def until(driver: webdriver.Chrome, what: str, check: Callable[[], Any]) -> Any:
    """Wait for ``check()`` to be truthy; fail naming ``what`` (and the page's activity)."""

    def probe(_: object) -> Any:
        try:
            return check()
        except Exception:  # an element replaced while read: look again
            return None

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(probe)
    except Exception:
        activity = driver.find_element(By.ID, "activity").text
        error = driver.find_element(By.ID, "login-error").text
        raise AssertionError(
            f"waited for {what}; activity: {activity!r}; error: {error!r}"
        ) from None


def log_in(driver: webdriver.Chrome, served: Served, key: str, secret: str) -> None:
    driver.get(served.url)
    until(driver, "the settings", lambda: "console" in driver.title)
    driver.find_element(By.ID, "api-key").send_keys(key)
    driver.find_element(By.ID, "api-secret").send_keys(secret)
    driver.find_element(By.ID, "login-button").click()


def login_error(driver: webdriver.Chrome) -> str:
    box = driver.find_element(By.ID, "login-error")
    until(driver, "the login error", box.is_displayed)
    return str(box.text)


def ladder(driver: webdriver.Chrome) -> dict[tuple[str, str], str]:
    """The ladder as shown: (side, price) -> quantity."""
    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#ladder tbody tr[data-side]"):
        side, price = row.get_attribute("data-side"), row.get_attribute("data-price")
        out[(str(side), str(price))] = row.find_element(By.CSS_SELECTOR, ".qty").text
    return out


def row(driver: webdriver.Chrome, symbol: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'#instruments tbody tr[data-symbol="{symbol}"]')


def confirm(driver: webdriver.Chrome, button: str) -> None:
    """Click an action button and confirm it in the page's dialog."""
    driver.find_element(By.ID, button).click()
    dialog = driver.find_element(By.ID, "confirm")
    until(driver, "the confirmation dialog", dialog.is_displayed)
    driver.find_element(By.ID, "confirm-ok").click()


def activity(driver: webdriver.Chrome, words: str) -> str:
    """The first activity line containing ``words`` (waited for)."""

    def found() -> str | None:
        for item in driver.find_elements(By.CSS_SELECTOR, "#activity li"):
            if words in item.text:
                return str(item.get_attribute("class")) + " " + str(item.text)
        return None

    return str(until(driver, f"activity {words!r}", found))


async def phase_push(watcher: Client, symbol: str, phase: str) -> None:
    """Read the watcher's instrument channel until ``symbol`` is pushed in ``phase``."""
    while True:
        msg = await watcher.recv()
        if msg.get("channel") == "instrument" and msg.get("type") == "update":
            for pair in msg["data"]["pairs"]:
                if pair["symbol"] == symbol and pair["phase"] == phase:
                    return


def test_a_wrong_key_or_secret_is_refused_with_a_clear_message(
    served: Served, browser: webdriver.Chrome
) -> None:
    log_in(browser, served, "ops-key", "not-the-secret")
    text = login_error(browser)
    assert "secret does not match" in text and "EAPI:Invalid signature" in text, text
    assert not browser.find_element(By.ID, "console").is_displayed()
    log_in(browser, served, "nobody-key", "whatever")
    text = login_error(browser)
    assert "no account has this API key" in text and "EAPI:Invalid key" in text, text
    assert not browser.find_element(By.ID, "console").is_displayed()


def test_a_trader_key_cannot_act_as_an_operator(served: Served, browser: webdriver.Chrome) -> None:
    log_in(browser, served, "alice-key", "dG9rZXggZGVtbyBzZWNyZXQgb2YgYWxpY2U=")
    text = login_error(browser)
    assert "alice" in text and "trader" in text and "operator account" in text, text
    assert not browser.find_element(By.ID, "console").is_displayed()

    # Whatever a page does, the API refuses a trader the operator's methods.
    async def as_trader() -> None:
        alice, bob = await connect(served.ws_port), await connect(served.ws_port)
        await alice.login("alice")
        await bob.login("bob")
        placed = await bob.call("add_order", **limit("sell", "1", "255.00", "TSLAx/USD"))
        assert placed["success"], placed
        for method, params in [
            ("halt", {"symbol": "TSLAx/USD"}),
            ("kill_switch", {"account": "bob", "enabled": True}),
            ("clock_advance", {"seconds": 1}),
            ("mass_cancel", {"account": "bob"}),
        ]:
            refused = await alice.call(method, **params)
            assert refused["error"] == "EGeneral:Permission denied", refused
        # A trader's cancel_all takes no account: naming one is refused, nothing cancelled.
        mine = await alice.call("cancel_all", account="bob")
        assert mine["error"] == "EGeneral:Invalid arguments:account: not a parameter of cancel_all"
        await bob.call("subscribe", channel="executions")
        pushed = await pushes_until_pong(bob)
        snapshot = next(m for m in pushed if m.get("channel") == "executions")
        assert [o["order_id"] for o in snapshot["data"]] == [placed["result"]["order_id"]]
        await bob.call("cancel_all")
        for client in (alice, bob):
            await client.ws.close()

    run_within(as_trader())


def test_the_operator_sees_the_market_and_acts_on_it(
    served: Served, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run = loop.run_until_complete

    async def clients() -> tuple[Client, Client, Client, dict[str, Any]]:
        alice, bob = await connect(served.ws_port), await connect(served.ws_port)
        watcher = await connect(served.ws_port)
        await alice.login("alice")
        await bob.login("bob")
        await watcher.call("subscribe", channel="instrument")
        snapshot = next(m for m in await pushes_until_pong(watcher) if "channel" in m)
        pair = next(p for p in snapshot["data"]["pairs"] if p["symbol"] == SYMBOL)
        return alice, bob, watcher, pair

    alice, bob, watcher, pair = run(clients())

    def wait_phase(phase: str) -> None:
        run(asyncio.wait_for(phase_push(watcher, SYMBOL, phase), WAIT_S))

    def order(who: Client, side: str, qty: str, price: str) -> None:
        answer = run(who.call("add_order", **limit(side, qty, price)))
        assert answer["success"], answer

    try:
        log_in(browser, served, "ops-key", "dG9rZXggZGVtbyBzZWNyZXQgb2Ygb3Bz")
        until(browser, "the console", browser.find_element(By.ID, "console").is_displayed)
        rows = until(
            browser,
            "four instruments",
            lambda: (
                (r := browser.find_elements(By.CSS_SELECTOR, "#instruments tbody tr"))
                and len(r) == 4
                and r
            ),
        )
        assert [r.get_attribute("data-symbol") for r in rows] == [
            "AAPLx/USD",
            "NVDAx/USD",
            "SPYx/USD",
            "TSLAx/USD",
        ]
        assert {r.get_attribute("data-phase") for r in rows} == {"regular"}
        band = f"{pair['band_low']:.2f} \u2013 {pair['band_high']:.2f}"
        assert band in row(browser, SYMBOL).text, band
        assert browser.find_element(By.ID, "clock").text == "2026-11-23 15:00:00 UTC"
        assert browser.find_element(By.ID, "clock-kind").text == "simulated clock"

        # Orders from WebSocket clients: the ladder follows, its checksum verified.
        order(bob, "sell", "1", "230.50")
        order(bob, "sell", "0.8", "230.60")
        order(alice, "buy", "0.5", "229.50")
        want = {("ask", "230.50"): "1.0000", ("ask", "230.60"): "0.8000"}
        want[("bid", "229.50")] = "0.5000"
        until(browser, f"the ladder {want}", lambda: ladder(browser) == want)
        status = browser.find_element(By.ID, "book-status")
        assert status.get_attribute("data-state") == "ok", status.text
        assert "verified" in status.text

        # A trade: on the tape, in the ladder, in the table's last price.
        order(alice, "buy", "0.25", "230.50")
        want[("ask", "230.50")] = "0.7500"
        until(browser, "the ladder after the trade", lambda: ladder(browser) == want)
        tape = until(
            browser,
            "the trade on the tape",
            lambda: browser.find_elements(By.CSS_SELECTOR, "#tape tbody tr"),
        )
        assert tape[0].text.split() == ["15:00:00", SYMBOL, "\u25b2", "buy", "230.50", "0.2500"]
        until(browser, "the last price", lambda: "230.50" in row(browser, SYMBOL).text)
        assert status.get_attribute("data-state") == "ok", status.text
        browser.save_screenshot(str(tmp_path / "console-1280x800.png"))

        # Halt from the page: the WebSocket instrument channel says so, and so does the page.
        confirm(browser, "halt-button")
        wait_phase("halted")
        until(
            browser,
            "the halt",
            lambda: row(browser, SYMBOL).get_attribute("data-phase") == "halted",
        )
        assert activity(browser, f"Halt {SYMBOL}").startswith("ok ")

        # Resume with a 60 s call, then advance the simulated clock past it.
        field = browser.find_element(By.ID, "auction-seconds")
        field.clear()
        field.send_keys("60")
        confirm(browser, "resume-button")
        wait_phase("auction")
        field = browser.find_element(By.ID, "advance-seconds")
        field.clear()
        field.send_keys("61")
        confirm(browser, "advance-button")
        wait_phase("regular")
        until(
            browser,
            "the clock",
            lambda: browser.find_element(By.ID, "clock").text.endswith("15:01:01 UTC"),
        )
        until(
            browser,
            "the reopening",
            lambda: row(browser, SYMBOL).get_attribute("data-phase") == "regular",
        )

        # Cancel-all for an account, then the kill switch for another.
        browser.find_element(By.ID, "account").send_keys("alice")
        confirm(browser, "cancel-all")
        assert activity(browser, "1 order cancelled").startswith("ok ")
        del want[("bid", "229.50")]
        until(browser, "alice's bid gone", lambda: ladder(browser) == want)
        field = browser.find_element(By.ID, "account")
        field.clear()
        field.send_keys("bob")
        confirm(browser, "kill-on")
        assert activity(browser, "Turn bob's kill switch on").startswith("ok ")
        until(browser, "an empty book", lambda: ladder(browser) == {})
        refused = run(bob.call("add_order", **limit("sell", "1", "231.00")))
        assert refused["error"] == "EOrder:Account disabled", refused
        confirm(browser, "kill-off")
        assert activity(browser, "Turn bob's kill switch off").startswith("ok ")

        # A refusal is shown as one: an account that does not exist.
        field.clear()
        field.send_keys("nobody")
        confirm(browser, "cancel-all")
        assert activity(browser, "account 'nobody'").startswith("bad ")

        # Phone width: everything fits the width (wide tables scroll inside their panel).
        browser.set_window_size(390, 844)
        until(
            browser,
            "no horizontal overflow at phone width",
            lambda: browser.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth"
            ),
        )
        browser.save_screenshot(str(tmp_path / "console-390x844.png"))
        assert (tmp_path / "console-1280x800.png").stat().st_size > 10_000
    finally:
        browser.set_window_size(1280, 800)
        for client in (alice, bob, watcher):
            run(client.ws.close())
        loop.close()
