#!/usr/bin/env node
/**
 * The entry: footprint.ts alone first. A module's static imports are all loaded and parsed before
 * any of them runs, so flags set by footprint.ts from a module with the daemon's imports would
 * apply only after the whole module graph had been parsed, and that parsing had grown V8's young
 * generation to 8 MiB (idle RSS 77 MB; 64 MB with the flags set before the parsing).
 */
import './footprint.js';

await import('./hyved-main.js');
