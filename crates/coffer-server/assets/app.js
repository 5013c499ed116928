// coffer dashboard: plain JavaScript, no build step, no external assets.
// Everything shown comes from the HTTP API (/api/v1, docs/api.md) called
// with the bearer token the user logged in with (kept in sessionStorage).
// What the token may do comes from GET /api/v1/whoami (computed from the
// route table the server enforces): a button whose operation the role may
// not call is disabled, its title naming the role it needs.
'use strict';

const TOKEN_KEY = 'coffer.token';
const ACTIVE = ['CREATED', 'PENDING', 'RUNNING'];
let pollTimer = null;
let fastUntil = 0;
// The answer of GET /api/v1/whoami: { name, role, operations: [...] }.
let me = null;
// Each configured vault's url, by name (for the restore command shown).
const vaultUrls = {};

// ---------- helpers ----------

function $(sel) { return document.querySelector(sel); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function badge(prefix, value) {
  return el('span', { class: 'badge ' + prefix + '-' + value }, value.replace('_', ' '));
}

// RFC 3339 to Date (the API may give nanoseconds; Date wants milliseconds).
function parseTime(s) {
  if (!s) return null;
  const d = new Date(String(s).replace(/(\.\d{3})\d+/, '$1'));
  return isNaN(d) ? null : d;
}

function fmtTime(s) {
  const d = parseTime(s);
  return d ? d.toLocaleString() : '—';
}

function fmtSecs(x) {
  if (x === null || x === undefined) return '—';
  x = Math.abs(x);
  if (x < 1) return x.toFixed(2) + ' s';
  if (x < 120) return x.toFixed(1) + ' s';
  if (x < 7200) return Math.round(x / 60) + ' min';
  if (x < 172800) return (x / 3600).toFixed(1) + ' h';
  return (x / 86400).toFixed(1) + ' d';
}

function age(s) {
  const d = parseTime(s);
  return d ? (Date.now() - d.getTime()) / 1000 : null;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

// `s` as one word of a POSIX shell command.
function shellWord(s) {
  return /^[A-Za-z0-9_\/.:@%+=,-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
}

function duration(job) {
  const a = parseTime(job.started_at);
  if (!a) return null;
  const b = parseTime(job.finished_at) || new Date();
  return (b - a) / 1000;
}

// The message bar sticks to the top of the window, so it is seen wherever
// the page is scrolled to.
function showMessage(text, isError) {
  const m = $('#message');
  $('#message-text').textContent = text;
  m.className = 'message' + (isError ? ' error' : '');
  m.hidden = !text;
}

// ---------- who may do what ----------

function access(op) {
  return me ? me.operations.find((o) => o.operation === op) : undefined;
}

function can(op) {
  const a = access(op);
  return !!(a && a.allowed);
}

// Disables `button` unless the logged-in token may call operation `op`;
// its title then says which role it needs.
function gate(button, op) {
  const a = access(op);
  if (a && a.allowed) {
    button.disabled = false;
    button.classList.remove('not-allowed');
    button.removeAttribute('title');
    delete button.dataset.needs;
    return button;
  }
  button.disabled = true;
  button.classList.add('not-allowed');
  button.dataset.needs = a ? a.role : 'unknown';
  button.title = a
    ? 'Needs the ' + a.role + ' role: token ' + me.name + ' has the ' + me.role + ' role.'
    : 'This server does not offer ' + op + '.';
  return button;
}

function showWho() {
  $('#who').hidden = !me;
  if (!me) { delete $('#who').dataset.role; return; }
  $('#who-name').textContent = me.name;
  $('#who-role').textContent = me.role;
  $('#who-role').className = 'role role-' + me.role;
  $('#who').dataset.role = me.role;
}

// ---------- confirmations ----------

// Asks before an action, in a modal dialog at the middle of the window
// (wherever the page is scrolled to). Resolves to null when cancelled, or
// to { value } (the text field's value when `field` is given).
function confirmAction({ title, body, ok, danger, field }) {
  const d = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-body').replaceChildren(...[].concat(body).map((b) => (b instanceof Node ? b : el('p', {}, b))));
  $('#confirm-field').hidden = !field;
  $('#confirm-field-label').textContent = field || '';
  $('#confirm-input').value = '';
  const okb = $('#confirm-ok');
  okb.textContent = ok;
  okb.className = danger ? 'danger' : 'primary';
  return new Promise((resolve) => {
    const done = (v) => {
      okb.onclick = null;
      $('#confirm-cancel').onclick = null;
      d.oncancel = null;
      if (d.open) d.close();
      resolve(v);
    };
    okb.onclick = () => done({ value: $('#confirm-input').value.trim() });
    $('#confirm-cancel').onclick = () => done(null);
    d.oncancel = (ev) => { ev.preventDefault(); done(null); };
    d.showModal();
    (field ? $('#confirm-input') : danger ? $('#confirm-cancel') : okb).focus();
  });
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const opts = Object.assign({ method: 'GET' }, options || {});
  opts.headers = { Authorization: 'Bearer ' + token };
  if (opts.body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(opts.body);
  }
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, 'cannot reach the coffer server: ' + e.message);
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.error ? body.error : r.status + ' ' + r.statusText;
    if (r.status === 401) logout('The token was refused: ' + msg);
    throw new ApiError(r.status, msg);
  }
  return body;
}

// ---------- login ----------

async function login(ev) {
  ev.preventDefault();
  const t = $('#token').value.trim();
  $('#login-error').textContent = '';
  if (!t) { $('#login-error').textContent = 'Paste a token first.'; return; }
  sessionStorage.setItem(TOKEN_KEY, t);
  try {
    me = await api('/api/v1/whoami');
  } catch (e) {
    if (e.status !== 401) { sessionStorage.removeItem(TOKEN_KEY); $('#login-error').textContent = e.message; }
    return;
  }
  $('#token').value = '';
  enter();
}

function logout(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  showWho();
  if ($('#confirm').open) $('#confirm').close();
  $('#vault-select').replaceChildren();
  $('#files-box').hidden = true;
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#message').hidden = true;
  for (const v of document.querySelectorAll('.view')) v.hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = reason || '';
}

async function enter() {
  if (!me) {
    try {
      me = await api('/api/v1/whoami');
    } catch (e) {
      if (e.status !== 401) logout('Cannot ask the server who this token is: ' + e.message);
      return;
    }
  }
  showWho();
  $('#login').hidden = true;
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  route();
}

// ---------- views ----------

function currentView() {
  const v = location.hash.replace('#', '') || 'overview';
  return document.getElementById('view-' + v) ? v : 'overview';
}

function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return logout();
  const v = currentView();
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + v;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === v);
  refresh();
}

async function refresh() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  const v = currentView();
  let busy = false;
  try {
    if (v === 'overview') busy = await loadOverview();
    else if (v === 'jobs') busy = await loadJobs();
    else if (v === 'snapshots') await loadSnapshots();
    else if (v === 'restore-tests') busy = await loadRestoreTests();
    else if (v === 'report') await loadReport();
    else if (v === 'fleet') await loadFleet();
    document.body.dataset.loaded = v;
  } catch (e) {
    if (e.status === 401) return;
    showMessage(e.message, true);
  }
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  // Poll fast while a job runs or just after an action; slowly otherwise.
  const fast = busy || Date.now() < fastUntil;
  if (v !== 'snapshots' && v !== 'report') pollTimer = setTimeout(refresh, fast ? 1000 : 15000);
}

function jobRow(j) {
  return el('tr', { 'data-job': j.id, 'data-state': j.state },
    el('td', { class: 'num' }, '#' + j.id),
    el('td', {}, j.kind),
    el('td', {}, badge('state', j.state), j.error ? el('div', { class: 'job-error' }, j.error) : null),
    el('td', {}, j.plan && j.rule ? j.plan + '/' + j.rule : (j.kind === 'prune' && j.rule ? 'prune/' + j.rule : '—')),
    el('td', {}, j.source || (j.kind === 'prune' && j.vault ? 'vault ' + j.vault : '—')),
    el('td', {}, fmtTime(j.started_at || j.created_at)),
    el('td', { class: 'num' }, fmtSecs(duration(j))),
    el('td', { class: 'num' }, j.kind === 'prune' ? pruneCell(j) : fmtBytes(j.bytes_added)));
}

// A prune job's size cell: the bytes it freed, with what it deleted and
// repacked in the tooltip (its details are the prune's report).
function pruneCell(j) {
  const d = j.details || {};
  if (d.bytes_freed === undefined) return '—';
  const title = (d.packs_deleted || 0) + ' packs deleted, ' + (d.packs_repacked || 0) + ' repacked' +
    (d.packs_repack_deferred ? ', ' + d.packs_repack_deferred + ' deferred' : '') +
    (d.min_storage_skipped ? ', ' + d.min_storage_skipped.packs + ' kept for their storage class' : '');
  return el('span', { class: 'prune-freed', title: title }, (d.dry_run ? 'would free ' : 'freed ') + fmtBytes(d.bytes_freed));
}

function fillTable(sel, rows, empty, cols) {
  const tb = $(sel + ' tbody');
  tb.replaceChildren(...rows);
  if (!rows.length) tb.append(el('tr', {}, el('td', { colspan: cols, class: 'muted' }, empty)));
}

function objective(okv, text) {
  if (okv === null || okv === undefined) return el('span', { class: 'muted' }, text);
  return el('span', { class: okv ? 'ok' : 'bad' }, text);
}

async function loadOverview() {
  const [sources, plans, jobs] = await Promise.all([
    api('/api/v1/sources'), api('/api/v1/rules'), api('/api/v1/jobs?limit=20')]);
  const rules = plans.flatMap((p) => p.rules);
  const nextRun = (src) => {
    const t = rules.filter((r) => r.sources.includes(src) && r.next_run).map((r) => r.next_run).sort();
    return t.length ? fmtTime(t[0]) : '—';
  };
  fillTable('#sources', sources.map((s) => {
    const h = s.health || {};
    const snapAge = age(h.newest_good_at);
    return el('tr', { class: 'source status-' + s.status, 'data-source': s.name, 'data-status': s.status },
      el('td', {}, badge('status', s.status)),
      el('td', {}, el('strong', {}, s.name)),
      el('td', {}, s.kind),
      el('td', {}, h.newest_good_at ? fmtTime(h.newest_good_at) + ' (' + fmtSecs(snapAge) + ' ago)' : el('span', { class: 'bad' }, 'none')),
      el('td', {}, h.rpo_seconds ? objective(h.rpo_ok, fmtSecs(h.rpo_seconds) + (h.rpo_ok === false ? ' — VIOLATED' : h.rpo_ok ? ' — met' : '')) : el('span', { class: 'muted' }, 'not set')),
      el('td', {}, nextRun(s.name)),
      el('td', {}, h.last_restore_seconds != null ? 'restored in ' + fmtSecs(h.last_restore_seconds) : el('span', { class: 'muted' }, 'none')),
      el('td', {}, h.rto_seconds ? objective(h.rto_ok, fmtSecs(h.rto_seconds) + (h.rto_ok === false ? ' — VIOLATED' : h.rto_ok ? ' — met' : '')) : el('span', { class: 'muted' }, 'not set')));
  }), 'No sources configured.', 8);
  fillTable('#rules', rules.map((r) => el('tr', { 'data-rule': r.id },
    el('td', {}, el('strong', {}, r.id)),
    el('td', {}, r.vault),
    el('td', {}, r.sources.join(', ')),
    el('td', {}, fmtTime(r.next_run)),
    el('td', {}, gate(el('button', { type: 'button', class: 'primary run-rule', 'data-rule': r.id, onclick: () => runRule(r.id) }, 'Start backup'), 'ruleRun')))),
  'No rules configured.', 5);
  fillTable('#recent-jobs', jobs.map(jobRow), 'No jobs yet.', 8);
  return jobs.some((j) => ACTIVE.includes(j.state));
}

async function runRule(id) {
  const [plan, rule] = id.split('/');
  try {
    await api('/api/v1/rules/' + encodeURIComponent(plan) + '/' + encodeURIComponent(rule) + '/run', { method: 'POST', body: {} });
    showMessage('Backup of rule ' + id + ' started; its job appears below.', false);
    fastUntil = Date.now() + 10000;
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot start rule ' + id + ': ' + e.message, true);
  }
  refresh();
}

// ---------- charts (inline SVG) ----------

const SVG = 'http:' + '//www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function chart(container, jobs, series, fmt) {
  const W = 640, H = 200, L = 60, R = 10, T = 10, B = 28;
  const box = document.querySelector(container);
  if (!jobs.length) { box.replaceChildren(el('p', { class: 'muted' }, 'No finished backup jobs yet.')); return; }
  const max = Math.max(1e-9, ...jobs.flatMap((j) => series.map((s) => s.value(j) || 0)));
  const x = (i) => L + (jobs.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (jobs.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', preserveAspectRatio: 'none' });
  for (const f of [0, 0.5, 1]) {
    g.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
    g.append(svg('text', { x: L - 4, y: y(max * f) + 3, 'text-anchor': 'end' }, fmt(max * f)));
  }
  g.append(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
  g.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const first = parseTime(jobs[0].started_at), last = parseTime(jobs[jobs.length - 1].started_at);
  if (first) g.append(svg('text', { x: L, y: H - 8 }, first.toLocaleString()));
  if (last && jobs.length > 1) g.append(svg('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, last.toLocaleString()));
  for (const s of series) {
    if (s.bars) {
      const bw = Math.max(2, Math.min(24, (W - L - R) / jobs.length * 0.6));
      jobs.forEach((j, i) => {
        const v = s.value(j) || 0;
        const cls = j.state === 'COMPLETED' ? 'bar-ok' : j.state === 'PARTIAL' ? 'bar-run' : j.state === 'SKIPPED' ? 'bar-skip' : 'bar-bad';
        g.append(svg('rect', { class: cls, x: x(i) - bw / 2, y: y(v), width: bw, height: Math.max(1, H - B - y(v)) },
          svg('title', {}, '#' + j.id + ' ' + (j.source || '') + ' ' + j.state + ': ' + fmt(v))));
      });
    } else {
      const pts = jobs.map((j, i) => x(i) + ',' + y(s.value(j) || 0)).join(' ');
      g.append(svg('polyline', { class: 'line-' + s.name, points: pts }));
      jobs.forEach((j, i) => g.append(svg('circle', { class: 'dot-' + s.name, cx: x(i), cy: y(s.value(j) || 0), r: 3 },
        svg('title', {}, '#' + j.id + ' ' + s.name + ': ' + fmt(s.value(j) || 0)))));
    }
  }
  box.replaceChildren(g);
}

async function loadJobs() {
  const jobs = await api('/api/v1/jobs?limit=200');
  const backups = jobs.filter((j) => j.kind === 'backup' && j.finished_at).reverse();
  chart('#chart-duration', backups, [{ name: 'duration', bars: true, value: duration }], fmtSecs);
  chart('#chart-size', backups, [
    { name: 'read', value: (j) => j.bytes_read },
    { name: 'added', value: (j) => j.bytes_added }], fmtBytes);
  document.querySelector('#chart-size').append(el('p', {},
    el('span', { class: 'legend-read' }, '● read'), '  ', el('span', { class: 'legend-added' }, '● added')));
  fillTable('#all-jobs', jobs.map(jobRow), 'No jobs yet.', 8);
  return jobs.some((j) => ACTIVE.includes(j.state));
}

// ---------- snapshots ----------

async function loadSnapshots() {
  const sel = $('#vault-select');
  if (!sel.options.length) {
    const vaults = await api('/api/v1/vaults');
    for (const v of vaults) vaultUrls[v.name] = v.url;
    sel.replaceChildren(...vaults.map((v) => el('option', { value: v.name }, v.name + ' (' + v.url + ')')));
    sel.onchange = () => { $('#files-box').hidden = true; loadSnapshots(); };
    gate($('#verify-button'), 'verify');
    $('#verify-button').onclick = () => verifyVault(sel.value);
  }
  if (!sel.value) { fillTable('#snapshots', [], 'No vaults configured.', 10); return; }
  const snaps = await api('/api/v1/vaults/' + encodeURIComponent(sel.value) + '/snapshots');
  snaps.sort((a, b) => String(b.time).localeCompare(String(a.time)));
  fillTable('#snapshots', snaps.map((s) => {
    const sum = s.summary || {};
    const files = (sum.files_new || 0) + (sum.files_changed || 0) + (sum.files_unmodified || 0);
    return el('tr', { 'data-snapshot': s.id },
      el('td', {}, el('a', { href: '#snapshots', class: 'open-snapshot', title: 'Browse the files of ' + s.id,
        onclick: (ev) => { ev.preventDefault(); loadFiles(sel.value, s.id, '/'); } }, el('code', {}, s.short_id))),
      el('td', {}, fmtTime(s.time)),
      // The configured source that made it (its source:NAME tag), else its kind.
      el('td', { class: 'source-name' }, s.source_name || (s.source && s.source.kind) || '—'),
      el('td', {}, (s.source && s.source.kind) || '—'),
      el('td', {}, s.hostname),
      el('td', {}, (s.paths || []).join(', ')),
      el('td', { class: 'num' }, files),
      el('td', { class: 'num' }, fmtBytes(sum.total_bytes)),
      el('td', {}, s.held ? el('span', { class: 'badge status-VIOLATED' }, 'legal hold') : ''),
      el('td', { class: 'actions' },
        s.held
          ? gate(el('button', { type: 'button', class: 'release', onclick: () => releaseHold(sel.value, s) }, 'Release hold'), 'release')
          : gate(el('button', { type: 'button', class: 'hold', onclick: () => placeHold(sel.value, s) }, 'Place hold'), 'hold'),
        gate(el('button', { type: 'button', class: 'forget', onclick: () => forgetSnapshot(sel.value, s) }, 'Forget'), 'forgetForReal')));
  }), 'No snapshots in this vault yet.', 10);
}

async function verifyVault(vault) {
  try {
    const r = await api('/api/v1/vaults/' + encodeURIComponent(vault) + '/verify', { method: 'POST', body: {} });
    showMessage('Verify job #' + r.job_id + ' of vault ' + vault + ' started; it appears under Jobs.', false);
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot verify vault ' + vault + ': ' + e.message, true);
  }
}

function snapName(s) {
  return s.short_id + (s.source_name ? ' (' + s.source_name + ')' : '');
}

async function placeHold(vault, s) {
  const c = await confirmAction({
    title: 'Place a legal hold',
    body: ['A legal hold keeps snapshot ' + snapName(s) + ' of vault ' + vault + ' until an admin releases it: no forget or retention removes it.'],
    field: 'Reason (optional)',
    ok: 'Place hold',
  });
  if (!c) return;
  try {
    await api('/api/v1/vaults/' + encodeURIComponent(vault) + '/snapshots/' + encodeURIComponent(s.id) + '/hold',
      { method: 'POST', body: c.value ? { reason: c.value } : {} });
    showMessage('Snapshot ' + s.short_id + ' is held.', false);
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot hold ' + s.short_id + ': ' + e.message, true);
  }
  loadSnapshots().catch((e) => showMessage(e.message, true));
}

async function releaseHold(vault, s) {
  const c = await confirmAction({
    title: 'Release the legal hold',
    body: ['Snapshot ' + snapName(s) + ' of vault ' + vault + ' will no longer be kept by its hold: a forget or the retention of its rule may then remove it.'],
    ok: 'Release hold',
    danger: true,
  });
  if (!c) return;
  try {
    await api('/api/v1/vaults/' + encodeURIComponent(vault) + '/snapshots/' + encodeURIComponent(s.id) + '/release', { method: 'POST', body: {} });
    showMessage('The hold of snapshot ' + s.short_id + ' is released.', false);
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot release ' + s.short_id + ': ' + e.message, true);
  }
  loadSnapshots().catch((e) => showMessage(e.message, true));
}

// A forget is previewed first (a dry run): the confirmation says whether
// a lock or a hold would keep the snapshot.
async function forgetSnapshot(vault, s) {
  const path = '/api/v1/vaults/' + encodeURIComponent(vault) + '/forget';
  let preview;
  try {
    preview = await api(path, { method: 'POST', body: { snapshots: [s.id], dry_run: true } });
  } catch (e) {
    if (e.status !== 401) showMessage('Cannot preview forgetting ' + s.short_id + ': ' + e.message, true);
    return;
  }
  const item = (preview.plan.items || []).find((i) => i.id === s.id);
  const kept = item && item.keep;
  const c = await confirmAction({
    title: 'Forget snapshot ' + s.short_id,
    body: kept
      ? ['Snapshot ' + snapName(s) + ' of vault ' + vault + ' would be kept: ' + (item.reasons || []).join('; ') + '.']
      : ['Snapshot ' + snapName(s) + ' of vault ' + vault + ' will be deleted; the data only it references stays until a prune removes it.'],
    ok: 'Forget',
    danger: true,
  });
  if (!c) return;
  try {
    const r = await api(path, { method: 'POST', body: { snapshots: [s.id], dry_run: false } });
    if (r.refusals && r.refusals.length) showMessage('Snapshot ' + s.short_id + ' was kept: ' + r.refusals.join('; '), true);
    else showMessage('Snapshot ' + s.short_id + ' is forgotten.', false);
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot forget ' + s.short_id + ': ' + e.message, true);
  }
  $('#files-box').hidden = true;
  loadSnapshots().catch((e) => showMessage(e.message, true));
}

async function loadFiles(vault, snap, path) {
  const r = await api('/api/v1/vaults/' + encodeURIComponent(vault) + '/snapshots/' + encodeURIComponent(snap) + '/files?path=' + encodeURIComponent(path))
    .catch((e) => { showMessage(e.message, true); return null; });
  if (!r) return;
  $('#files-box').hidden = false;
  $('#files-snapshot').textContent = snap.slice(0, 8);
  const sub = r.path !== '/' ? ' --subpath ' + shellWord(r.path) : '';
  $('#restore-hint').textContent = 'coffer restore ' + snap.slice(0, 8) + ' --vault ' + shellWord(vaultUrls[vault] || vault) + sub + ' --target DIR';
  const rb = gate($('#restore-button'), 'restore');
  rb.onclick = () => restoreSnapshot(vault, snap, r.path);
  const parts = r.path.split('/').filter((p) => p);
  const crumbs = [el('a', { href: '#snapshots', onclick: (ev) => { ev.preventDefault(); loadFiles(vault, snap, '/'); } }, '/')];
  parts.forEach((p, i) => {
    const to = '/' + parts.slice(0, i + 1).join('/');
    crumbs.push(el('a', { href: '#snapshots', onclick: (ev) => { ev.preventDefault(); loadFiles(vault, snap, to); } }, p), ' / ');
  });
  $('#files-crumbs').replaceChildren(...crumbs);
  $('#files').dataset.path = r.path;
  fillTable('#files', r.entries.map((e) => el('tr', { 'data-path': e.path, 'data-type': e.type },
    el('td', {}, e.type === 'dir'
      ? el('a', { href: '#snapshots', class: 'dir', onclick: (ev) => { ev.preventDefault(); loadFiles(vault, snap, e.path); } }, e.name + '/')
      : e.name),
    el('td', {}, e.type),
    el('td', { class: 'num' }, e.type === 'file' ? fmtBytes(e.size) : ''),
    el('td', {}, el('code', {}, e.mode)),
    el('td', {}, (e.user || '') + (e.group ? ':' + e.group : '')),
    el('td', {}, fmtTime(e.mtime)))), 'Empty directory.', 6);
}

async function restoreSnapshot(vault, snap, path) {
  const body = path && path !== '/' ? { subpath: path } : {};
  const what = path && path !== '/' ? path : 'everything';
  const c = await confirmAction({
    title: 'Restore from snapshot ' + snap.slice(0, 8),
    body: ['Restore ' + what + ' of snapshot ' + snap.slice(0, 8) + ' (vault ' + vault + ') into a new directory under the server\'s restores/ directory, as a restore job?'],
    ok: 'Restore',
  });
  if (!c) return;
  try {
    const r = await api('/api/v1/vaults/' + encodeURIComponent(vault) + '/snapshots/' + encodeURIComponent(snap) + '/restore', { method: 'POST', body });
    showMessage('Restore job #' + r.job_id + ' started: the files go to ' + r.target + ' on the server.', false);
    fastUntil = Date.now() + 10000;
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot restore ' + snap.slice(0, 8) + ': ' + e.message, true);
  }
}

// ---------- restore tests ----------

async function loadRestoreTests() {
  const jobs = await api('/api/v1/restore-tests?limit=50');
  fillTable('#restore-tests', jobs.map((j) => {
    const d = j.details || {};
    // A check is PASSED, FAILED or SKIPPED (could not run here: not a pass);
    // records from before `status` carry only `ok`.
    const checkStatus = (c) => c.status || (c.ok ? 'PASSED' : 'FAILED');
    const mark = { PASSED: ['ok', '✓ '], FAILED: ['bad', '✗ '], SKIPPED: ['skipped', '– skipped: '] };
    const checks = (d.checks || []).map((c) => {
      const [cls, sign] = mark[checkStatus(c)] || mark.FAILED;
      return el('div', { class: cls }, sign + c.name + (c.detail ? ': ' + c.detail : ''));
    });
    return el('tr', { 'data-job': j.id },
      el('td', { class: 'num' }, '#' + j.id),
      el('td', {}, d.test || j.rule || '—'),
      el('td', {}, j.source || '—'),
      el('td', {}, badge('state', j.state)),
      el('td', {}, d.validation ? badge('validation', d.validation) : '—'),
      el('td', { class: 'num' }, fmtSecs(d.restore_seconds)),
      el('td', {}, checks.length ? checks : (j.error || '—')),
      el('td', {}, fmtTime(j.finished_at)),
      el('td', {}, d.test ? gate(el('button', { type: 'button', class: 'run-restore-test', onclick: () => runRestoreTest(d.test) }, 'Run again'), 'restoreTestRun') : ''));
  }), 'No restore tests have run yet.', 9);
  return jobs.some((j) => ACTIVE.includes(j.state));
}

async function runRestoreTest(name) {
  try {
    await api('/api/v1/restore-tests/' + encodeURIComponent(name) + '/run', { method: 'POST', body: {} });
    showMessage('Restore test ' + name + ' started.', false);
    fastUntil = Date.now() + 10000;
  } catch (e) {
    if (e.status === 401) return;
    showMessage('Cannot run restore test ' + name + ': ' + e.message, true);
  }
  refresh();
}

// ---------- report ----------

async function loadReport() {
  const r = await api('/api/v1/report?since=30d');
  const s = r.summary || {};
  $('#report-summary').replaceChildren(
    'Generated ' + fmtTime(r.generated_at) + ', period from ' + fmtTime(r.period_start) + ': ',
    el('span', { class: 'badge control-PASS' }, (s.pass || 0) + ' pass'), ' ',
    el('span', { class: 'badge control-FAIL' }, (s.fail || 0) + ' fail'), ' ',
    el('span', { class: 'badge control-NOT_EVALUATED' }, (s.not_evaluated || 0) + ' not evaluated'));
  fillTable('#controls', (r.controls || []).map((c) => el('tr', { 'data-control': c.id },
    el('td', {}, badge('control', c.status)),
    el('td', {}, el('strong', {}, c.title), el('div', { class: 'muted mono' }, c.id)),
    el('td', {}, el('ul', { class: 'evidence' }, (c.evidence || []).map((e) => el('li', {}, e)))),
    el('td', {}, el('ul', { class: 'evidence' }, (c.failing || []).map((e) => el('li', { class: 'bad' }, e)))))),
  'No controls.', 4);
}

// ---------- start ----------

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', () => logout(''));
  $('#message-close').addEventListener('click', () => showMessage(''));
  window.addEventListener('hashchange', route);
  if (sessionStorage.getItem(TOKEN_KEY)) enter(); else logout('');
});

// Every host that writes fleet records into the vaults, as the daemon's
// fleet thread last read them (GET /api/v1/fleet).
async function loadFleet() {
  const f = await api('/api/v1/fleet');
  const rows = [];
  for (const h of f.hosts) {
    const state = h.silent ? 'SILENT' : 'OK';
    const seen = fmtTime(h.last_seen) + ' (' + fmtSecs(age(h.last_seen)) + ' ago)';
    const srcs = h.sources.length ? h.sources : [null];
    for (const s of srcs) {
      rows.push(el('tr', { 'data-host': h.host, 'data-source': s ? s.source : '', 'data-state': state },
        el('td', {}, el('strong', {}, h.host)),
        el('td', {}, el('span', { class: h.silent ? 'bad' : 'ok' }, state)),
        el('td', {}, seen),
        el('td', {}, h.agent || '—'),
        el('td', {}, s ? s.source : '—'),
        el('td', {}, s && s.newest_good_at ? fmtTime(s.newest_good_at) + ' (' + fmtSecs(age(s.newest_good_at)) + ' ago)' : el('span', { class: 'muted' }, 'none')),
        el('td', {}, s && s.rpo_secs ? objective(s.rpo_ok, fmtSecs(s.rpo_secs) + (s.rpo_ok === false ? ' — VIOLATED' : s.rpo_ok ? ' — met' : '')) : el('span', { class: 'muted' }, 'not set')),
        el('td', {}, s && s.last_restore_secs != null ? 'restored in ' + fmtSecs(s.last_restore_secs) : el('span', { class: 'muted' }, 'none')),
        el('td', {}, s && s.rto_secs ? objective(s.rto_ok, fmtSecs(s.rto_secs) + (s.rto_ok === false ? ' — VIOLATED' : s.rto_ok ? ' — met' : '')) : el('span', { class: 'muted' }, 'not set'))));
    }
  }
  fillTable('#fleet', rows, f.read_at ? 'No fleet records in the vaults yet.' : 'The daemon has not read the fleet records yet.', 9);
  const silent = f.hosts.filter((h) => h.silent).length;
  $('#fleet-summary').textContent = f.hosts.length + ' host(s), ' + silent + ' silent; ' + f.objects + ' record object(s)' + (f.read_at ? ', read ' + fmtTime(f.read_at) : '');
  const problems = Object.entries(f.unreadable || {}).map(([v, e]) => 'vault ' + v + ': ' + e)
    .concat(f.damaged || [], f.rejected || []);
  $('#fleet-problems').replaceChildren(...problems.map((p) => el('li', {}, p)));
  return false;
}
