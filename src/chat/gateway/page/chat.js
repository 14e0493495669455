// The chat page: sign-in, buddy list with presence, conversation windows with
// history, typing indicator, unread counts. The long-poll runs in the
// channel iframe (channel.js), which hands events over with postMessage.
// Messages are kept per conversation by id, so whatever arrives twice (the
// poll, the send's answer, a history re-read after `refresh`) shows once.
// Tabs of one user stay in step: every message reaches every tab through the
// user's channel, and reading a conversation is told to the other tabs over
// a BroadcastChannel.
const $ = (sel, root = document) => root.querySelector(sel);
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOW_MS = 8000;
const HISTORY_LIMIT = 50;

const state = {
  me: null,
  friends: new Map(), // id -> { state, idleSeconds, unread, typing }
  conversations: new Map(), // id -> { el, messages: Map(id -> message), typingTimer }
  frame: null,
};
const tabs = 'BroadcastChannel' in window ? new BroadcastChannel('beambridge-chat') : null;

const nameOf = (id) => `User ${id}`;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The chat server cannot be reached. Try again in a moment.');
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json.error ?? {};
    throw new ApiError(res.status, e.code ?? 'error', e.message ?? `The server answered ${res.status}.`);
  }
  return json;
}

function setConnection(text) {
  $('#connection').textContent = text;
}

// ------------------------------------------------------------------ sign in

function showSignIn(message = '') {
  stopChannel();
  state.me = null;
  state.friends.clear();
  for (const c of state.conversations.values()) c.el.remove();
  state.conversations.clear();
  $('#buddy-list').replaceChildren();
  $('#chat').hidden = true;
  $('#account').hidden = true;
  $('#sign-in').hidden = false;
  $('#sign-in-error').textContent = message;
  setConnection('');
  $('#user-id').focus();
}

$('#sign-in-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const userId = $('#user-id').value.trim();
  if (!/^-?\d+$/.test(userId)) {
    $('#sign-in-error').textContent = 'Enter your user id (a number).';
    return;
  }
  $('#sign-in-error').textContent = '';
  try {
    start(await api('POST', '/api/login', { userId }));
  } catch (err) {
    $('#sign-in-error').textContent = err.status === 401 ? `User ${userId} cannot sign in here.` : err.message;
  }
});

$('#sign-out').addEventListener('click', async () => {
  stopChannel();
  try {
    await api('POST', '/api/logout');
  } catch {
    // Signed out locally either way.
  }
  tabs?.postMessage({ type: 'signedout', me: state.me });
  showSignIn();
});

function start(session) {
  state.me = session.userId;
  $('#sign-in').hidden = true;
  $('#chat').hidden = false;
  $('#account').hidden = false;
  $('#whoami').textContent = `Signed in as ${nameOf(state.me)}`;
  for (const f of session.friends) state.friends.set(f.userId, { state: f.state, idleSeconds: f.idleSeconds, unread: 0, typing: false });
  renderBuddies();
  startChannel(session);
}

// ------------------------------------------------------------------ channel iframe

function startChannel(session) {
  stopChannel();
  const frame = document.createElement('iframe');
  frame.src = 'channel.html';
  frame.title = 'Chat channel';
  frame.hidden = true;
  frame.setAttribute('aria-hidden', 'true');
  state.frame = { el: frame, session };
  document.body.append(frame);
  setConnection('Connecting…');
}

function stopChannel() {
  if (state.frame === null) return;
  state.frame.el.contentWindow?.postMessage({ type: 'stop' }, location.origin);
  state.frame.el.remove();
  state.frame = null;
}

window.addEventListener('message', (e) => {
  const frame = state.frame;
  if (frame === null || e.origin !== location.origin || e.source !== frame.el.contentWindow) return;
  const msg = e.data;
  switch (msg.type) {
    case 'ready': {
      const s = frame.session;
      frame.el.contentWindow.postMessage({ type: 'start', seq: s.seq, epoch: s.epoch, pv: s.pv }, location.origin);
      setConnection('Connected');
      break;
    }
    case 'events':
      for (const ev of msg.events) onEvent(ev);
      break;
    case 'presence':
      for (const p of msg.presence) setPresence(p);
      break;
    case 'refresh':
      // The channel was reset (or this page fell behind): re-read what is on screen.
      for (const id of state.conversations.keys()) void loadHistory(id);
      break;
    case 'status':
      setConnection(msg.state === 'live' ? 'Connected' : `Reconnecting in ${Math.ceil(msg.retryInMs / 1000)} s…`);
      break;
    case 'signedout':
      showSignIn('You were signed out.');
      break;
  }
});

function onEvent(ev) {
  if (ev.type === 'message') {
    const m = ev.message;
    const peer = m.from === state.me ? m.to : m.from;
    if (m.from !== state.me) setTyping(peer, false);
    const conv = state.conversations.get(peer);
    if (conv) addMessages(peer, [m]);
    else if (m.from !== state.me) {
      const f = state.friends.get(peer);
      if (f) {
        f.unread += 1;
        renderBuddy(peer);
      }
    }
  } else if (ev.type === 'typing' && ev.typing.to === state.me) {
    setTyping(ev.typing.from, ev.typing.active);
  }
}

// ------------------------------------------------------------------ buddy list

// "online", "idle" (with the idle step, as Facebook's 1, 2, 5 and 10 minutes) or "offline".
function presenceText(f) {
  if (f.state !== 'idle') return f.state;
  const min = Math.floor((f.idleSeconds ?? 0) / 60);
  const step = [10, 5, 2, 1].find((s) => min >= s);
  return step ? `idle ${step}+ min` : 'idle';
}

function renderBuddies() {
  const ids = [...state.friends.keys()].sort((a, b) => {
    const rank = (s) => (s === 'online' ? 0 : s === 'idle' ? 1 : 2);
    const d = rank(state.friends.get(a).state) - rank(state.friends.get(b).state);
    return d !== 0 ? d : (BigInt(a) < BigInt(b) ? -1 : 1);
  });
  $('#buddy-list').replaceChildren(...ids.map((id) => buddyItem(id)));
}

function buddyItem(id) {
  const f = state.friends.get(id);
  const li = document.createElement('li');
  li.dataset.id = id;
  li.className = `buddy ${f.state}`;
  const b = document.createElement('button');
  b.type = 'button';
  const dot = document.createElement('span');
  dot.className = 'dot';
  dot.setAttribute('aria-hidden', 'true');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = nameOf(id);
  const st = document.createElement('span');
  st.className = 'state';
  st.textContent = presenceText(f);
  b.append(dot, name, ' ', st);
  if (f.typing) {
    const t = document.createElement('span');
    t.className = 'buddy-typing';
    t.textContent = ' typing…';
    b.append(t);
  }
  if (f.unread > 0) {
    const u = document.createElement('span');
    u.className = 'unread';
    u.textContent = ` ${f.unread} unread`;
    b.append(u);
  }
  b.addEventListener('click', () => openConversation(id, true));
  li.append(b);
  return li;
}

function renderBuddy(id) {
  const old = $(`#buddy-list li[data-id="${id}"]`);
  if (old) old.replaceWith(buddyItem(id));
  const conv = state.conversations.get(id);
  if (conv) $('.peer-state', conv.el).textContent = presenceText(state.friends.get(id) ?? { state: 'offline' });
}

function setPresence(p) {
  const f = state.friends.get(p.userId);
  if (!f) return;
  const moved = f.state !== p.state;
  f.state = p.state;
  f.idleSeconds = p.idleSeconds;
  if (p.state === 'offline') f.typing = false;
  if (moved) renderBuddies();
  renderBuddy(p.userId);
}

function setTyping(peer, active) {
  const f = state.friends.get(peer);
  if (f && f.typing !== active) {
    f.typing = active;
    renderBuddy(peer);
  }
  const conv = state.conversations.get(peer);
  if (!conv) return;
  clearTimeout(conv.typingTimer);
  $('.typing', conv.el).textContent = active ? `${nameOf(peer)} is typing…` : '';
  // A notice whose "stopped" never came (the peer closed the tab) clears by itself.
  if (active) conv.typingTimer = setTimeout(() => setTyping(peer, false), TYPING_SHOW_MS);
}

// ------------------------------------------------------------------ conversations

function openConversation(peer, focus) {
  let conv = state.conversations.get(peer);
  if (!conv) {
    const el = $('#conversation-template').content.firstElementChild.cloneNode(true);
    const title = `Conversation with ${nameOf(peer)}`;
    el.setAttribute('aria-label', title);
    el.dataset.peer = peer;
    $('h3', el).textContent = nameOf(peer);
    $('.close', el).setAttribute('aria-label', `Close conversation with ${nameOf(peer)}`);
    $('.messages', el).setAttribute('aria-label', `Messages with ${nameOf(peer)}`);
    const inputId = `message-${peer}`;
    $('label', el).htmlFor = inputId;
    $('.message', el).id = inputId;
    conv = { el, messages: new Map(), typingTimer: undefined, typingSentAt: 0, typingStop: undefined };
    state.conversations.set(peer, conv);
    $('#no-conversation').hidden = true;
    $('#conversations').append(el);
    wireConversation(peer, conv);
    void loadHistory(peer);
    renderBuddy(peer);
  }
  markRead(peer, true);
  if (focus) $('.message', conv.el).focus();
}

function closeConversation(peer) {
  const conv = state.conversations.get(peer);
  if (!conv) return;
  clearTimeout(conv.typingTimer);
  conv.el.remove();
  state.conversations.delete(peer);
  $('#no-conversation').hidden = state.conversations.size > 0;
}

function markRead(peer, tell) {
  const f = state.friends.get(peer);
  if (f && f.unread > 0) {
    f.unread = 0;
    renderBuddy(peer);
  }
  if (tell) tabs?.postMessage({ type: 'read', me: state.me, peer });
}

tabs?.addEventListener('message', (e) => {
  const m = e.data;
  if (m.me !== state.me) return;
  if (m.type === 'read') markRead(m.peer, false);
  if (m.type === 'signedout') showSignIn('You signed out in another tab.');
});

function wireConversation(peer, conv) {
  const input = $('.message', conv.el);
  $('.close', conv.el).addEventListener('click', () => closeConversation(peer));
  $('.compose', conv.el).addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value;
    if (text.trim() === '') return;
    if (state.friends.get(peer)?.state === 'offline') {
      // The servers deliver only to users who are online: say so instead of asking.
      $('.error', conv.el).textContent = `Not sent: ${nameOf(peer)} is offline.`;
      return;
    }
    input.value = '';
    stopTyping(peer, conv);
    $('.error', conv.el).textContent = '';
    try {
      const { message } = await api('POST', '/api/send', { to: peer, text, clientMsgId: crypto.randomUUID() });
      addMessages(peer, [message]);
    } catch (err) {
      input.value = input.value || text;
      $('.error', conv.el).textContent = err.code === 'not_online'
        ? `Not sent: ${nameOf(peer)} is offline.`
        : `Not sent: ${err.message}`;
    }
  });
  input.addEventListener('input', () => {
    const now = Date.now();
    if (input.value === '') {
      stopTyping(peer, conv);
      return;
    }
    if (now - conv.typingSentAt > TYPING_SEND_EVERY_MS && state.friends.get(peer)?.state !== 'offline') {
      conv.typingSentAt = now;
      void api('POST', '/api/typing', { to: peer, active: true }).catch(() => {});
    }
    clearTimeout(conv.typingStop);
    conv.typingStop = setTimeout(() => stopTyping(peer, conv), TYPING_IDLE_MS);
  });
  conv.el.addEventListener('focusin', () => markRead(peer, true));
}

function stopTyping(peer, conv) {
  clearTimeout(conv.typingStop);
  if (conv.typingSentAt === 0) return;
  conv.typingSentAt = 0;
  if (state.friends.get(peer)?.state === 'offline') return;
  void api('POST', '/api/typing', { to: peer, active: false }).catch(() => {});
}

async function loadHistory(peer) {
  const conv = state.conversations.get(peer);
  if (!conv) return;
  try {
    const { messages } = await api('GET', `/api/history?with=${encodeURIComponent(peer)}&limit=${HISTORY_LIMIT}`);
    addMessages(peer, messages);
  } catch (err) {
    $('.error', conv.el).textContent = `History could not be read: ${err.message}`;
  }
}

function addMessages(peer, list) {
  const conv = state.conversations.get(peer);
  if (!conv) return;
  let added = false;
  for (const m of list) {
    if (conv.messages.has(m.id)) continue;
    conv.messages.set(m.id, m);
    added = true;
  }
  if (!added) return;
  // Message ids grow per sender and carry the time; order by time, then id.
  const sorted = [...conv.messages.values()].sort((a, b) => a.sentAtMs - b.sentAtMs || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  const ol = $('.messages', conv.el);
  ol.replaceChildren(...sorted.map((m) => {
    const li = document.createElement('li');
    li.className = m.from === state.me ? 'mine' : 'theirs';
    li.dataset.id = m.id;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = m.from === state.me ? 'You' : nameOf(m.from);
    const time = document.createElement('time');
    time.dateTime = new Date(m.sentAtMs).toISOString();
    time.textContent = new Date(m.sentAtMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = m.text;
    // The message on the left (wraps), its time on the right (never wraps): two boxes side by side.
    const body = document.createElement('span');
    body.className = 'body';
    body.append(who, ': ', text);
    li.append(body, ' ', time);
    return li;
  }));
  ol.scrollTop = ol.scrollHeight;
}

// ------------------------------------------------------------------ start

(async () => {
  try {
    const s = await api('GET', '/api/session');
    if (s.userId) start(s);
    else showSignIn();
  } catch {
    showSignIn();
  }
})();
