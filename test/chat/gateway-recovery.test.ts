// Recovery without reloading the page, in real Chromium: the gateway is
// restarted on the same port (a message sent meanwhile still arrives), and
// the stub's kill_channel fault makes the page re-read history; nothing sent
// is lost or shown twice, and the console stays clean.
import t from 'tap';
import type { Page } from 'playwright-core';
import { startChat } from './gateway-fixture.js';
import { buddy, conversation, launchChrome, say, signIn } from './browser.js';

const WAIT = { timeout: 30_000 };
// What Chromium itself logs for a fetch that finds no server: allowed only while the gateway is down.
const NETWORK_FAILURE = /^person\d+: console: Failed to load resource: net::ERR_CONNECTION_REFUSED$/;
const texts = async (p: Page, peer: string) => (await conversation(p, peer).getByRole('listitem').allTextContents()).map((s) => s.replace(/ \d\d:\d\d.*$/, ''));

t.test('the pages carry on across a gateway restart and a channel crash', async (t) => {
  const fx = await startChat(t, { gateway: { presenceIntervalMs: 250, pollTimeoutMs: 10_000 } });
  const chrome = await launchChrome(t);
  const alice = '1';
  const bob = (await fx.chat.friends(1n))[0].toString();
  const A = await chrome.person(fx.gateway.url);
  const B = await chrome.person(fx.gateway.url);
  await signIn(A.page, alice);
  await signIn(B.page, bob);
  await buddy(A.page, bob).filter({ hasText: 'online' }).waitFor(WAIT);
  await buddy(A.page, bob).click();
  await buddy(B.page, alice).click();
  await say(A.page, bob, 'before the restart');
  await conversation(B.page, alice).getByRole('log').getByText('before the restart').waitFor(WAIT);
  // A mark on each window: a reload would lose it.
  for (const p of [A.page, B.page]) await p.evaluate(() => ((globalThis as any).__notReloaded = true));
  const down = { from: Infinity, to: -Infinity };

  await t.test('gateway restarted on the same port', async (t) => {
    const port = fx.gateway.port;
    down.from = Date.now();
    await fx.gateway.close();
    // Sent while no gateway runs: queued on alice's channel by the servers.
    await fx.chat.send(BigInt(bob), 1n, 'sent while the gateway was down');
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    fx.gateway = await fx.startGateway({ port });
    await conversation(A.page, bob).getByRole('log').getByText('sent while the gateway was down').waitFor(WAIT);
    // The pages have a poll through the new gateway: every request that failed was made before now.
    down.to = Date.now();
    t.comment(`the message sent during the restart showed ${Date.now() - t0} ms after the gateway was back`);
    await say(B.page, alice, 'after the restart');
    await conversation(A.page, bob).getByRole('log').getByText('after the restart').waitFor(WAIT);
    await say(A.page, bob, 'alice after the restart');
    await conversation(B.page, alice).getByRole('log').getByText('alice after the restart').waitFor(WAIT);
    t.same(await texts(A.page, bob), ['You: before the restart', `User ${bob}: sent while the gateway was down`, `User ${bob}: after the restart`, 'You: alice after the restart']);
    await A.page.getByRole('status').filter({ hasText: 'Connected' }).first().waitFor(WAIT);
    await chrome.shot(A.page, 'recovery-1-after-gateway-restart', t.comment);
  });

  await t.test('kill_channel: the page re-reads history, nothing lost or doubled', async (t) => {
    let historyReads = 0;
    A.page.on('request', (r) => {
      if (r.url().includes('/api/history')) historyReads++;
    });
    await say(B.page, alice, 'just before the crash');
    await fx.stub.fault.killChannel(1n);
    await fx.chat.send(BigInt(bob), 1n, 'right after the crash');
    await say(B.page, alice, 'later on');
    await conversation(A.page, bob).getByRole('log').getByText('later on').waitFor(WAIT);
    await conversation(A.page, bob).getByRole('log').getByText('right after the crash').waitFor(WAIT);
    const got = await texts(A.page, bob);
    const want = ['You: before the restart', `User ${bob}: sent while the gateway was down`, `User ${bob}: after the restart`, 'You: alice after the restart',
      `User ${bob}: just before the crash`, `User ${bob}: right after the crash`, `User ${bob}: later on`];
    t.same(got, want, 'every message once, in order');
    t.ok(historyReads >= 1, `the page re-read history after the refresh (${historyReads} reads)`);
    await say(A.page, bob, 'alice after the crash');
    await conversation(B.page, alice).getByRole('log').getByText('alice after the crash').waitFor(WAIT);
    await chrome.shot(A.page, 'recovery-2-after-kill-channel', t.comment);
  });

  for (const p of [A.page, B.page]) t.equal(await p.evaluate(() => (globalThis as any).__notReloaded), true, 'the page was not reloaded');
  // Only Chromium's own network-failure lines, and only while the gateway was down; nothing else at any time (page errors included).
  const expected = chrome.timedErrors.filter((e) => e.atMs >= down.from && e.atMs <= down.to && NETWORK_FAILURE.test(e.text));
  const unexpected = chrome.timedErrors.filter((e) => !expected.includes(e)).map((e) => `${new Date(e.atMs).toISOString()} ${e.text}`);
  t.comment(`console lines while the gateway was down (${down.to - down.from} ms): ${expected.length} connection refused, logged by the browser`);
  t.same(unexpected, [], 'no other console error or page error, and none outside the restart');
});
