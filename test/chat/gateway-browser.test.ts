// The chat page in real Chromium, used the way a person uses it (elements
// found by role and label), against the gateway over the real stub: two
// users sign in, see each other online, exchange messages both ways, typing
// shows and clears, unread counts, two tabs in step, idle, logout.
import t from 'tap';
import type { Page } from 'playwright-core';
import { startChat } from './gateway-fixture.js';
import { bubbleFaults, buddy, conversation, launchChrome, say, signIn } from './browser.js';

const WAIT = { timeout: 20_000 };

t.test('two users chat in two browser contexts', async (t) => {
  const idleMs = 3000;
  const fx = await startChat(t, { stub: { idleMs }, gateway: { presenceIntervalMs: 250, pollTimeoutMs: 10_000 } });
  const chrome = await launchChrome(t);
  const alice = '1';
  const bob = (await fx.chat.friends(1n))[0].toString();

  const A = await chrome.person(fx.gateway.url);
  const B = await chrome.person(fx.gateway.url);
  await A.page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  await chrome.shot(A.page, 'chat-1-sign-in', t.comment);
  await signIn(A.page, alice);
  await signIn(B.page, bob);

  // Each sees the other online.
  await buddy(A.page, bob).filter({ hasText: 'online' }).waitFor(WAIT);
  await buddy(B.page, alice).filter({ hasText: 'online' }).waitFor(WAIT);
  t.pass('both online');

  // Alice opens the conversation from her buddy list, Bob opens his.
  await buddy(A.page, alice === bob ? '' : bob).click();
  await conversation(A.page, bob).waitFor(WAIT);
  await buddy(B.page, alice).click();
  await conversation(B.page, alice).waitFor(WAIT);

  // Typing shows on the other side, and clears when the message arrives.
  await conversation(A.page, bob).getByLabel('Message', { exact: true }).pressSequentially('Hi B', { delay: 20 });
  const typing = conversation(B.page, alice).getByRole('status');
  await typing.filter({ hasText: `User ${alice} is typing` }).waitFor(WAIT);
  t.pass('typing shows');
  await chrome.shot(B.page, 'chat-2-typing', t.comment);

  // Messages both ways, each seen on the other side (time printed; bounds are generous).
  let t0 = Date.now();
  await conversation(A.page, bob).getByLabel('Message', { exact: true }).fill('Hello Bob, from Chromium');
  await conversation(A.page, bob).getByRole('button', { name: 'Send' }).click();
  await conversation(B.page, alice).getByRole('log').getByText('Hello Bob, from Chromium').waitFor(WAIT);
  t.comment(`alice -> bob shown on bob's page after ${Date.now() - t0} ms (click to visible)`);
  await typing.filter({ hasText: /^$/ }).waitFor(WAIT);
  t.equal(await typing.textContent(), '', 'typing cleared by the message');
  t0 = Date.now();
  await say(B.page, alice, 'Hi Alice! ünïcödé 👋');
  await conversation(A.page, bob).getByRole('log').getByText('Hi Alice! ünïcödé 👋').waitFor(WAIT);
  t.comment(`bob -> alice shown on alice's page after ${Date.now() - t0} ms`);
  await chrome.shot(A.page, 'chat-3-conversation-alice', t.comment);

  // A long message (it wraps) and a long word (it must break): every bubble holds its text and time, none overlaps the next.
  const long = `${'A message long enough to wrap over several lines of the conversation window, '.repeat(3)}and a long word: ${'x'.repeat(90)}`;
  await say(A.page, bob, long);
  await conversation(B.page, alice).getByRole('log').getByText(long).waitFor(WAIT);
  for (const [p, peer] of [[A.page, bob], [B.page, alice]] as const) t.same(await bubbleFaults(p, peer), [], 'no bubble overlaps or overflows (1100 px wide)');
  // A narrow window (a phone) and a wide one: the same, and the window follows the width.
  await A.page.setViewportSize({ width: 360, height: 700 });
  t.same(await bubbleFaults(A.page, bob), [], 'no bubble overlaps or overflows (360 px wide)');
  t.ok(await A.page.evaluate(() => ((g: any) => g.document.documentElement.scrollWidth <= g.innerWidth)(globalThis)), 'the page does not scroll sideways at 360 px');
  await chrome.shot(A.page, 'chat-3b-narrow', t.comment);
  await A.page.setViewportSize({ width: 1600, height: 900 });
  t.same(await bubbleFaults(A.page, bob), [], 'no bubble overlaps or overflows (1600 px wide)');
  const wide = (await conversation(A.page, bob).boundingBox())!;
  t.ok(wide.width > 500 && wide.height > 450, `the conversation grows with a wide window (${Math.round(wide.width)} x ${Math.round(wide.height)} px)`);
  await chrome.shot(A.page, 'chat-3c-wide', t.comment);
  await A.page.setViewportSize({ width: 1100, height: 700 });

  // Unread: Alice closes the conversation, Bob writes twice.
  await conversation(A.page, bob).getByRole('button', { name: `Close conversation with User ${bob}` }).click();
  await say(B.page, alice, 'unread one');
  await say(B.page, alice, 'unread two');
  await buddy(A.page, bob).filter({ hasText: '2 unread' }).waitFor(WAIT);
  t.pass('2 unread');
  await chrome.shot(A.page, 'chat-4-unread', t.comment);

  // A second tab of Alice: same session, same conversation kept in step.
  const A2 = await chrome.tab(A.context, fx.gateway.url);
  await A2.getByRole('navigation', { name: 'Friends' }).waitFor(WAIT);
  await buddy(A2, bob).click();
  await conversation(A2, bob).getByRole('log').getByText('unread two').waitFor(WAIT);
  // Reading it in tab 2 clears the count in tab 1.
  await buddy(A.page, bob).filter({ hasNotText: 'unread' }).waitFor(WAIT);
  t.pass('read in one tab, read in both');
  await buddy(A.page, bob).click();
  await say(A2, bob, 'sent from tab 2');
  await conversation(A.page, bob).getByRole('log').getByText('sent from tab 2').waitFor(WAIT);
  await say(B.page, alice, 'to both tabs');
  await conversation(A.page, bob).getByRole('log').getByText('to both tabs').waitFor(WAIT);
  await conversation(A2, bob).getByRole('log').getByText('to both tabs').waitFor(WAIT);
  const count = async (p: Page) => conversation(p, bob).getByRole('listitem').count();
  t.equal(await count(A.page), await count(A2), 'both tabs show the same messages');
  t.equal(await count(A.page), 7, 'each message once');
  await chrome.shot(A2, 'chat-5-second-tab', t.comment);

  // Idle: Bob does nothing for the stub's idle time.
  t0 = Date.now();
  await buddy(A.page, bob).filter({ hasText: 'idle' }).waitFor({ timeout: idleMs + 20_000 });
  t.comment(`bob shown idle ${Date.now() - t0} ms after his last activity (stub idle time ${idleMs} ms)`);
  await chrome.shot(A.page, 'chat-6-idle', t.comment);

  // Logout: Alice sees Bob offline.
  await B.page.getByRole('button', { name: 'Sign out' }).click();
  await B.page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  await buddy(A.page, bob).filter({ hasText: 'offline' }).waitFor(WAIT);
  t.pass('offline after logout');
  await chrome.shot(A.page, 'chat-7-offline', t.comment);

  t.same(chrome.errors, [], 'no console errors');
});
