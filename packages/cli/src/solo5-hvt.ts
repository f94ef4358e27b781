#!/usr/bin/env node
import { basename } from 'node:path';
import { tenderMain } from './run.js';

/**
 * `solo5-hvt`: a drop-in replacement for the reference tender, with its argv
 * shape, messages, exit statuses, --help and --version. Like the reference,
 * messages are prefixed with the name it was invoked as.
 */
const invokedAs = basename(process.argv[1] ?? 'solo5-hvt').replace(/\.[cm]?js$/, '');

// No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
void tenderMain(process.argv.slice(2), { prog: invokedAs, usageProg: invokedAs }).then((status) => {
  process.exitCode = status;
});
