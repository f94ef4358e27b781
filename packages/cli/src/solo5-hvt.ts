#!/usr/bin/env node
import { basename } from 'node:path';
import { runUnikernel } from './run.js';

/**
 * `solo5-hvt`: a drop-in replacement for the reference tender, with its argv
 * shape, messages, exit statuses, --help and --version. Like the reference,
 * messages are prefixed with the name it was invoked as.
 */
const invokedAs = basename(process.argv[1] ?? 'solo5-hvt').replace(/\.[cm]?js$/, '');

process.exitCode = await runUnikernel(process.argv.slice(2), {
  prog: invokedAs,
  usageProg: invokedAs,
});
