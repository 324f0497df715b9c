// What both browser e2e suites run: the binaries, the browser and its flags, and where
// screenshots and logs go. Env: CARGO_TARGET_DIR (default ~/.cache/liquidationheatmap/target),
// LHM_BIN (the server), CHROMIUM_PATH (default /usr/bin/chromium).
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const TARGET_DIR = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/liquidationheatmap/target');
export const SERVER_BIN = process.env.LHM_BIN || path.join(TARGET_DIR, 'release/liquidationheatmap');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(REPO, 'test-artifacts/screenshots');
export const LOG_DIR = path.join(REPO, 'test-artifacts/logs');
// Headless, and nothing that reaches beyond loopback (this machine's network is closed).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
