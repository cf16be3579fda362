import { chromium, type Browser, type Page } from 'playwright-core';
import { testChromium } from './targets.js';

export interface TestBrowser {
  /** A fresh page with no cookies: a person who has not signed in at the provider yet. */
  page(): Promise<Page>;
  close(): Promise<void>;
}

export async function startBrowser(): Promise<TestBrowser> {
  // Debian's Chromium, which .ci/run installs; playwright-core drives it (it downloads no browser of its own).
  if (!testChromium) throw new Error('no Chromium for this run: use describeWithBrowser (see tests/support/global-setup.mjs)');
  // This machine's network is closed: Chromium's own background connections are turned off.
  const browser: Browser = await chromium.launch({
    executablePath: testChromium,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    async page() {
      const context = await browser.newContext();
      return context.newPage();
    },
    async close() {
      await browser.close();
    },
  };
}

/** Signs in at the test provider's login page: what a person does in the browser odrive opened. */
export async function signInAtProvider(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(url);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#submit');
  await page.waitForLoadState('load');
}
