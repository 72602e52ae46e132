/// `GET /`: a single self-contained page (no external assets) showing the peers, the instances
/// and their ranks with runner states, and a chat box on the streaming API. It only reads the
/// public JSON endpoints (with the API key, when the node has one, kept in the browser).
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>exo-peer</title>
<style>
  :root { --bg:#0f1115; --panel:#171a21; --line:#272b35; --text:#e6e8ee; --dim:#8a90a0; --ok:#3ecf8e; --warn:#f5a524; --bad:#f54e4e; --accent:#6ea8fe; }
  * { box-sizing: border-box; } [hidden] { display:none !important; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; flex-wrap:wrap; align-items:baseline; gap:12px; padding:16px 24px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  header .node { color:var(--dim); font-family:ui-monospace, monospace; }
  main { display:grid; grid-template-columns: minmax(0,1fr); gap:16px; padding:16px 24px; max-width:1400px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 16px; overflow-x:auto; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 8px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:500; }
  td.mono { font-family:ui-monospace, monospace; } td.wrap { white-space:normal; }
  .pill { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; border:1px solid currentColor; }
  .alive, .ready, .running { color:var(--ok); } .suspect, .loading, .connecting, .connected, .loaded, .warmingup { color:var(--warn); }
  .dead, .failed, .left, .shutdown, .shuttingdown { color:var(--bad); } .converging { color:var(--warn); } .none { color:var(--dim); } .converged { color:var(--ok); }
  #keyform { margin:0 0 0 auto; } #unplaced { margin-top:8px; }
  #log { min-height:120px; max-height:320px; overflow:auto; white-space:pre-wrap; background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:10px; }
  .msg-user { color:var(--accent); } .msg-error { color:var(--bad); }
  form { display:flex; gap:8px; margin-top:8px; }
  input, select, button { font:inherit; color:var(--text); background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 10px; }
  input { flex:1; } button { background:var(--accent); color:#0b1020; border:none; cursor:pointer; } button:disabled { opacity:.5; }
  .empty { color:var(--dim); padding:8px 0; }
</style>
</head>
<body>
<header><h1>exo-peer</h1><span class="node" id="self">…</span><span class="node" id="view"></span><span class="node" id="updated"></span>
  <form id="keyform" hidden><input id="key" type="password" placeholder="API key" autocomplete="off"><button>Use key</button></form></header>
<main>
  <section><h2>Peers</h2><div id="peers" class="empty">loading…</div></section>
  <section><h2>Instances</h2><div id="instances" class="empty">loading…</div><div id="unplaced"></div></section>
  <section id="chat"><h2>Chat</h2>
    <div id="log"></div>
    <form id="form"><select id="model"></select><input id="prompt" placeholder="Ask something…" autocomplete="off"><button id="send">Send</button></form>
  </section>
</main>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const gib = b => (b / 1073741824).toFixed(1);
const pill = s => `<span class="pill ${esc(String(s).toLowerCase())}">${esc(s)}</span>`;
const $ = id => document.getElementById(id);
const turns = [];
let apiKey = localStorage.getItem('exo-peer-api-key') || '';

// With --api-key every endpoint but /health wants the key: ask for it once, keep it in this browser.
function headers(extra) { return Object.assign(apiKey ? { authorization: 'Bearer ' + apiKey } : {}, extra || {}); }
async function getJSON(path) {
  const r = await fetch(path, { headers: headers() });
  if (r.status === 401) { $('keyform').hidden = false; throw new Error(path + ': this node wants an API key'); }
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}
$('keyform').addEventListener('submit', ev => {
  ev.preventDefault(); apiKey = $('key').value.trim(); localStorage.setItem('exo-peer-api-key', apiKey);
  $('keyform').hidden = true; refreshModels(); tick();
});

async function refreshPeers() {
  try {
    const data = await getJSON('/peers');
    $('self').textContent = 'node ' + data.node.slice(0, 8);
    const peers = data.peers.slice().sort((a, b) => (b.isSelf - a.isSelf) || a.id.localeCompare(b.id));
    const rows = peers.map(p => `<tr class="peer" data-node="${esc(p.id)}"><td class="mono">${esc(p.id.slice(0, 8))}${p.isSelf ? ' (this)' : ''}</td>
      <td class="mono">${esc(p.address)}:${p.apiPort}</td><td>${pill(p.liveness)}</td>
      <td>${p.lastHeardSeconds == null ? '–' : p.lastHeardSeconds.toFixed(1) + ' s'}</td>
      <td>${gib(p.memoryAvailableBytes)} / ${gib(p.memoryTotalBytes)} GiB</td><td>${p.cores}</td>
      <td class="wrap">${esc(p.models.join(', ') || '–')}</td><td>${p.healthScore.toFixed(2)}</td></tr>`).join('');
    $('peers').outerHTML = `<table id="peers"><tr><th>Node</th><th>Address</th><th>Liveness</th><th>Heard</th><th>Memory</th><th>Cores</th><th>Models</th><th>Health</th></tr>${rows}</table>`;
  } catch (e) { $('peers').outerHTML = `<div id="peers" class="empty">${esc(e.message)}</div>`; }
}

async function refreshView() {
  try {
    const s = await getJSON('/state');
    const lagging = s.convergence.filter(c => c.knownBy < c.liveNodes).length;
    $('view').innerHTML = s.converged ? pill('converged') : pill('converging') + ` ${lagging} record${lagging === 1 ? '' : 's'} spreading`;
  } catch (e) { $('view').textContent = ''; }
}

async function refreshInstances() {
  try {
    const data = await getJSON('/instances');
    const list = data.instances || [], unplaced = data.unplaced || [];
    if (!list.length) {
      $('instances').outerHTML = '<div id="instances" class="empty">No instances.</div>';
    } else {
      const rows = list.flatMap(i => i.ranks.map((r, n) => `<tr class="rank" data-instance="${esc(i.id)}"><td class="mono">${n === 0 ? esc(i.id) : ''}</td>
        <td>${n === 0 ? esc(i.model) : ''}</td><td>${r.rank}</td><td class="mono">${esc(r.node.slice(0, 8))}</td>
        <td>${r.layerStart}–${r.layerEnd - 1}</td><td>${pill(r.runner || 'unknown')}</td></tr>`)).join('');
      $('instances').outerHTML = `<table id="instances"><tr><th>Instance</th><th>Model</th><th>Rank</th><th>Node</th><th>Layers</th><th>Runner</th></tr>${rows}</table>`;
    }
    $('unplaced').innerHTML = unplaced.map(u => `<div class="msg-error">${esc(u.id)} (${esc(u.model)}) not placed: ${esc(u.reason)}</div>`).join('');
  } catch (e) { $('instances').outerHTML = `<div id="instances" class="empty">${esc(e.message)}</div>`; }
}

async function refreshModels() {
  try {
    const data = await getJSON('/v1/models');
    const select = $('model'), current = select.value;
    select.innerHTML = data.data.map(m => `<option>${esc(m.id)}</option>`).join('');
    if (current) select.value = current;
  } catch (e) { /* shown by the chat on send */ }
}

function append(cls, text) {
  const log = $('log');
  const div = document.createElement('div'); div.className = cls; div.textContent = text;
  log.appendChild(div); log.scrollTop = log.scrollHeight; return div;
}

$('form').addEventListener('submit', async ev => {
  ev.preventDefault();
  const input = $('prompt'), send = $('send');
  const prompt = input.value.trim(); if (!prompt) return;
  input.value = ''; send.disabled = true;
  turns.push({ role: 'user', content: prompt });
  append('msg-user', '› ' + prompt);
  const out = append('msg-assistant', '');
  try {
    const r = await fetch('/v1/chat/completions', { method: 'POST', headers: headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ model: $('model').value, messages: turns, stream: true }) });
    if (!r.ok) { const e = await r.json().catch(() => ({})); throw new Error((e.error && e.error.message) || 'HTTP ' + r.status); }
    const reader = r.body.getReader(), decoder = new TextDecoder(); let buffer = '';
    for (;;) {
      const { value, done } = await reader.read(); if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut; while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
        const chunk = JSON.parse(event.slice(6));
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) out.textContent += delta.content;
      }
    }
    turns.push({ role: 'assistant', content: out.textContent });
  } catch (e) { out.className = 'msg-error'; out.textContent = 'error: ' + e.message; turns.pop(); }
  send.disabled = false; input.focus();
});

function tick() { refreshPeers(); refreshView(); refreshInstances(); $('updated').textContent = 'updated ' + new Date().toLocaleTimeString(); }
refreshModels(); tick(); setInterval(tick, 2000); setInterval(refreshModels, 10000);
</script>
</body>
</html>
"""#
}
