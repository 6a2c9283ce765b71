// Headless Chromium for the browser tests: Debian's chromium driven by
// puppeteer-core from tests/interop's pinned packages, in a throwaway
// profile, stopped by PID whatever state it is in.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createRequire } = require('node:module');
const { execFileSync } = require('node:child_process');

const { withTimeout } = require('../interop/helpers');

const interop = path.join(__dirname, '..', 'interop');
const puppeteer = createRequire(path.join(interop, 'package.json'))('puppeteer-core');

function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // next name
    }
  }
  throw new Error('no Chromium: install Debian\'s chromium (sh tests/deps.sh does) or set CHROMIUM=/path/to/chromium');
}

// A new profile directory; give it to launchChromium() and closeChromium().
function newProfile() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'libroom-chromium-'));
}

async function launchChromium(profile) {
  const browser = await puppeteer.launch({
    executablePath: findChromium(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--disable-crash-reporter',
      '--disable-breakpad',
      '--no-first-run',
      `--user-data-dir=${profile}`,
    ],
    timeout: 20000,
    protocolTimeout: 20000,
  });
  browser.libroomPid = browser.process().pid;
  return browser;
}

// Closes the browser (bounded), kills what is left and removes the profile;
// either argument may be null.
async function closeChromium(browser, profile) {
  if (browser) {
    await withTimeout(browser.close(), 5000, 'chromium to close').catch(() => {});
    try {
      process.kill(browser.libroomPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
}

// Starts a page's HTTP server on 127.0.0.1 and a free port; resolves to the
// server with its `origin` ("http://127.0.0.1:PORT") set.
function listenOnLoopback(server) {
  return withTimeout(
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.origin = `http://127.0.0.1:${server.address().port}`;
        resolve(server);
      });
    }),
    5000,
    'the static server',
  );
}

module.exports = { newProfile, launchChromium, closeChromium, listenOnLoopback };
