"""The TOML configuration: the demo loads, and every bad value names the file, the key and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import DEMO_CONFIG, ConfigError, load_config, parse_config

BASE = """
[[assets]]
id = "USD"
precision = 2
[[assets]]
id = "AAPLx"
precision = 8

[[instruments]]
symbol = "AAPLx/USD"
base = "AAPLx"
quote = "USD"
price_increment = "0.01"
qty_increment = "0.0001"
reference_price = "230.00"

[[accounts]]
id = "alice"
api_key = "k"
secret = "s"
balances = { USD = "1000.00" }
"""


def test_the_demo_config_loads_into_a_working_genesis() -> None:
    config = parse_config(DEMO_CONFIG, "demo")
    engine = config.genesis.build()
    assert sorted(engine.books) == ["AAPLx/USD", "NVDAx/USD", "SPYx/USD", "TSLAx/USD"]
    aapl = config.instruments["AAPLx/USD"]
    assert (aapl.reference_price, aapl.qty_min, aapl.cost_min) == (23_000, 1, 100)
    assert aapl.qty_max == 100_000 * 10_000
    assert config.instruments["TSLAx/USD"].schedule == "24/5"
    alice = next(a for a in config.genesis.accounts if a.id == "alice")
    assert alice.max_order_notional == 100_000_000  # $1,000,000 in cents
    assert {d.asset: d.amount for d in config.deposits if d.account == "alice"}[
        "USD"
    ] == 100_000_000
    assert config.access["ops-key"].role == "operator"
    assert (config.ws_port, config.fsync, config.rate_per_second, config.rate_burst) == (
        8765,
        "batch",
        50,
        100,
    )
    assert config.http_port == 8080
    assert parse_config(BASE + "\n[exchange]\nhttp_port = 0\n").http_port == 0
    # The hardening keys' defaults (docs/WS.md, docs/JOURNAL.md).
    assert (config.queue_limit, config.queue_wait_ms, config.connections_per_address) == (
        4_096,
        250,
        100,
    )
    assert (config.snapshot_records, config.snapshot_seconds) == (100_000, 600)


def test_the_hardening_keys_are_read() -> None:
    text = BASE + (
        "\n[exchange]\nqueue_limit = 64\nqueue_wait_ms = 20\nconnections_per_address = 3\n"
        "snapshots = { records = 500, seconds = 0 }\n"
    )
    config = parse_config(text, "cfg.toml")
    assert (config.queue_limit, config.queue_wait_ms, config.connections_per_address) == (64, 20, 3)
    assert (config.snapshot_records, config.snapshot_seconds) == (500, 0)


CASES = [
    ("not toml", "x = ", "cfg.toml: not valid TOML"),
    (
        "unknown key",
        BASE + "\n[exchange]\nspeed = 3\n",
        "cfg.toml: exchange: Object contains unknown field `speed`",
    ),
    (
        "bad fsync",
        BASE + '\n[exchange]\nfsync = "sometimes"\n',
        "cfg.toml: exchange.fsync: Invalid enum value 'sometimes'",
    ),
    (
        "mistyped",
        BASE.replace("precision = 2", 'precision = "two"'),
        "cfg.toml: assets[0].precision: Expected `int`, got `str`",
    ),
    (
        "unknown quote",
        BASE.replace('quote = "USD"', 'quote = "EUR"'),
        "cfg.toml: instruments[0].quote: 'EUR' is not an asset",
    ),
    (
        "off-grid reference",
        BASE.replace('"230.00"', '"230.001"'),
        "cfg.toml: instruments[0].reference_price: '230.001' is not a multiple of 0.01",
    ),
    (
        "zero increment",
        BASE.replace('price_increment = "0.01"', 'price_increment = "0"'),
        "cfg.toml: instruments[0].price_increment: '0' must be greater than zero",
    ),
    (
        "lot finer than the asset",
        BASE.replace('qty_increment = "0.0001"', 'qty_increment = "0.000000001"'),
        "cfg.toml: instruments[0].qty_increment: AAPLx/USD: qty_increment",
    ),
    (
        "balance of an unknown asset",
        BASE.replace('{ USD = "1000.00" }', '{ GME = "1" }'),
        "cfg.toml: accounts[0].balances.GME: not an asset",
    ),
    (
        "balance off the unit",
        BASE.replace('"1000.00" }', '"1000.001" }'),
        "cfg.toml: accounts[0].balances.USD: '1000.001' is not a multiple of 0.01",
    ),
    (
        "unknown role",
        BASE.replace('id = "alice"', 'id = "alice"\nrole = "king"'),
        "cfg.toml: accounts[0].role: must be one of market_maker, operator, trader",
    ),
    (
        "unknown fee tier",
        BASE.replace('id = "alice"', 'id = "alice"\nfee_tier = "vip"'),
        "cfg.toml: accounts[0].fee_tier: 'vip' is not a fee tier",
    ),
    (
        "negative max_open_orders",
        BASE.replace('id = "alice"', 'id = "alice"\nmax_open_orders = -1'),
        "cfg.toml: accounts[0].max_open_orders: -1: must be between 0 and 9223372036854775807",
    ),
    (
        "max_open_orders past 64 bits",
        BASE.replace('id = "alice"', 'id = "alice"\nmax_open_orders = 9223372036854775808'),
        "cfg.toml: accounts[0].max_open_orders: 9223372036854775808: must be between 0 and",
    ),
    (
        "no instruments",
        BASE[: BASE.index("[[instruments]]")],
        "cfg.toml: instruments: at least one instrument is needed",
    ),
    (
        "queue limit zero",
        BASE + "\n[exchange]\nqueue_limit = 0\n",
        "cfg.toml: exchange.queue_limit: must be at least 1",
    ),
    (
        "queue wait zero",
        BASE + "\n[exchange]\nqueue_wait_ms = 0\n",
        "cfg.toml: exchange.queue_wait_ms: must be at least 1",
    ),
    (
        "negative snapshot records",
        BASE + "\n[exchange]\nsnapshots = { records = -1 }\n",
        "cfg.toml: exchange.snapshots: records and seconds must be 0 (off) or more",
    ),
    (
        "unknown snapshot key",
        BASE + "\n[exchange]\nsnapshots = { every = 5 }\n",
        "cfg.toml: exchange.snapshots: Object contains unknown field `every`",
    ),
    (
        "no connections per address",
        BASE + "\n[exchange]\nconnections_per_address = 0\n",
        "cfg.toml: exchange.connections_per_address: must be at least 1",
    ),
    (
        "http port out of range",
        BASE + "\n[exchange]\nhttp_port = 70000\n",
        "cfg.toml: exchange.http_port: 70000: must be 0 to 65535",
    ),
    (
        "duplicate asset",
        BASE.replace('id = "AAPLx"', 'id = "USD"'),
        "cfg.toml: assets[1].id: 'USD' is listed twice",
    ),
    (
        "fix port out of range",
        BASE + "\n[exchange]\nfix_port = 70000\n",
        "cfg.toml: exchange.fix_port: 70000: must be 0 to 65535",
    ),
    (
        "fix CompID of the exchange empty",
        BASE + '\n[exchange]\nfix_comp_id = ""\n',
        "cfg.toml: exchange.fix_comp_id: '' must be 1 to 64 printable ASCII characters",
    ),
    (
        "fix session without a password",
        BASE + 'fix = { sender_comp_id = "A" }\n',
        "cfg.toml: accounts[0].fix: Object missing required field `password`",
    ),
    (
        "fix CompID taken by the exchange",
        BASE + 'fix = { sender_comp_id = "TOKEX", password = "p" }\n',
        "cfg.toml: accounts[0].fix.sender_comp_id: 'TOKEX' is taken",
    ),
    (
        "fix CompID with a space",
        BASE + 'fix = { sender_comp_id = "A B\u00e9", password = "p" }\n',
        "cfg.toml: accounts[0].fix.sender_comp_id:",
    ),
    (
        "two sessions with one CompID",
        BASE
        + '[[accounts.fix]]\nsender_comp_id = "A"\npassword = "p"\n'
        + '[[accounts.fix]]\nsender_comp_id = "A"\npassword = "q"\n',
        "cfg.toml: accounts[0].fix[1].sender_comp_id: 'A' is taken",
    ),
    (
        "fix heartbeat_max out of range",
        BASE + 'fix = { sender_comp_id = "A", password = "p", heartbeat_max = 0 }\n',
        "cfg.toml: accounts[0].fix.heartbeat_max: must be 1 to 3600 seconds",
    ),
    (
        "fix session of an operator",
        BASE.replace('id = "alice"', 'id = "alice"\nrole = "operator"')
        + 'fix = { sender_comp_id = "A", password = "p" }\n',
        "cfg.toml: accounts[0].fix: only trader and market_maker accounts trade over FIX",
    ),
    (
        "settlement backend",
        BASE + '\n[settlement]\nbackend = "kafka"\n',
        "cfg.toml: settlement.backend: Invalid enum value 'kafka'",
    ),
    (
        "settlement window",
        BASE + "\n[settlement]\nwindow_ms = 0\n",
        "cfg.toml: settlement.window_ms: 0: must be 1 to 86400000",
    ),
    (
        "settlement failure rate",
        BASE + "\n[settlement]\nchain_failure_rate = 1.5\n",
        "cfg.toml: settlement.chain_failure_rate: 1.5: must be 0 to 1",
    ),
    (
        "settlement replicas",
        BASE + "\n[settlement]\nnats_replicas = 2\n",
        "cfg.toml: settlement.nats_replicas: 2: must be 1, 3 or 5",
    ),
    (
        "settlement url",
        BASE + '\n[settlement]\nnats_url = "http://x"\n',
        "cfg.toml: settlement.nats_url: 'http://x': must start with nats://",
    ),
    (
        "settlement unknown key",
        BASE + "\n[settlement]\nwindow = 3\n",
        "cfg.toml: settlement: Object contains unknown field `window`",
    ),
    (
        "reserved account id",
        BASE.replace('id = "alice"', 'id = "@external"'),
        "cfg.toml: accounts[0].id: '@external': ids starting with @ are reserved",
    ),
]


def test_fix_sessions_with_their_defaults_by_role() -> None:
    text = BASE.replace('id = "alice"', 'id = "alice"\nrole = "market_maker"') + (
        '[[accounts.fix]]\nsender_comp_id = "MM"\npassword = "p"\n'
        '[[accounts.fix]]\nsender_comp_id = "DC"\npassword = "q"\ndrop_copy = true\n'
        '[[accounts]]\nid = "bob"\napi_key = "b"\nsecret = "s"\n'
        'fix = { sender_comp_id = "BOB", password = "r", reset_on_logon = true }\n'
    )
    config = parse_config(text)
    mm, dc = config.access["k"].fix_sessions
    (bob,) = config.access["b"].fix_sessions
    assert (mm.cancel_on_disconnect, mm.drop_copy, mm.heartbeat_max) == (True, False, 300)
    assert (dc.cancel_on_disconnect, dc.drop_copy) == (False, True)
    assert (bob.cancel_on_disconnect, bob.reset_on_logon) == (False, True)
    assert (config.fix_comp_id, config.fix_port) == ("TOKEX", 9878)


def test_the_settlement_table_has_defaults_and_takes_every_key() -> None:
    default = parse_config(BASE, "cfg.toml").settlement
    assert (default.backend, default.embedded_worker, default.window_ms) == ("sqlite", True, 1000)
    table = (
        '\n[settlement]\nbackend = "nats"\nnats_url = "nats://10.0.0.1:4222"\n'
        'nats_stream = "S1"\nnats_replicas = 3\nnats_ack_wait_ms = 500\n'
        'embedded_worker = false\nwindow_ms = 250\nfee_chain = "solana"\n'
        "chain_delay_ms = 0\nchain_failure_rate = 0.25\nretry_ms = 10\n"
    )
    s = parse_config(BASE + table, "cfg.toml").settlement
    assert (s.backend, s.nats_url, s.nats_stream, s.nats_replicas) == (
        "nats",
        "nats://10.0.0.1:4222",
        "S1",
        3,
    )
    assert (s.nats_ack_wait_ms, s.embedded_worker, s.window_ms, s.fee_chain) == (
        500,
        False,
        250,
        "solana",
    )
    assert (s.chain_delay_ms, s.chain_failure_rate, s.retry_ms) == (0, 0.25, 10)


@pytest.mark.parametrize(("text", "message"), [pytest.param(t, m, id=c) for c, t, m in CASES])
def test_a_bad_config_names_the_file_the_key_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.toml")
    assert str(info.value).startswith(message), str(info.value)


def test_a_config_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "exchange.toml"
    path.write_text(BASE, encoding="utf-8")
    assert load_config(path).instruments["AAPLx/USD"].reference_price == 23_000
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot be read"):
        load_config(tmp_path / "missing.toml")
