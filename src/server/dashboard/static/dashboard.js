// The Sluice dashboard: polls the stats API (the shared ledger) and draws it with uPlot.
// The admin key, when the gateway has one, is asked for once, kept in this tab's
// sessionStorage and sent as a bearer header; it never goes into a URL.

const REFRESH_MS = 5000;
const KEY_STORAGE = 'sluice.adminKey';
const QUEUE_SAMPLES = 120;
const COLORS = {
  exact: '#1f6feb',
  semantic: '#8250df',
  upstream: '#d4731c',
  requests: '#1f6feb',
  errors: '#c62828',
  refusals: '#e09b00',
  cost: '#d4731c',
  flight: '#2da44e',
  prompt: '#57606a',
};

const $ = (selector) => document.querySelector(selector);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = {
  range: sessionStorage.getItem('sluice.range') || '1h',
  charts: {},
  queue: { t: [], queued: [], inFlight: [] },
  inFlight: false,
  timer: undefined,
};

// ---- formatting -----------------------------------------------------------------------

function usd(n) {
  if (n === 0) return '$0';
  return Math.abs(n) >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(6)}`;
}

function percent(ratio) {
  return `${(ratio * 100).toFixed(1)}%`;
}

function count(n) {
  return n.toLocaleString('en-US');
}

function setText(testId, text, value) {
  const el = byTestId(testId);
  el.textContent = text;
  if (value !== undefined) el.dataset.value = String(value);
}

// ---- data -----------------------------------------------------------------------------

class Unauthorized extends Error {}

async function getJson(path) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers = key ? { authorization: `Bearer ${key}` } : {};
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized();
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error?.message || `HTTP ${res.status}`);
  return body;
}

async function refresh() {
  if (state.inFlight) return;
  state.inFlight = true;
  const range = encodeURIComponent(state.range);
  try {
    const [series, stats] = await Promise.all([
      getJson(`v1/stats/series?range=${range}`),
      getJson(`v1/stats?range=${range}`),
    ]);
    showMain();
    render(series, stats);
    const status = $('#status');
    status.classList.remove('stale');
    status.textContent = `updated ${new Date().toLocaleTimeString()} · every ${REFRESH_MS / 1000} s · ${stats.window.backend} ledger`;
  } catch (e) {
    if (e instanceof Unauthorized) {
      askForKey(sessionStorage.getItem(KEY_STORAGE) ? 'That key was refused.' : '');
    } else {
      const status = $('#status');
      status.classList.add('stale');
      status.textContent = `refresh failed: ${e.message}`;
    }
  } finally {
    state.inFlight = false;
  }
}

// ---- key prompt -----------------------------------------------------------------------

function askForKey(message) {
  stopPolling();
  sessionStorage.removeItem(KEY_STORAGE);
  $('#main').hidden = true;
  $('#forget-key').hidden = true;
  $('#key-form').hidden = false;
  $('#status').textContent = 'admin key needed';
  const error = $('#key-error');
  error.textContent = message;
  error.hidden = !message;
  $('#key-input').focus();
}

function showMain() {
  $('#key-form').hidden = true;
  $('#main').hidden = false;
  $('#forget-key').hidden = !sessionStorage.getItem(KEY_STORAGE);
}

// ---- rendering ------------------------------------------------------------------------

function render(data, stats) {
  const t = data.totals;
  setText('total-requests', count(t.total_requests), t.total_requests);
  setText('hit-rate', percent(t.hit_rate), t.hit_rate);
  setText('hit-counts', `${count(t.hits.exact + t.hits.semantic)} of ${count(t.total_requests)}`);
  setText('hits-exact', count(t.hits.exact), t.hits.exact);
  setText('hits-semantic', count(t.hits.semantic), t.hits.semantic);
  setText('errors', count(t.errors), t.errors);
  setText('refusals', count(t.refusals), t.refusals);
  setText('cost', usd(t.cost_usd), t.cost_usd);
  setText('cost-avoided', usd(t.cost_avoided_usd + t.prompt_cache_saved_usd), t.cost_avoided_usd);

  const fb = data.feedback;
  const scores = Object.values(fb.by_name);
  const mean = scores.length === 0 ? undefined : scores.reduce((s, n) => s + n.mean * n.count, 0) / fb.count;
  setText('feedback-mean', mean === undefined ? '–' : mean.toFixed(2), mean ?? '');
  setText('feedback-count', `${count(fb.count)} score${fb.count === 1 ? '' : 's'}`, fb.count);

  const limiters = Object.values(stats.flow.upstreams);
  const queued = limiters.reduce((s, l) => s + l.queued, 0);
  const inFlight = limiters.reduce((s, l) => s + l.inFlight, 0);
  setText('queue-depth', count(queued), queued);
  sampleQueue(queued, inFlight);

  const s = data.series;
  draw('hit-rate', [s.t, pct(s.hit_rate_exact), pct(s.hit_rate_semantic)]);
  const l = s.latency_ms;
  draw('latency', [
    s.t,
    l.exact.p50,
    l.exact.p90,
    l.exact.p99,
    l.semantic.p50,
    l.upstream.p50,
    l.upstream.p90,
    l.upstream.p99,
  ]);
  draw('requests', [s.t, s.requests, s.errors, s.refusals]);
  const days = data.days;
  draw('days', [
    days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000),
    days.map((d) => d.cost_usd),
    days.map((d) => d.saved_usd.exact),
    days.map((d) => d.saved_usd.semantic),
    days.map((d) => d.saved_usd.flight),
    days.map((d) => d.saved_usd.prompt_cache),
  ]);
  draw('queue', [state.queue.t, state.queue.queued, state.queue.inFlight]);

  $('#top-users-caption').textContent = `Top users by spend, last ${days.length} days, with today's budget`;
  $('#top-models-caption').textContent = `Top models by spend, last ${days.length} days`;
  fillTable(
    'top-users',
    data.top_users.map((u) => [u.user, count(u.requests), usd(u.cost_usd), budgetCell(u.budget)]),
  );
  fillTable(
    'top-models',
    data.top_models.map((m) => [m.model, count(m.requests), usd(m.cost_usd), usd(m.cost_avoided_usd)]),
  );
  fillTable(
    'refusals-by-code',
    Object.entries(t.refusals_by_code).map(([code, n]) => [code, count(n)]),
  );
  fillTable(
    'feedback-latest',
    fb.latest.map((f) => [
      new Date(f.at).toLocaleTimeString(),
      f.name,
      String(f.score),
      f.comment ?? '',
      f.request_id,
    ]),
  );
  const names = $('#feedback-names');
  names.replaceChildren(
    ...(Object.keys(fb.by_name).length === 0
      ? [emptyNote('no feedback in this range')]
      : Object.entries(fb.by_name).map(([name, v]) => {
          const row = document.createElement('div');
          row.textContent = `${name}: mean ${v.mean.toFixed(2)} over ${count(v.count)}`;
          return row;
        })),
  );
}

function pct(column) {
  return column.map((v) => (v === null ? null : v * 100));
}

function sampleQueue(queued, inFlight) {
  const q = state.queue;
  q.t.push(Date.now() / 1000);
  q.queued.push(queued);
  q.inFlight.push(inFlight);
  if (q.t.length > QUEUE_SAMPLES) {
    q.t.shift();
    q.queued.shift();
    q.inFlight.shift();
  }
}

function emptyNote(text) {
  const note = document.createElement('span');
  note.className = 'empty';
  note.textContent = text;
  return note;
}

function budgetCell(budget) {
  if (!budget) return 'no daily budget';
  // A $0 limit refuses every priced call: show it as spent.
  const used = budget.limit_usd > 0 ? budget.used : 1;
  const wrap = document.createElement('span');
  const bar = document.createElement('span');
  bar.className = 'bar';
  const fill = document.createElement('span');
  fill.style.width = `${Math.min(100, used * 100).toFixed(1)}%`;
  if (used >= 1) fill.className = 'over';
  bar.append(fill);
  wrap.append(bar, `${percent(used)} of ${usd(budget.limit_usd)}`);
  return wrap;
}

function fillTable(testId, rows) {
  const body = byTestId(testId).tBodies[0];
  if (rows.length === 0) {
    const cell = document.createElement('td');
    cell.colSpan = byTestId(testId).tHead.rows[0].cells.length;
    cell.append(emptyNote('none in this range'));
    const tr = document.createElement('tr');
    tr.append(cell);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      for (const value of cells) {
        const td = document.createElement('td');
        td.append(value);
        tr.append(td);
      }
      return tr;
    }),
  );
}

// ---- charts ---------------------------------------------------------------------------

function line(label, stroke, extra = {}) {
  return { label, stroke, width: 2, spanGaps: false, points: { size: 5 }, ...extra };
}

function bars(label, fill) {
  return {
    label,
    stroke: fill,
    fill,
    width: 1,
    paths: uPlot.paths.bars({ size: [0.5, 40] }),
    points: { show: false },
  };
}

const money = (_u, values) => values.map((v) => (v === null ? '' : usd(v)));

const CHARTS = {
  'hit-rate': () => ({
    series: [{}, line('exact %', COLORS.exact), line('semantic %', COLORS.semantic)],
    axes: [{}, { values: (_u, v) => v.map((x) => `${x}%`) }],
    scales: { y: { range: [0, 100] } },
  }),
  latency: () => ({
    series: [
      {},
      line('exact p50', COLORS.exact),
      line('exact p90', COLORS.exact, { dash: [6, 4] }),
      line('exact p99', COLORS.exact, { dash: [2, 3] }),
      line('semantic p50', COLORS.semantic),
      line('upstream p50', COLORS.upstream),
      line('upstream p90', COLORS.upstream, { dash: [6, 4] }),
      line('upstream p99', COLORS.upstream, { dash: [2, 3] }),
    ],
  }),
  requests: () => ({
    scales: { y: { range: (_u, _min, max) => [0, Math.max(4, max)] } },
    series: [
      {},
      line('requests', COLORS.requests),
      line('errors', COLORS.errors),
      line('refusals', COLORS.refusals),
    ],
  }),
  days: () => ({
    series: [
      { value: (_u, v) => (v === null ? '' : new Date(v * 1000).toISOString().slice(0, 10)) },
      bars('spent', COLORS.cost),
      line('saved: exact', COLORS.exact),
      line('saved: semantic', COLORS.semantic),
      line('saved: flight', COLORS.flight),
      line('saved: prompt cache', COLORS.prompt),
    ],
    axes: [{}, { values: money, size: 80 }],
  }),
  queue: () => ({
    series: [{}, line('queued', COLORS.refusals), line('in flight', COLORS.requests)],
    scales: { y: { range: (_u, _min, max) => [0, Math.max(4, max)] } },
  }),
};

function draw(name, data) {
  const existing = state.charts[name];
  if (existing) {
    existing.setData(data);
    return;
  }
  const el = document.getElementById(`chart-${name}`);
  const options = { width: chartWidth(el), height: 220, ...CHARTS[name]() };
  state.charts[name] = new uPlot(options, data, el);
}

function chartWidth(el) {
  return Math.max(300, el.clientWidth || el.parentElement.clientWidth - 24);
}

function resizeCharts() {
  for (const [name, chart] of Object.entries(state.charts)) {
    const el = document.getElementById(`chart-${name}`);
    chart.setSize({ width: chartWidth(el), height: 220 });
  }
}

// ---- polling and controls -------------------------------------------------------------

function startPolling() {
  stopPolling();
  refresh();
  state.timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
}

function stopPolling() {
  clearInterval(state.timer);
  state.timer = undefined;
}

function init() {
  const range = $('#range');
  range.value = state.range;
  range.addEventListener('change', () => {
    state.range = range.value;
    sessionStorage.setItem('sluice.range', state.range);
    refresh();
  });
  $('#key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#key-input');
    sessionStorage.setItem(KEY_STORAGE, input.value);
    input.value = '';
    startPolling();
  });
  $('#forget-key').addEventListener('click', () => askForKey(''));
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(resizeCharts, 150);
  });
  startPolling();
}

init();
