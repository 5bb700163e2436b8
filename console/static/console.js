// tokex operator console: one page over the WebSocket API (docs/CONSOLE.md).
// The operator's key and secret live in this closure only; the secret signs the
// login (HMAC-SHA256, WebCrypto) and never leaves the page. Prices and
// quantities are kept as the exact decimal text the server sent (JSON.parse's
// source text), so the book checksum is computed on exactly what was sent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const BOOK_DEPTH = 25;
  const LADDER = 10;
  const TAPE = 100;
  const SPARK = 60;
  const DECIMAL_KEYS = new Set([
    "price", "qty", "last", "bid", "ask", "bid_qty", "ask_qty", "volume", "vwap", "low",
    "high", "change", "change_pct", "band_low", "band_high", "reference_price",
  ]);
  const PHASE_MARK = {
    regular: "\u25CF", extended: "\u25D0", overnight: "\u25D1", weekend: "\u25D2",
    auction: "\u29D7", halted: "\u25A0", closed: "\u25CB",
  };
  const LOGIN_WORDS = {
    "EAPI:Invalid key": "no account has this API key",
    "EAPI:Invalid signature": "the secret does not match this API key",
    "EAPI:Invalid nonce": "the login nonce was not above the last one used with this key",
  };

  let settings = null;
  let session = null; // {key, secret, account, role}: memory only
  let ws = null;
  let reqId = 0;
  const pending = new Map();
  let markets = new Map(); // symbol -> {pair, ticker, trades: [prices]}
  let selected = null;
  let book = null;
  let tape = [];
  let pinger = null;
  let retry = 0;
  let instrumentsArrived = null; // resolves on the instrument snapshot

  // ------------------------------------------------------------ exact decimals

  function parse(text) {
    return JSON.parse(text, function (key, value, context) {
      if (typeof value === "number" && DECIMAL_KEYS.has(key)) {
        return context && typeof context.source === "string" ? context.source : String(value);
      }
      return value;
    });
  }

  function units(text, places) {
    // Exact decimal text -> BigInt count of 10^-places.
    let s = String(text);
    if (/e/i.test(s)) s = Number(s).toFixed(places);
    const negative = s.startsWith("-");
    if (negative) s = s.slice(1);
    const [whole, fraction = ""] = s.split(".");
    const digits = BigInt((whole || "0") + (fraction + "0".repeat(places)).slice(0, places));
    return negative ? -digits : digits;
  }

  function decimal(value, places) {
    // BigInt count of 10^-places -> text with exactly `places` decimals.
    const negative = value < 0n;
    const s = (negative ? -value : value).toString().padStart(places + 1, "0");
    const text = places ? `${s.slice(0, -places)}.${s.slice(-places)}` : s;
    return negative ? `-${text}` : text;
  }

  const fixed = (text, places) => decimal(units(text, places), places);
  const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

  // ------------------------------------------------------------ book checksum

  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(text) {
    let c = 0xffffffff;
    for (let i = 0; i < text.length; i++) c = CRC_TABLE[(c ^ text.charCodeAt(i)) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  function sortedLevels(levels, descending, places) {
    const out = [...levels.entries()].map(([price, qty]) => [price, qty, units(price, places)]);
    out.sort((a, b) => (descending ? compare(b[2], a[2]) : compare(a[2], b[2])));
    return out;
  }

  function bookChecksum(b) {
    // Kraken's: top 10 asks low to high, then top 10 bids high to low; price
    // then qty, each at the instrument's precision, '.' removed, leading zeros stripped.
    const digits = (text) => text.replace(".", "").replace(/^0+/, "");
    let text = "";
    for (const [price, qty] of sortedLevels(b.asks, false, b.pp).slice(0, 10)) text += digits(price) + digits(qty);
    for (const [price, qty] of sortedLevels(b.bids, true, b.pp).slice(0, 10)) text += digits(price) + digits(qty);
    return crc32(text);
  }

  // ------------------------------------------------------------ the connection

  class ApiError extends Error {}

  function call(method, params, raw) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        reject(new ApiError("not connected"));
        return;
      }
      const id = ++reqId;
      pending.set(id, { resolve, reject });
      ws.send(raw ? raw(id) : JSON.stringify({ method, params: params || {}, req_id: id }));
    });
  }

  function nextNonce() {
    // Nanosecond-sized and increasing, like the server's other clients' nonces.
    const now = BigInt(Date.now()) * 1000000n + BigInt(Math.floor((performance.now() % 1) * 1e6));
    nextNonce.last = nextNonce.last && nextNonce.last >= now ? nextNonce.last + 1n : now;
    return nextNonce.last;
  }

  async function sign(secret, message) {
    const enc = new TextEncoder();
    const key = await crypto.subtle.importKey(
      "raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
    );
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(message)));
    return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function login() {
    const nonce = nextNonce().toString();
    const signature = await sign(session.secret, nonce + session.key);
    // The nonce goes out as a JSON integer of 19 digits, past what a JS number holds exactly.
    return call("login", null, (id) =>
      `{"method":"login","req_id":${id},"params":{"api_key":${JSON.stringify(session.key)},` +
      `"nonce":${nonce},"signature":"${signature}"}}`);
  }

  function open() {
    return new Promise((resolve, reject) => {
      const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
      const url = `ws://${host}:${settings.ws_port}/v2`;
      const socket = new WebSocket(url);
      let opened = false;
      socket.onopen = () => { opened = true; ws = socket; resolve(); };
      socket.onerror = () => { if (!opened) reject(new ApiError(`cannot reach the exchange at ${url}`)); };
      socket.onmessage = (event) => receive(parse(event.data));
      socket.onclose = () => closed(socket, opened);
    });
  }

  function closed(socket, opened) {
    if (ws !== socket) return;
    ws = null;
    for (const { reject } of pending.values()) reject(new ApiError("connection closed"));
    pending.clear();
    clearInterval(pinger);
    if (opened && session && session.role === "operator") {
      setLink("reconnecting", "reconnecting\u2026");
      const wait = Math.min(10000, 500 * 2 ** retry++);
      setTimeout(() => { if (session) start().catch(() => {}); }, wait);
    } else {
      setLink("offline", "offline");
    }
  }

  function receive(msg) {
    if (msg.req_id !== undefined && pending.has(msg.req_id)) {
      const { resolve, reject } = pending.get(msg.req_id);
      pending.delete(msg.req_id);
      if (msg.success === false) reject(new ApiError(msg.error)); else resolve(msg);
      if (msg.time_out) showClock(msg.time_out);
      return;
    }
    switch (msg.channel) {
      case "instrument": onInstrument(msg); break;
      case "ticker": for (const t of msg.data) onTicker(t); break;
      case "trade": onTrades(msg.data); break;
      case "book": onBook(msg); break;
      default: break; // status, heartbeat
    }
  }

  // ------------------------------------------------------------ session

  async function start() {
    await open();
    let answer;
    try {
      answer = await login();
    } catch (e) {
      const word = LOGIN_WORDS[e.message];
      ws.close();
      throw new ApiError(word ? `Login refused: ${word} (${e.message}).` : `Login refused: ${e.message}.`);
    }
    const { account, role } = answer.result;
    if (role !== "operator") {
      ws.close();
      throw new ApiError(
        `Key ${session.key} belongs to ${account}, a ${role || "non-operator"} account: ` +
        "the console acts only for an operator account.");
    }
    session.account = account;
    session.role = role;
    retry = 0;
    setLink("online", "online");
    $("who").textContent = `logged in as ${account}`;
    $("who").hidden = false;
    $("logout").hidden = false;
    $("login").hidden = true;
    $("console").hidden = false;
    markets = new Map();
    tape = [];
    book = null;
    $("instruments").tBodies[0].replaceChildren();
    $("tape").tBodies[0].replaceChildren();
    // The snapshot follows the subscription's answer: wait for it, not just the answer.
    const arrived = new Promise((resolve) => { instrumentsArrived = resolve; });
    await call("subscribe", { channel: "instrument" });
    await arrived;
    const symbols = [...markets.keys()];
    if (!selected || !markets.has(selected)) selected = symbols[0];
    await Promise.all([
      call("subscribe", { channel: "ticker", symbol: symbols }),
      call("subscribe", { channel: "trade", symbol: symbols }),
      subscribeBook(selected),
    ]);
    clearInterval(pinger);
    pinger = setInterval(() => call("ping").catch(() => {}), 1000);
    call("ping").catch(() => {});
  }

  async function onLogin(event) {
    event.preventDefault();
    const error = $("login-error");
    error.hidden = true;
    if (!window.crypto || !crypto.subtle) {
      showLoginError("This page must be opened over https or on localhost: browsers sign " +
        "with WebCrypto only in a secure context.");
      return;
    }
    const key = $("api-key").value.trim();
    const secret = $("api-secret").value;
    $("api-secret").value = "";
    session = { key, secret, account: null, role: null };
    $("login-button").disabled = true;
    try {
      await start();
    } catch (e) {
      session = null;
      showLoginError(e.message);
    } finally {
      $("login-button").disabled = false;
    }
  }

  function showLoginError(text) {
    $("login-error").textContent = text;
    $("login-error").hidden = false;
  }

  function logout() {
    session = null;
    clearInterval(pinger);
    if (ws) ws.close();
    $("console").hidden = true;
    $("login").hidden = false;
    $("who").hidden = true;
    $("logout").hidden = true;
    $("api-key").value = "";
  }

  function setLink(state, text) {
    $("link").dataset.state = state;
    $("link").textContent = text;
  }

  function showClock(rfc3339) {
    $("clock").textContent = `${rfc3339.slice(0, 10)} ${rfc3339.slice(11, 19)} UTC`;
    $("clock").dateTime = rfc3339;
  }

  // ------------------------------------------------------------ instruments

  function market(symbol) {
    let m = markets.get(symbol);
    if (!m) {
      m = { pair: null, ticker: null, prices: [], row: null };
      markets.set(symbol, m);
    }
    return m;
  }

  function onInstrument(msg) {
    for (const pair of msg.data.pairs) {
      const m = market(pair.symbol);
      m.pair = pair;
      renderRow(pair.symbol);
    }
    if (selected) renderSelected();
    if (msg.type === "snapshot" && instrumentsArrived) {
      instrumentsArrived();
      instrumentsArrived = null;
    }
  }

  function onTicker(t) {
    market(t.symbol).ticker = t;
    renderRow(t.symbol);
  }

  function onTrades(trades) {
    for (const t of trades) {
      const m = market(t.symbol);
      m.prices.push(Number(t.price));
      if (m.prices.length > SPARK) m.prices.shift();
      m.last = t.price;
      tape.push(t);
    }
    tape.sort((a, b) => b.trade_id - a.trade_id);
    tape = tape.slice(0, TAPE);
    for (const symbol of new Set(trades.map((t) => t.symbol))) renderRow(symbol);
    renderTape();
  }

  function cell(row, index, text, className) {
    const td = row.cells[index];
    td.textContent = text;
    if (className !== undefined) td.className = className;
  }

  function renderRow(symbol) {
    const m = markets.get(symbol);
    if (!m || !m.pair) return;
    const pair = m.pair;
    const pp = pair.price_precision;
    if (!m.row) {
      const row = document.createElement("tr");
      row.dataset.symbol = symbol;
      for (let i = 0; i < 10; i++) {
        const td = document.createElement("td");
        if (i >= 2 && i <= 8) td.className = "num";
        row.appendChild(td);
      }
      const pick = document.createElement("button");
      pick.className = "pick";
      pick.type = "button";
      pick.textContent = symbol;
      row.cells[0].appendChild(pick);
      row.addEventListener("click", () => select(symbol));
      m.row = row;
      const body = $("instruments").tBodies[0];
      const after = [...body.rows].find((r) => r.dataset.symbol > symbol);
      body.insertBefore(row, after || null);
    }
    const row = m.row;
    row.dataset.phase = pair.phase;
    row.setAttribute("aria-selected", String(symbol === selected));
    const badge = document.createElement("span");
    badge.className = "phase";
    badge.dataset.phase = pair.phase;
    badge.textContent = `${PHASE_MARK[pair.phase] || ""} ${pair.phase}`;
    badge.title = `status ${pair.status}`;
    row.cells[1].replaceChildren(badge);
    const t = m.ticker;
    const last = m.last || (t && units(t.last || "0", pp) !== 0n ? t.last : null);
    cell(row, 2, last ? fixed(last, pp) : "\u2013");
    if (t && t.volume !== undefined && units(t.volume, pair.qty_precision) !== 0n) {
      const change = units(t.change || "0", pp);
      const mark = change > 0n ? "\u25B2 " : change < 0n ? "\u25BC " : "";
      const pct = t.change_pct === null || t.change_pct === undefined ? "" : ` (${t.change_pct}%)`;
      cell(row, 3, `${mark}${decimal(change, pp)}${pct}`, `num ${change > 0n ? "up" : change < 0n ? "down" : ""}`);
      cell(row, 4, fixed(t.volume, pair.qty_precision));
    } else {
      cell(row, 3, "\u2013", "num");
      cell(row, 4, "0");
    }
    const bid = t && units(t.bid || "0", pp) !== 0n ? t.bid : null;
    const ask = t && units(t.ask || "0", pp) !== 0n ? t.ask : null;
    cell(row, 5, bid ? fixed(bid, pp) : "\u2013", "num buy");
    cell(row, 6, ask ? fixed(ask, pp) : "\u2013", "num sell");
    cell(row, 7, bid && ask ? decimal(units(ask, pp) - units(bid, pp), pp) : "\u2013");
    cell(row, 8, pair.band_low && pair.band_high
      ? `${fixed(pair.band_low, pp)} \u2013 ${fixed(pair.band_high, pp)}` : "none");
    row.cells[9].replaceChildren(sparkline(m.prices));
  }

  function sparkline(prices) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 90 22");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", prices.length ? `last ${prices.length} trade prices` : "no trades");
    if (prices.length) {
      const lo = Math.min(...prices);
      const hi = Math.max(...prices);
      const series = prices.length > 1 ? prices : [prices[0], prices[0]];
      const points = series.map((p, i) =>
        `${(i * 88) / (series.length - 1) + 1},${hi === lo ? 11 : 20 - ((p - lo) * 18) / (hi - lo)}`);
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", points.join(" "));
      svg.appendChild(line);
    }
    return svg;
  }

  async function select(symbol) {
    if (symbol === selected) return;
    const before = selected;
    selected = symbol;
    for (const [s, m] of markets) if (m.row) m.row.setAttribute("aria-selected", String(s === symbol));
    renderSelected();
    try {
      if (before) await call("unsubscribe", { channel: "book", symbol: [before] });
      await subscribeBook(symbol);
    } catch (e) {
      log(false, `book ${symbol}: ${e.message}`);
    }
  }

  function renderSelected() {
    $("book-symbol").textContent = selected || "";
    $("action-symbol").textContent = selected || "";
  }

  // ------------------------------------------------------------ book

  function subscribeBook(symbol) {
    const pair = markets.get(symbol).pair;
    book = { symbol, pp: pair.price_precision, qp: pair.qty_precision, bids: new Map(), asks: new Map(), sequence: 0, ready: false };
    setBookStatus("wait", "waiting for the book");
    renderBook();
    renderSelected();
    return call("subscribe", { channel: "book", symbol: [symbol], depth: BOOK_DEPTH });
  }

  async function resync(why) {
    setBookStatus("bad", `${why}: resynchronising`);
    book.resyncing = true; // what is still in flight for this subscription is dropped
    const symbol = book.symbol;
    try {
      await call("unsubscribe", { channel: "book", symbol: [symbol] });
      if (selected === symbol) await subscribeBook(symbol);
    } catch (e) {
      log(false, `book ${symbol}: ${e.message}`);
    }
  }

  function onBook(msg) {
    const data = msg.data[0];
    if (!book || data.symbol !== book.symbol || book.resyncing) return;
    if (msg.type === "snapshot") {
      book.bids = new Map();
      book.asks = new Map();
    } else if (!book.ready || data.sequence !== book.sequence + 1) {
      resync(`gap: update ${data.sequence} after ${book.sequence}`);
      return;
    }
    book.sequence = data.sequence;
    for (const [side, levels] of [[book.bids, data.bids], [book.asks, data.asks]]) {
      for (const level of levels) {
        const price = fixed(level.price, book.pp);
        if (units(level.qty, book.qp) === 0n) side.delete(price);
        else side.set(price, fixed(level.qty, book.qp));
      }
    }
    for (const [side, descending] of [[book.bids, true], [book.asks, false]]) {
      for (const [price] of sortedLevels(side, descending, book.pp).slice(BOOK_DEPTH)) side.delete(price);
    }
    book.ready = true;
    const mine = bookChecksum(book);
    if (mine !== data.checksum) {
      resync(`checksum mismatch (page ${mine}, server ${data.checksum})`);
      return;
    }
    setBookStatus("ok", `checksum ${mine} verified, update ${data.sequence}`);
    renderBook();
  }

  function setBookStatus(state, text) {
    $("book-status").dataset.state = state;
    $("book-status").textContent = text;
  }

  function renderBook() {
    const body = $("ladder").tBodies[0];
    const rows = [];
    const pp = book ? book.pp : 2;
    const bids = book ? sortedLevels(book.bids, true, pp) : [];
    const asks = book ? sortedLevels(book.asks, false, pp) : [];
    const topBids = bids.slice(0, LADDER);
    const topAsks = asks.slice(0, LADDER);
    const most = Math.max(1, ...[...topBids, ...topAsks].map(([, qty]) => Number(qty)));
    const row = (side, price, qty) => {
      const tr = document.createElement("tr");
      tr.dataset.side = side;
      tr.dataset.price = price;
      for (const col of ["bid", "price", "ask"]) {
        const td = document.createElement("td");
        td.className = col === "price" ? `price ${side === "bid" ? "buy" : "sell"}` : "num";
        if (col === "price") {
          td.textContent = price;
        } else if (col === side) {
          const bar = document.createElement("div");
          bar.className = `bar-${side}`;
          bar.style.width = `${(Number(qty) * 100) / most}%`;
          const text = document.createElement("span");
          text.className = "qty";
          text.textContent = qty;
          td.append(bar, text);
        }
        tr.appendChild(td);
      }
      return tr;
    };
    for (const [price, qty] of [...topAsks].reverse()) rows.push(row("ask", price, qty));
    const spreadRow = document.createElement("tr");
    spreadRow.className = "spread";
    const td = document.createElement("td");
    td.colSpan = 3;
    td.textContent = topBids.length && topAsks.length
      ? `spread ${decimal(topAsks[0][2] - topBids[0][2], pp)}`
      : topBids.length || topAsks.length ? "one-sided book" : "empty book";
    spreadRow.appendChild(td);
    rows.push(spreadRow);
    for (const [price, qty] of topBids) rows.push(row("bid", price, qty));
    body.replaceChildren(...rows);
    renderDepth(bids, asks);
  }

  function renderDepth(bids, asks) {
    const svg = $("depth");
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    const low = $("depth-low"), mid = $("depth-mid"), high = $("depth-high");
    if (!bids.length && !asks.length) {
      low.textContent = mid.textContent = high.textContent = "";
      return;
    }
    const W = 400, H = 150;
    const prices = [...bids, ...asks].map(([, , u]) => Number(u));
    const lo = Math.min(...prices), hi = Math.max(...prices);
    // A margin either side so the outermost level shows as a plateau, not an edge.
    const pad = (hi - lo || 1) * 0.08;
    const x = (u) => ((Number(u) - lo + pad) / (hi - lo + 2 * pad)) * W;
    let total = 0;
    const cumBids = bids.map(([, qty, u]) => [u, (total += Number(qty))]);
    const bidTotal = total;
    total = 0;
    const cumAsks = asks.map(([, qty, u]) => [u, (total += Number(qty))]);
    const most = Math.max(bidTotal, total) || 1;
    const qp = book.qp;
    const sum = (levels) => decimal(levels.reduce((acc, [, qty]) => acc + units(qty, qp), 0n), qp);
    const y = (q) => H - 4 - (q / most) * (H - 12);
    const area = (points, className, edge) => {
      if (!points.length) return;
      let d = `M${x(points[0][0])},${H} `;
      let prev = y(0);
      for (const [u, q] of points) {
        d += `L${x(u)},${prev} L${x(u)},${y(q)} `;
        prev = y(q);
      }
      d += `L${edge},${prev} L${edge},${H} Z`;
      const path = document.createElementNS(ns, "path");
      path.setAttribute("class", className);
      path.setAttribute("d", d);
      svg.appendChild(path);
    };
    area(cumBids, "bids", 0);
    area(cumAsks, "asks", W);
    const pp = book.pp;
    low.textContent = decimal(BigInt(Math.round(lo)), pp);
    high.textContent = decimal(BigInt(Math.round(hi)), pp);
    mid.textContent = `bids ${sum(bids)} | asks ${sum(asks)}`;
  }

  // ------------------------------------------------------------ tape

  function renderTape() {
    const rows = tape.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.tradeId = String(t.trade_id);
      const pp = markets.get(t.symbol).pair.price_precision;
      const qp = markets.get(t.symbol).pair.qty_precision;
      const cells = [
        [t.timestamp.slice(11, 19), ""],
        [t.symbol, ""],
        [t.side === "buy" ? "\u25B2 buy" : "\u25BC sell", t.side],
        [fixed(t.price, pp), "num"],
        [fixed(t.qty, qp), "num"],
      ];
      for (const [text, className] of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        if (className) td.className = className;
        tr.appendChild(td);
      }
      return tr;
    });
    $("tape").tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------ operator actions

  function confirmAction(text) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    return new Promise((resolve) => {
      const done = (ok) => {
        $("confirm-ok").onclick = $("confirm-cancel").onclick = dialog.oncancel = null;
        dialog.close();
        resolve(ok);
      };
      $("confirm-ok").onclick = () => done(true);
      $("confirm-cancel").onclick = () => done(false);
      dialog.oncancel = () => done(false);
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  function log(ok, text) {
    const li = document.createElement("li");
    li.className = ok ? "ok" : "bad";
    const when = document.createElement("time");
    when.textContent = new Date().toISOString().slice(11, 19);
    li.append(when, text);
    $("activity").prepend(li);
  }

  async function act(what, method, params, describe) {
    if (!(await confirmAction(`${what}?`))) return;
    try {
      const answer = await call(method, params);
      log(true, `${what}: ${describe(answer.result || {})}`);
    } catch (e) {
      log(false, `${what}: refused: ${e.message}`);
    }
  }

  function account() {
    const id = $("account").value.trim();
    if (!id) log(false, "name an account first");
    return id;
  }

  function wire() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", logout);
    $("halt-button").addEventListener("click", () =>
      act(`Halt ${selected}`, "halt", { symbol: selected, reason: $("halt-reason").value || "operator" },
        (r) => `halted (seq ${r.seq})`));
    $("resume-button").addEventListener("click", () => {
      const seconds = Number($("auction-seconds").value);
      act(`Resume ${selected} with a ${seconds} s call`, "resume",
        { symbol: selected, auction_seconds: seconds }, (r) => `resumed (seq ${r.seq})`);
    });
    for (const [id, enabled] of [["kill-on", true], ["kill-off", false]]) {
      $(id).addEventListener("click", () => {
        const who = account();
        if (who) {
          act(`Turn ${who}'s kill switch ${enabled ? "on" : "off"}`, "kill_switch",
            { account: who, enabled }, (r) => `done (seq ${r.seq})`);
        }
      });
    }
    $("cancel-all").addEventListener("click", () => {
      const who = account();
      if (!who) return;
      const only = $("cancel-only-symbol").checked;
      const params = only ? { account: who, symbol: selected } : { account: who };
      act(`Cancel every open order of ${who}${only ? ` in ${selected}` : ""}`, "mass_cancel", params,
        (r) => `${r.count} order${r.count === 1 ? "" : "s"} cancelled`);
    });
    $("advance-button").addEventListener("click", () => {
      const seconds = Number($("advance-seconds").value);
      act(`Advance the simulated clock by ${seconds} s`, "clock_advance", { seconds },
        (r) => { showClock(r.time); return `clock now ${r.time}`; });
    });
  }

  async function boot() {
    wire();
    try {
      const response = await fetch("/console.json", { cache: "no-store" });
      settings = await response.json();
    } catch (e) {
      showLoginError(`Cannot read /console.json: ${e.message}`);
      return;
    }
    document.title = `${settings.name} operator console`;
    $("venue").textContent = `${settings.name} operator console`;
    const simulated = settings.clock === "simulated";
    $("clock-kind").textContent = simulated ? "simulated clock" : "system clock";
    $("clock-kind").classList.toggle("sim", simulated);
    $("clock-actions").hidden = !simulated;
  }

  boot();
})();
