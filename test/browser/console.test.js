// mqconsole in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
// puppeteer-core. Started by console-browser.sh with three consoles on one NameServer + broker:
//   node console.test.js OPEN_URL READONLY_URL AUTH_URL SCREENSHOT_DIR
// (AUTH_URL's users file has alice:admin with password $CONSOLE_PW). Clicks through every page:
// creates a topic, sends a message with a key, finds it by key, opens its detail, resets a
// group's offset by time, checks the charts got points, that read-only mode refuses a create
// and that login is required with --users. A screenshot of every page goes to SCREENSHOT_DIR.
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

const [openUrl, roUrl, authUrl, shots] = process.argv.slice(2);
const TOPIC = 'BrowserTopic', KEY = 'browser-key-1', BODY = 'hello from chromium', GROUP = 'BrowserGroup';
const T = 60000; // functional waits: the machine may be loaded

let step = 'start';
function check(cond, what) {
  if (!cond) throw new Error(`${step}: ${what}`);
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const jsErrors = [];
  let page = null;
  try {
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('pageerror', e => jsErrors.push(String(e)));
    page.on('dialog', d => d.accept());
    const shot = name => page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
    const text = sel => page.$eval(sel, e => e.textContent);
    const rows = sel => page.$$eval(sel + ' tr[data-row]', r => r.length);
    const waitFn = (fn, ...args) => page.waitForFunction(fn, { timeout: T, polling: 200 }, ...args);
    const fill = async (sel, v) => { await page.$eval(sel, (e, v) => { e.value = v; }, String(v)); };
    const chartPoints = sel => waitFn(s => Number(document.querySelector(s).dataset.points || 0) > 0, sel);
    const noError = async () => {
      const e = await page.$eval('#error', e => e.hidden ? '' : e.textContent);
      check(!e, 'the page shows an error: ' + e);
    };

    step = 'cluster';
    await page.goto(openUrl + '#cluster', { waitUntil: 'load' });
    await waitFn(() => document.querySelectorAll('#cluster-table tr[data-row]').length > 0);
    check((await text('#cluster-table')).includes('MASTER'), 'no master broker listed');
    await waitFn(() => Number(document.querySelector('#chart-tps').dataset.points || 0) >= 4);
    check(await page.$('#chart-tps svg polyline'), 'the TPS chart has no line');
    await noError();
    await shot('cluster');

    step = 'topics';
    await page.click('#nav-topics');
    await waitFn(() => document.body.dataset.page === 'topics');
    await fill('#topic-name', TOPIC);
    await fill('#topic-read', 4);
    await fill('#topic-write', 4);
    await page.click('#topic-create-btn');
    await waitFn(t => !document.querySelector('#notice').hidden &&
                      document.querySelector('#notice').textContent.includes(`topic ${t} created`), TOPIC);
    await waitFn(() => document.querySelectorAll('#topic-status-table tr[data-row]').length === 4);
    check((await text('#topics-table')).includes(TOPIC), 'the new topic is not listed');
    check((await text('#topic-route-table')).includes('broker-a'), 'no route shown');
    await noError();
    await chartPoints('#chart-topic-tps');
    await shot('topics');

    step = 'send';
    await page.click('#nav-send');
    await waitFn(() => document.body.dataset.page === 'send');
    await fill('#send-topic', TOPIC);
    await fill('#send-tags', 'TagB');
    await fill('#send-keys', KEY);
    await fill('#send-body', BODY);
    await page.click('#send-btn');
    await waitFn(() => document.querySelector('#notice').textContent.includes('SEND_OK'));
    await noError();
    await shot('send');

    step = 'messages by key';
    await page.click('#nav-messages');
    await waitFn(() => document.body.dataset.page === 'messages');
    await fill('#q-topic', TOPIC);
    await fill('#q-key', KEY);
    for (let i = 0; i < 50; i++) { // the broker indexes keys asynchronously
      await page.click('#q-key-btn');
      await new Promise(r => setTimeout(r, 300));
      if (await rows('#msg-table') > 0) break;
    }
    check(await rows('#msg-table') === 1, 'the message was not found by its key');
    await page.click('#msg-table tr[data-row="0"] button');
    await waitFn(() => !document.querySelector('#msg-detail').hidden &&
                       document.querySelector('#msg-body').textContent.length > 0);
    check((await text('#msg-body')) === BODY, 'body shown: ' + await text('#msg-body'));
    const props = await text('#msg-props');
    check(props.includes('KEYS') && props.includes(KEY), 'no KEYS property: ' + props);
    check(props.includes('TAGS') && props.includes('TagB'), 'no TAGS property');
    await page.click('#msg-view-hex');
    check((await text('#msg-body')).startsWith('68 65 6c 6c 6f'), 'hex view: ' + await text('#msg-body'));
    await noError();
    await shot('messages');

    step = 'messages by time';
    await fill('#q-key', '');
    await fill('#q-begin', '0');
    await page.click('#q-time-btn');
    await waitFn(() => document.querySelectorAll('#msg-table tr[data-row]').length === 1);
    await noError();

    step = 'groups';
    await page.click('#nav-groups');
    await waitFn(() => document.body.dataset.page === 'groups');
    await fill('#group-name', GROUP);
    await page.click('#group-load-btn');
    await waitFn(() => !document.querySelector('#group-detail').hidden);
    await fill('#reset-topic', TOPIC);
    await fill('#reset-time', '0');
    await page.click('#reset-btn');
    await waitFn(() => document.querySelectorAll('#reset-result tr[data-row]').length === 4);
    await waitFn(() => document.querySelector('#group-summary').textContent.includes('lag 1'));
    check((await text('#group-queues-table')).includes(TOPIC), 'no queue rows of the topic');
    await noError();
    await chartPoints('#chart-lag');
    check((await text('#chart-lag')).includes(GROUP), 'the lag chart does not show the group');
    await shot('groups');

    step = 'dlq';
    await page.click('#nav-dlq');
    await waitFn(() => document.body.dataset.page === 'dlq');
    await fill('#dlq-group', GROUP);
    await page.click('#dlq-load-btn');
    await waitFn(() => document.querySelector('#error').textContent.includes('dead letters'));
    await shot('dlq');

    step = 'read-only';
    await page.goto(roUrl + '#topics', { waitUntil: 'load' });
    await waitFn(() => document.body.dataset.page === 'topics' &&
                       !document.querySelector('#readonly-badge').hidden);
    await fill('#topic-name', 'ReadOnlyTopic');
    await page.click('#topic-create-btn');
    await waitFn(() => document.querySelector('#error').textContent.includes('read-only'));
    await shot('readonly');

    step = 'login';
    await page.goto(authUrl + '#cluster', { waitUntil: 'load' });
    await waitFn(() => document.body.dataset.page === 'login');
    check(await rows('#cluster-table') === 0, 'cluster shown before login');
    await shot('login');
    await fill('#login-user', 'alice');
    await fill('#login-password', 'not-the-password');
    await page.click('#login-btn');
    await waitFn(() => document.querySelector('#error').textContent.includes('wrong user or password'));
    await fill('#login-password', process.env.CONSOLE_PW);
    await page.click('#login-btn');
    await waitFn(() => document.body.dataset.page === 'cluster' &&
                       document.querySelectorAll('#cluster-table tr[data-row]').length > 0);
    check((await text('#who')).includes('alice'), 'the user is not shown');
    await noError();
    await shot('after-login');

    check(jsErrors.length === 0, 'JavaScript errors: ' + jsErrors.join('; '));
    console.log('console-browser: ok (screenshots in ' + shots + ')');
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

main().catch(e => {
  console.error('FAIL', e.message);
  process.exit(1);
});
