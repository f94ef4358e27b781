#!/usr/bin/env node
// @ts-check
// Loads what `solo5-hvt` loads before it creates a VM (the CLI, core and the
// platform package with its addon), then exits: the hello benchmark's
// breakdown of start-up into Node itself, module loading, and the tender's work.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (/** @type {string} */ pkg, /** @type {string} */ file) =>
  pathToFileURL(join(root, 'packages', pkg, 'dist', file)).href;
await import(dist('cli', 'run.js'));
await import(dist('linux-kvm', 'index.js'));
