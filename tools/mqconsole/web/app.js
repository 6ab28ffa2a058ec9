/* mqconsole's page: plain JS over the /api/ calls (the same JSON operators script against).
 * One section per page, chosen by the URL's #hash; every element the browser test touches has
 * a stable id. No framework, nothing fetched from elsewhere. */
'use strict';
const $ = id => document.getElementById(id);
const PAGES = ['cluster', 'topics', 'groups', 'messages', 'dlq', 'send'];
let me = { loginRequired: false, readOnly: false };
let timer = null;
let currentTopic = null, currentGroup = null, currentMsg = null;

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}
function notice(msg) {
  const e = $('notice');
  e.textContent = msg;
  e.hidden = !msg;
}

/* GET when body is undefined, else POST the object. Throws Error(the API's error text). */
async function api(path, body) {
  const opt = body === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  const r = await fetch('/api/' + path, opt);
  let j = null;
  try { j = await r.json(); } catch (e) { /* keep null */ }
  if (r.status === 401 && path !== 'login') { route('login'); }
  if (!r.ok) throw new Error((j && j.error) || `HTTP ${r.status}`);
  return j;
}
const q = obj => Object.entries(obj).filter(([, v]) => v !== '' && v !== undefined)
  .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');

/* Run an async action, showing its error (or clearing the old one). */
async function act(fn) {
  showError('');
  try { await fn(); } catch (e) { showError(e.message); }
}

function fmtTime(ms) {
  if (!ms || ms <= 0) return '';
  const d = new Date(Number(ms));
  return d.toLocaleString();
}

/* Fill a table: cols [[header, row => value or Node, className?]]. */
function table(el, cols, rows) {
  el.textContent = '';
  const tr = document.createElement('tr');
  for (const c of cols) { const th = document.createElement('th'); th.textContent = c[0]; tr.appendChild(th); }
  el.appendChild(tr);
  rows.forEach((row, i) => {
    const r = document.createElement('tr');
    r.dataset.row = i;
    for (const c of cols) {
      const td = document.createElement('td');
      const v = c[1](row);
      if (v instanceof Node) td.appendChild(v); else td.textContent = v === undefined || v === null ? '' : String(v);
      if (c[2]) td.className = c[2];
      r.appendChild(td);
    }
    el.appendChild(r);
  });
}
function button(text, id, onclick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (id) b.id = id;
  b.onclick = onclick;
  return b;
}
function kvTable(el, obj) {
  table(el, [['Field', r => r[0]], ['Value', r => r[1]]], Object.entries(obj));
}

/* ---- series for the charts ---------------------------------------------------------------- */

async function drawSeries() {
  const s = await api('series');
  const pts = s.points.filter(p => p.ok);
  if (!$('page-cluster').hidden)
    lineChart($('chart-tps'), [{ name: 'put TPS', points: pts.map(p => [p.ts, p.putTps]) },
                                { name: 'get TPS', points: pts.map(p => [p.ts, p.getTps]) }]);
  if (!$('page-groups').hidden) {
    const names = [...new Set(pts.flatMap(p => Object.keys(p.lag)))].sort();
    lineChart($('chart-lag'), names.map(g => ({
      name: g, points: pts.filter(p => g in p.lag).map(p => [p.ts, p.lag[g]]) })));
  }
  if (!$('page-topics').hidden && currentTopic)
    lineChart($('chart-topic-tps'), [{ name: currentTopic,
      points: pts.filter(p => currentTopic in p.topicTps).map(p => [p.ts, p.topicTps[currentTopic]]) }]);
}

/* ---- pages -------------------------------------------------------------------------------- */

async function showCluster() {
  const c = await api('cluster');
  $('cluster-namesrv').textContent = 'NameServer ' + c.namesrv;
  table($('cluster-table'), [
    ['Cluster', b => b.clusterName], ['Broker', b => b.brokerName], ['Id', b => b.brokerId, 'num'],
    ['Role', b => b.role], ['Address', b => b.addr], ['Version', b => b.version],
    ['Put TPS', b => b.inTps.toFixed(2), 'num'], ['Get TPS', b => b.outTps.toFixed(2), 'num'],
    ['Msgs in today', b => b.inTotalToday, 'num'], ['Msgs out today', b => b.outTotalToday, 'num'],
    ['Disk used', b => (b.commitLogDiskRatio * 100).toFixed(1) + ' %', 'num'],
    ['Replication lag', b => b.role === 'SLAVE'
      ? (b.behindBytes < 0 ? 'unknown' : `${b.behindBytes} B / ${b.behindMs < 0 ? '?' : b.behindMs} ms`)
      : '', 'num'],
  ], c.brokers);
  await drawSeries();
}

async function showTopics() {
  const t = await api('topics');
  const all = $('topic-show-system').checked;
  const rows = t.topics.filter(x => all || x.kind === 'NORMAL');
  table($('topics-table'), [
    ['Topic', x => x.topic], ['Kind', x => x.kind],
    ['', x => button('Details', 'topic-open-' + x.topic, () => act(() => openTopic(x.topic)))],
  ], rows);
  if (currentTopic) await openTopic(currentTopic);
}

async function openTopic(name) {
  currentTopic = name;
  const [route, st] = await Promise.all([api('topic/route?' + q({ topic: name })),
                                         api('topic/status?' + q({ topic: name }))]);
  $('topic-detail').hidden = false;
  $('topic-detail-name').textContent = name;
  table($('topic-route-table'), [
    ['Broker', b => b.brokerName], ['Cluster', b => b.cluster],
    ['Addresses', b => Object.entries(b.brokerAddrs).map(([k, v]) => `${k}=${v}`).join(' ')],
    ['Read / write queues', b => {
      const qd = route.queueDatas.find(x => x.brokerName === b.brokerName) || {};
      return `${qd.readQueueNums} / ${qd.writeQueueNums} (perm ${qd.perm})`;
    }],
  ], route.brokerDatas);
  table($('topic-status-table'), [
    ['Broker', x => x.brokerName], ['Queue', x => x.queueId, 'num'],
    ['Min offset', x => x.minOffset, 'num'], ['Max offset', x => x.maxOffset, 'num'],
    ['Last updated', x => fmtTime(x.lastUpdateTimestamp)],
  ], st.queues);
  await drawSeries();
}

async function showGroups() {
  const g = await api('groups');
  table($('groups-table'), [
    ['Group', x => x.group], ['Members', x => x.count, 'num'], ['Version', x => x.version],
    ['Type', x => x.consumeType], ['Model', x => x.messageModel], ['TPS', x => x.consumeTps, 'num'],
    ['Lag', x => x.diffTotal, 'num'],
    ['', x => button('Details', 'group-open-' + x.group, () => act(() => openGroup(x.group)))],
  ], g.groups);
  if (currentGroup) await openGroup(currentGroup);
  await drawSeries();
}

async function openGroup(name) {
  currentGroup = name;
  $('group-name').value = name;
  const g = await api('group?' + q({ group: name }));
  $('group-detail').hidden = false;
  $('group-detail-name').textContent = name;
  $('group-summary').textContent = `${g.online ? 'online' : 'not online'}, lag ${g.diffTotal}, ` +
    `consume TPS ${g.consumeTps.toFixed(1)} ${g.consumeType} ${g.messageModel}`;
  table($('group-queues-table'), [
    ['Topic', x => x.topic], ['Broker', x => x.brokerName], ['Queue', x => x.queueId, 'num'],
    ['Broker offset', x => x.brokerOffset, 'num'], ['Consumer offset', x => x.consumerOffset, 'num'],
    ['Lag', x => x.lag, 'num'], ['Last consumed', x => fmtTime(x.lastTimestamp)],
  ], g.queues);
  table($('group-conns-table'), [
    ['Client id', x => x.clientId], ['Address', x => x.clientAddr], ['Language', x => x.language],
    ['Version', x => x.version, 'num'],
    ['', x => button('Running info', null, () => act(async () => {
      const info = await api('group/running-info?' + q({ group: name, clientId: x.clientId }));
      $('running-info').hidden = false;
      $('running-info').textContent = JSON.stringify(info, null, 2);
    }))],
  ], g.connections);
  if (!$('reset-topic').value && g.queues.length) $('reset-topic').value = g.queues[0].topic;
}

async function resetOffset() {
  const r = await api('group/reset-offset', { group: $('group-name').value.trim(),
    topic: $('reset-topic').value.trim(), timestamp: $('reset-time').value.trim() });
  table($('reset-result'), [['Broker', x => x.brokerName], ['Queue', x => x.queueId, 'num'],
                            ['New offset', x => x.offset, 'num']], r.offsets);
  notice(`offsets of ${r.group} on ${r.topic} reset to ${fmtTime(r.timestamp) || r.timestamp}`);
  await openGroup(r.group);
}

function msgTable(list) {
  table($('msg-table'), [
    ['Message id', m => m.msgId], ['Topic', m => m.topic], ['Tags', m => m.tags], ['Keys', m => m.keys],
    ['Queue', m => m.queueId, 'num'], ['Offset', m => m.queueOffset, 'num'],
    ['Stored', m => fmtTime(m.storeTimestamp)],
    ['', m => button('Details', 'msg-open-' + m.msgId,
                     () => act(() => openMessage(m.offsetMsgId || m.msgId, m.topic)))],
  ], list);
  if (list.length === 0) notice('no message found');
}

let bodyView = 'text';
function showBody() {
  if (!currentMsg) return;
  const m = currentMsg;
  $('msg-body').textContent = bodyView === 'hex' ? m.bodyHex.replace(/(..)/g, '$1 ').trim()
    : bodyView === 'base64' ? m.bodyBase64
    : (m.bodyText === null ? '(not UTF-8 text: see hex or base64)' : m.bodyText);
}

async function openMessage(id, topic) {
  const m = await api('message?' + q({ id, topic }));
  currentMsg = m;
  $('msg-detail').hidden = false;
  $('msg-detail-id').textContent = m.msgId;
  kvTable($('msg-fields'), {
    'Message id': m.msgId, 'Offset message id': m.offsetMsgId, Topic: m.topic, Tags: m.tags,
    Keys: m.keys, Queue: m.queueId, 'Queue offset': m.queueOffset,
    'Commit log offset': m.commitLogOffset, 'Reconsume times': m.reconsumeTimes,
    Born: `${fmtTime(m.bornTimestamp)} from ${m.bornHost}`,
    Stored: `${fmtTime(m.storeTimestamp)} on ${m.storeHost}`, 'Body bytes': m.bodyLength,
  });
  kvTable($('msg-props'), m.properties);
  showBody();
  table($('msg-tracks'), [['Group', t => t.consumerGroup], ['State', t => t.trackType],
                          ['Note', t => t.exceptionDesc]], m.tracks || []);
  if (!$('resend-group').value && m.tracks && m.tracks.length)
    $('resend-group').value = m.tracks[0].consumerGroup;
}

async function showDlq() {
  const g = $('dlq-group').value.trim();
  if (!g) { table($('dlq-table'), [], []); return; }
  const d = await api('dlq?' + q({ group: g }));
  table($('dlq-table'), [
    ['Message id', m => m.msgId], ['Original topic', m => m.originTopic], ['Tags', m => m.tags],
    ['Keys', m => m.keys], ['Reconsumed', m => m.reconsumeTimes, 'num'],
    ['Stored', m => fmtTime(m.storeTimestamp)], ['Body', m => (m.body || '').slice(0, 80)],
    ['', m => button('Resend', 'dlq-resend-' + m.msgId, () => act(async () => {
      const r = await api('dlq/resend', { group: g, id: m.msgId });
      notice(`resent ${r.resent.length} message(s) to ${m.originTopic}`);
    }))],
  ], d.messages);
  if (d.messages.length === 0) notice(`no dead letters of ${g}`);
}

/* ---- routing -------------------------------------------------------------------------- */

const SHOW = { cluster: showCluster, topics: showTopics, groups: showGroups,
               messages: async () => {}, dlq: showDlq, send: async () => {} };

function route(page) {
  if (page && location.hash !== '#' + page) { location.hash = page; return; }
  page = location.hash.slice(1) || 'cluster';
  if (me.loginRequired && !me.user) page = 'login';
  if (page !== 'login' && !PAGES.includes(page)) page = 'cluster';
  for (const p of PAGES.concat('login')) $('page-' + p).hidden = p !== page;
  for (const p of PAGES) $('nav-' + p).classList.toggle('active', p === page);
  document.body.dataset.page = page;
  notice('');
  clearInterval(timer);
  timer = null;
  if (page === 'login') return;
  act(SHOW[page]);
  if (page === 'cluster' || page === 'groups' || page === 'topics')
    timer = setInterval(() => drawSeries().catch(e => showError(e.message)), 3000);
}

async function whoami() {
  me = await api('whoami');
  $('who').textContent = me.user ? `${me.user} (${me.role})` : '';
  $('logout-btn').hidden = !me.user;
  $('readonly-badge').hidden = !me.readOnly;
}

function wire() {
  window.addEventListener('hashchange', () => route());
  $('login-form').onsubmit = ev => { ev.preventDefault(); act(async () => {
    await api('login', { user: $('login-user').value, password: $('login-password').value });
    $('login-password').value = '';
    await whoami();
    route('cluster');
  }); };
  $('logout-btn').onclick = () => act(async () => { await api('logout', {}); await whoami(); route(); });
  $('topic-form').onsubmit = ev => { ev.preventDefault(); act(async () => {
    const name = $('topic-name').value.trim();
    const r = await api('topic/create', { topic: name, readQueueNums: Number($('topic-read').value),
      writeQueueNums: Number($('topic-write').value), perm: Number($('topic-perm').value),
      cluster: $('topic-cluster').value.trim() });
    notice(`topic ${r.topic} created on ${r.brokers.join(', ')}`);
    currentTopic = name;
    await showTopics();
  }); };
  $('topic-show-system').onchange = () => act(showTopics);
  $('topic-delete-btn').onclick = () => act(async () => {
    if (!confirm(`Delete topic ${currentTopic} from every broker and NameServer?`)) return;
    await api('topic/delete', { topic: currentTopic });
    notice(`topic ${currentTopic} deleted`);
    currentTopic = null;
    $('topic-detail').hidden = true;
    await showTopics();
  });
  $('group-form').onsubmit = ev => { ev.preventDefault(); act(() => openGroup($('group-name').value.trim())); };
  $('reset-form').onsubmit = ev => { ev.preventDefault(); act(resetOffset); };
  $('q-key-btn').onclick = () => act(async () => {
    const r = await api('messages/by-key?' + q({ topic: $('q-topic').value.trim(), key: $('q-key').value.trim() }));
    msgTable(r.messages);
  });
  $('q-time-btn').onclick = () => act(async () => {
    const r = await api('messages/by-time?' + q({ topic: $('q-topic').value.trim(),
      begin: $('q-begin').value.trim(), end: $('q-end').value.trim() }));
    msgTable(r.messages);
    if (r.truncated) notice(`showing the first ${r.max} messages only`);
  });
  $('q-id-form').onsubmit = ev => { ev.preventDefault(); act(() => openMessage($('q-id').value.trim(), $('q-topic').value.trim())); };
  for (const v of ['text', 'hex', 'base64'])
    $('msg-view-' + v).onclick = () => { bodyView = v; showBody(); };
  $('resend-form').onsubmit = ev => { ev.preventDefault(); act(async () => {
    const r = await api('message/resend', { id: currentMsg.offsetMsgId, group: $('resend-group').value.trim() });
    $('resend-result').hidden = false;
    $('resend-result').textContent = JSON.stringify(r, null, 2);
  }); };
  $('dlq-form').onsubmit = ev => { ev.preventDefault(); act(showDlq); };
  $('dlq-resend-all-btn').onclick = () => act(async () => {
    const r = await api('dlq/resend', { group: $('dlq-group').value.trim() });
    notice(`resent ${r.resent.length} of ${r.matched} dead letter(s), ${r.failed} failed`);
  });
  $('send-form').onsubmit = ev => { ev.preventDefault(); act(async () => {
    const r = await api('send', { topic: $('send-topic').value.trim(), tags: $('send-tags').value.trim(),
      keys: $('send-keys').value.trim(), body: $('send-body').value });
    kvTable($('send-result'), r);
    notice(`sent: ${r.sendStatus} ${r.msgId}`);
  }); };
}

wire();
act(async () => { await whoami(); route(); });
