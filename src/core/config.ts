import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileSchemaFile, formatAjvErrors } from './schemas.js';

export interface NicConfig { interface: string; description?: string }

export interface Config {
  listen: string;
  state_dir: string;
  tls?: { cert: string; key: string };
  origins: string[];
  token_timeout_s: number;
  ws_idle_timeout_s: number;
  max_frame_bytes: number;
  blacklist: { auth_fail_limit: number; block_minutes: number; reset_minutes: number };
  events: { journal_size: number; max_buffered_bytes: number };
  nics: Record<string, NicConfig>;
  log: { level: 'error' | 'warn' | 'info' | 'debug'; file: string };
  tasks: { concurrency: number; history: number };
  iso: { import_dirs: string[]; stall_timeout_s: number; max_redirects: number };
  hypervisor: 'auto' | 'qemu' | 'bhyve';
  bhyve: { uefi_code: string; uefi_vars: string };
  accelerator: 'auto' | 'kvm' | 'tcg';
  qemu: { binary: string; img_binary: string; efi_code: string; efi_vars: string };
  vm: { stop_timeout_s: number; status_timeout_ms: number };
  storage_grades: Record<string, string>;
  groups: Record<string, GroupConfig>;
  validate_results: boolean;
}

export interface Quota { vms?: number; cpus?: number; memory_mib?: number; disk_mib?: number }
export interface GroupConfig { description?: string; quota?: Quota }

/** The embedded defaults: `hyved serve` with no config file runs on these. */
export function defaultConfig(): Config {
  return {
    listen: '127.0.0.1:12150',
    state_dir: defaultStateDir(),
    origins: [],
    token_timeout_s: 300,
    ws_idle_timeout_s: 900,
    max_frame_bytes: 1024 * 1024,
    blacklist: { auth_fail_limit: 5, block_minutes: 60, reset_minutes: 10 },
    events: { journal_size: 10000, max_buffered_bytes: 4 * 1024 * 1024 },
    nics: {},
    log: { level: 'info', file: 'hyved.log' },
    tasks: { concurrency: 4, history: 200 },
    iso: { import_dirs: [], stall_timeout_s: 60, max_redirects: 5 },
    hypervisor: 'auto',
    bhyve: { uefi_code: '/usr/local/share/uefi-firmware/BHYVE_UEFI.fd', uefi_vars: '/usr/local/share/uefi-firmware/BHYVE_UEFI_VARS.fd' },
    accelerator: 'auto',
    qemu: {
      binary: 'qemu-system-x86_64',
      img_binary: 'qemu-img',
      efi_code: process.platform === 'freebsd' ? '/usr/local/share/qemu/edk2-x86_64-code.fd' : '/usr/share/OVMF/OVMF_CODE_4M.fd',
      efi_vars: process.platform === 'freebsd' ? '/usr/local/share/qemu/edk2-i386-vars.fd' : '/usr/share/OVMF/OVMF_VARS_4M.fd',
    },
    vm: { stop_timeout_s: 60, status_timeout_ms: 2000 },
    storage_grades: {},
    groups: {},
    validate_results: false,
  };
}

function defaultStateDir(): string {
  // A developer run (not root) keeps its state beside the checkout.
  if (process.getuid?.() !== 0) return './var';
  return process.platform === 'freebsd' ? '/var/db/hyved' : '/var/lib/hyved';
}

export class ConfigError extends Error {}

export interface ConfigOverrides { config?: string; listen?: string; stateDir?: string }

const validateConfig = compileSchemaFile('config.json');

/** Reads the config file (if any), validates it, merges defaults and then command-line overrides. */
export function loadConfig(overrides: ConfigOverrides = {}): Config {
  let fromFile: Record<string, unknown> = {};
  if (overrides.config) {
    let text: string;
    try {
      text = readFileSync(overrides.config, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config ${overrides.config}: ${(err as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config ${overrides.config} is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (overrides.listen !== undefined) fromFile = { ...fromFile, listen: overrides.listen };
  if (overrides.stateDir !== undefined) fromFile = { ...fromFile, state_dir: overrides.stateDir };
  if (!validateConfig(fromFile)) {
    const lines = formatAjvErrors(validateConfig.errors).map((e) => `  ${e.path || '/'}: ${e.message}`);
    throw new ConfigError(`invalid config${overrides.config ? ` ${overrides.config}` : ''}:\n${lines.join('\n')}`);
  }
  const defaults = defaultConfig();
  const file = fromFile as Partial<Config>;
  const config: Config = {
    ...defaults,
    ...file,
    blacklist: { ...defaults.blacklist, ...file.blacklist },
    events: { ...defaults.events, ...file.events },
    log: { ...defaults.log, ...file.log },
    tasks: { ...defaults.tasks, ...file.tasks },
    iso: { ...defaults.iso, ...file.iso },
    qemu: { ...defaults.qemu, ...file.qemu },
    vm: { ...defaults.vm, ...file.vm },
    bhyve: { ...defaults.bhyve, ...file.bhyve },
    groups: { default: {}, ...file.groups },
  };
  config.iso.import_dirs = config.iso.import_dirs.map((d) => path.resolve(d));
  config.state_dir = path.resolve(config.state_dir);
  if (Object.keys(config.storage_grades).length === 0) config.storage_grades = { standard: path.join(config.state_dir, 'discs') };
  for (const [grade, dir] of Object.entries(config.storage_grades)) config.storage_grades[grade] = path.resolve(config.state_dir, dir);
  return config;
}

export function parseListen(listen: string): { host: string; port: number } {
  const idx = listen.lastIndexOf(':');
  const host = listen.slice(0, idx).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(idx + 1));
  if (!Number.isInteger(port) || port > 65535) throw new ConfigError(`listen: bad port in ${listen}`);
  return { host, port };
}
