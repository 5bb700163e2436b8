#!/usr/bin/env node
// jspurefix test driver: one long-running process, JSON lines in on stdin,
// JSON lines out on stdout.  jspurefix's own logging goes to stderr.
//
// Commands (every command may carry "id" and "session"; replies echo both):
//   {"cmd":"connect","port":9880,"sender":"CLIENT1","target":"TOKEX",
//    "username":"u","password":"p","heartbtint":30,"reset_seq":true,
//    "next_sender_seq":null,"next_target_seq":null,"store_dir":null,
//    "dictionary":"qf44","validate":false,"logon":{},"body_length_chars":null}
//   {"cmd":"send","type":"D","fields":{...},"header":{...},"sending_time":null,"advance":null}
//   {"cmd":"send_raw","raw":"8=FIX.4.4|9=0|35=0|49=C|56=T|34={seq}|52={now}|10=000|","fix":true}
//   {"cmd":"logout","text":null}   graceful: Logout, wait for reply, close
//   {"cmd":"disconnect"}           abrupt TCP close, no Logout
//   {"cmd":"status"}  {"cmd":"set_seq","next_sender_seq":N,"next_target_seq":M}
//   {"cmd":"quit"}
// Events: hello; reply {id, ok, error?, seq?}; rx/tx {type, seq, raw ('|' for SOH),
// fields [[tag, value], ...], msg (rx only: jspurefix toObject())}; ready; stopped
// {error, next_sender_seq, next_target_seq}; finished; error (uncaught).
'use strict'
require('reflect-metadata') // must precede any jspurefix import
const readline = require('readline')
const {
  SessionLauncher, AsciiSession, DefinitionFactory, JsFixLoggerFactory, SessionState
} = require('jspurefix')

const LOG_LEVEL = process.env.JSPUREFIX_LOG || 'warn' // none|error|warn|info|debug
const LEVELS = { none: 0, error: 1, warn: 2, info: 3, debug: 4 }
const SOH = '\x01'

function out (o) { process.stdout.write(JSON.stringify(o) + '\n') }

// ---- logging to stderr ------------------------------------------------------
class StderrLogger {
  constructor (type) { this.type = type }
  line (lvl, msg) {
    if (LEVELS[LOG_LEVEL] >= LEVELS[lvl]) process.stderr.write(`${new Date().toISOString()} [${this.type}] ${lvl}: ${msg}\n`)
  }
  info (m) { this.line('info', m) }
  warning (m) { this.line('warn', m) }
  debug (m) { this.line('debug', m) }
  error (e) { this.line('error', e && e.message ? e.message : String(e)) }
}
class StderrLogFactory extends JsFixLoggerFactory {
  logger (type) { return new StderrLogger(type) }
  plain (name) { return new StderrLogger(name) }
}
const logFactory = new StderrLogFactory()

// ---- parse each dictionary once per process ---------------------------------
const defCache = new Map()
const origGetDefinitions = DefinitionFactory.prototype.getDefinitions
DefinitionFactory.prototype.getDefinitions = function (path, getLogger) {
  if (!defCache.has(path)) defCache.set(path, origGetDefinitions.call(this, path, getLogger))
  return defCache.get(path)
}

// ---- flat {name|tag: value} -> jspurefix nested component objects -----------
function fieldName (defs, key) {
  if (/^\d+$/.test(String(key))) {
    const sf = defs.tagToSimple[parseInt(key, 10)]
    if (!sf) throw new Error(`unknown tag ${key}`)
    return sf.name
  }
  return key
}

// path of component names leading to a simple field or group inside `set`
function locate (set, name) {
  const direct = set.localNameToField.get(name)
  if (direct && direct.type !== 0) return [direct] // simple(2) or group(1)
  for (const g of set.groups.values()) { // a group may be keyed by its NoXXX field
    if (set.localNameToField.get(g.name) && g.noOfField && g.noOfField.name === name) {
      return [set.localNameToField.get(g.name)]
    }
  }
  for (const f of set.fields) {
    if (f.type === 0) { // component
      const sub = locate(f.definition, name)
      if (sub) return [f, ...sub]
    }
  }
  return null
}

function nest (defs, set, flat) {
  const res = {}
  for (const [rawKey, value] of Object.entries(flat)) {
    const name = fieldName(defs, rawKey)
    // already-nested component object: pass through untouched
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      res[name] = value
      continue
    }
    const path = locate(set, name)
    if (!path) throw new Error(`field ${rawKey} (${name}) is not defined on ${set.name}`)
    let cur = res
    for (const comp of path.slice(0, -1)) {
      const cname = comp.definition.name
      cur[cname] = cur[cname] || {}
      cur = cur[cname]
    }
    const leaf = path[path.length - 1]
    if (leaf.type === 1) { // group: value must be a list of flat objects
      if (!Array.isArray(value)) throw new Error(`group ${name} needs a list`)
      const key = leaf.definition.noOfField ? leaf.definition.noOfField.name : leaf.name
      cur[key] = value.map(inst => nest(defs, leaf.definition, inst))
    } else {
      cur[leaf.name] = value
    }
  }
  return res
}

function flatFields (raw) {
  return raw.split('|').filter(s => s.length > 0).map(kv => {
    const i = kv.indexOf('=')
    return [parseInt(kv.slice(0, i), 10), kv.slice(i + 1)]
  })
}

function utcNow () {
  const d = new Date()
  const p = (n, w = 2) => String(n).padStart(w, '0')
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`
}

// recompute 9 and 10 of a SOH-delimited message
function fixLengths (msg) {
  const m = /^(8=[^\x01]*\x01)9=[^\x01]*\x01/.exec(msg)
  if (!m) return msg
  let rest = msg.slice(m[0].length)
  const t = rest.lastIndexOf('10=')
  if (t >= 0 && (t === 0 || rest[t - 1] === SOH)) rest = rest.slice(0, t)
  const head = `${m[1]}9=${Buffer.byteLength(rest, 'latin1')}${SOH}`
  const body = head + rest
  let sum = 0
  for (const b of Buffer.from(body, 'latin1')) sum += b
  return `${body}10=${String(sum % 256).padStart(3, '0')}${SOH}`
}

// ---- the session ------------------------------------------------------------
class DriverSession extends AsciiSession {
  constructor (config, ctl) {
    super(config)
    this.ctl = ctl
    this.lastDecoded = null
    this.checkMsgIntegrity = ctl.opts.validate === true // initiator default: false
  }

  // keep the transmitter after the transport is gone so status() still knows the seq
  get tx () { return this.transport ? this.transport.transmitter : (this.lastTx || null) }

  async onPreLogon () {
    this.lastTx = this.transport ? this.transport.transmitter : null
    await super.onPreLogon() // handles ResetSeqNumFlag=Y
    const o = this.ctl.opts
    const s = o.next_sender_seq; const t = o.next_target_seq
    if (s != null || t != null) this.applySeq(s, t)
  }

  applySeq (nextSender, nextTarget) {
    this.coordinator.initializeFromConfig(nextSender ?? undefined, nextTarget ?? undefined)
    if (nextSender != null) {
      if (this.tx) this.tx.msgSeqNum = nextSender
      this.sessionStore.setSenderSeqNum(nextSender).catch(() => {})
    }
    if (nextTarget != null) {
      this.sessionState.lastPeerMsgSeqNum = nextTarget - 1
      this.sessionStore.setTargetSeqNum(nextTarget).catch(() => {})
    }
  }

  status () {
    return {
      state: this.stateString(),
      next_sender_seq: this.tx ? this.tx.msgSeqNum : null,
      next_target_seq: this.sessionState.lastPeerMsgSeqNum + 1
    }
  }

  onEncoded (msgType, txt) {
    const f = flatFields(txt)
    const seq = f.find(x => x[0] === 34)
    this.ctl.emit({ event: 'tx', type: msgType, seq: seq ? parseInt(seq[1], 10) : null, raw: txt, fields: f })
  }

  onDecoded (msgType, txt) { this.lastDecoded = txt }

  rxOnMsg (msgType, view) {
    const raw = this.lastDecoded || ''
    this.lastDecoded = null
    let msg = null
    try { msg = view.toObject() } catch (e) { msg = null }
    const fields = flatFields(raw)
    const seq = fields.find(x => x[0] === 34)
    this.ctl.emit({ event: 'rx', type: msgType, seq: seq ? parseInt(seq[1], 10) : null, raw, fields, msg })
    super.rxOnMsg(msgType, view)
  }

  onApplicationMsg (msgType, view) { /* already reported in rxOnMsg */ }
  onLogon (view, user, password) { return true }
  onReady (view) { this.ctl.emit({ event: 'ready', ...this.status() }) }
  onStopped (err) {
    this.ctl.lastStatus = this.status()
    this.ctl.stoppedSent = true
    this.ctl.emit({ event: 'stopped', error: err ? err.message : null, ...this.ctl.lastStatus })
  }

  sendMsg (msgType, fields, header, sendingTime, advance, cb) {
    const defs = this.config.definitions
    const mdef = defs.message.get(msgType)
    if (!mdef) throw new Error(`unknown MsgType ${msgType}`)
    const obj = nest(defs, mdef, fields || {})
    if (!this.transport) throw new Error('not connected')
    const tx = this.tx
    const before = tx.msgSeqNum
    if (header && Object.keys(header).length) {
      const h = { ...header }
      // jspurefix copies StandardHeader.SendingTime into OrigSendingTime(122)
      if (h.OrigSendingTime !== undefined) { h.SendingTime = h.OrigSendingTime; delete h.OrigSendingTime }
      obj.StandardHeader = h
    }
    if (sendingTime) tx.time = sendingTime // string is written verbatim as tag 52
    const override = header && header.MsgSeqNum != null ? header.MsgSeqNum : null
    this.send(msgType, obj, (err, res) => {
      tx.time = undefined
      if (!err && override != null && !(header && header.PossDupFlag)) {
        const adv = advance ?? (override >= before)
        tx.msgSeqNum = adv ? override + 1 : before
      }
      cb(err, res)
    })
  }

  sendRaw (raw, fix) {
    if (!this.transport) throw new Error('not connected')
    const tx = this.tx
    let msg = raw
    let seq = null
    if (msg.includes('{seq}')) { seq = tx.msgSeqNum++; msg = msg.split('{seq}').join(String(seq)) }
    msg = msg.split('{now}').join(utcNow()).split('|').join(SOH)
    if (fix !== false) msg = fixLengths(msg)
    this.transport.duplex.writable.write(Buffer.from(msg, 'latin1'))
    return { seq, raw: msg.split(SOH).join('|') }
  }

  logout (text) {
    if (text) {
      this.sessionState.logoutSentAt = new Date()
      this.setState(SessionState.WaitingLogoutConfirm)
      this.sendLogout(text)
    } else {
      this.done()
    }
  }

  kill () {
    if (!this.transport) return
    this.transport.duplex.destroy() // abrupt close: no Logout, no FIN handshake wait
    this.terminate(new Error('disconnected by driver'))
  }
}

class Launcher extends SessionLauncher {
  constructor (description, ctl) {
    super(description, null, logFactory)
    this.ctl = ctl
  }

  makeFactory (config) {
    return { makeSession: (c) => { this.ctl.session = new DriverSession(c, this.ctl); return this.ctl.session } }
  }
}

// ---- per-session controller -------------------------------------------------
class Ctl {
  constructor (name) { this.name = name; this.session = null; this.opts = null; this.lastStatus = null }
  emit (o) { out({ session: this.name, ...o }) }

  connect (o) {
    this.opts = o
    const description = {
      application: {
        type: 'initiator',
        name: `driver_${this.name}`,
        reconnectSeconds: o.reconnect_seconds ?? 1,
        connectTimeoutSeconds: o.connect_timeout ?? 10,
        tcp: { host: o.host || '127.0.0.1', port: o.port },
        protocol: 'ascii',
        dictionary: o.dictionary || 'qf44'
      },
      Username: o.username,
      Password: o.password,
      EncryptMethod: 0,
      ResetSeqNumFlag: o.reset_seq !== false,
      HeartBtInt: o.heartbtint ?? 30,
      SenderCompId: o.sender,
      TargetCompID: o.target,
      BeginString: o.begin_string || 'FIX.4.4'
    }
    if (o.body_length_chars) description.BodyLengthChars = o.body_length_chars
    if (o.store_dir) description.store = { type: 'file', directory: o.store_dir }
    const logon = { ...(o.logon || {}) }
    if (o.username == null) logon.Username = null
    if (o.password == null) logon.Password = null
    description.Logon = logon
    // carry sequence numbers over from the previous connection of this driver
    // session when not resetting and the caller gave none
    if (o.reset_seq === false && o.next_sender_seq == null && o.next_target_seq == null &&
        this.lastStatus && !o.store_dir) {
      o.next_sender_seq = this.lastStatus.next_sender_seq
      o.next_target_seq = this.lastStatus.next_target_seq
    }
    this.session = null
    this.stoppedSent = false
    this.launcher = new Launcher(description, this)
    this.launcher.run()
      .then(() => this.emit({ event: 'finished', error: null }))
      .catch(e => {
        // after a session existed, onStopped already reported; this is just the launcher ending
        if (this.stoppedSent) this.emit({ event: 'finished', error: e.message })
        else this.emit({ event: 'stopped', error: `connect failed: ${e.message}` })
      })
  }
}

const ctls = new Map()
function ctlFor (name) {
  if (!ctls.has(name)) ctls.set(name, new Ctl(name))
  return ctls.get(name)
}

function handle (line) {
  let c
  try { c = JSON.parse(line) } catch (e) { out({ event: 'error', error: `bad json: ${e.message}` }); return }
  const name = c.session || 'default'
  const ctl = ctlFor(name)
  const reply = (o) => out({ event: 'reply', id: c.id ?? null, session: name, cmd: c.cmd, ...o })
  try {
    switch (c.cmd) {
      case 'connect': ctl.connect(c); reply({ ok: true }); break
      case 'send':
        if (!ctl.session) throw new Error('no session')
        ctl.session.sendMsg(c.type, c.fields, c.header, c.sending_time, c.advance, (err, res) => {
          if (err) reply({ ok: false, error: err.message })
          else reply({ ok: true, seq: res.header ? res.header.MsgSeqNum : null })
        })
        break
      case 'send_raw': {
        if (!ctl.session) throw new Error('no session')
        reply({ ok: true, ...ctl.session.sendRaw(c.raw, c.fix) }); break
      }
      case 'logout': if (!ctl.session) throw new Error('no session'); ctl.session.logout(c.text); reply({ ok: true }); break
      case 'disconnect': if (ctl.session) ctl.session.kill(); reply({ ok: true }); break
      case 'status': reply({ ok: true, ...(ctl.session ? ctl.session.status() : ctl.lastStatus || {}) }); break
      case 'set_seq':
        if (!ctl.session) throw new Error('no session')
        ctl.session.applySeq(c.next_sender_seq, c.next_target_seq); reply({ ok: true, ...ctl.session.status() }); break
      case 'quit': reply({ ok: true }); setTimeout(() => process.exit(0), 200); break // let socket writes flush
      default: throw new Error(`unknown cmd ${c.cmd}`)
    }
  } catch (e) {
    reply({ ok: false, error: e.message })
  }
}

process.on('uncaughtException', e => out({ event: 'error', error: `uncaught: ${e.message}` }))
process.on('unhandledRejection', e => out({ event: 'error', error: `unhandled: ${e && e.message}` }))
readline.createInterface({ input: process.stdin }).on('line', l => { if (l.trim()) handle(l) })
  .on('close', () => setTimeout(() => process.exit(0), 200))
out({ event: 'hello', jspurefix: require('jspurefix/package.json').version, node: process.version })
