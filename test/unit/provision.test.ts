import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hashPassword, sha512Crypt } from '../../src/provision/sha512-crypt.js';
import { buildSeed, makefsArgv, seedFiles, seedTool, userData, vvfatArgv } from '../../src/provision/cloud-init.js';

// The test vectors of Drepper's "Unix crypt using SHA-256 and SHA-512", SHA-512 part.
const VECTORS: [string, string, string][] = [
  ['$6$saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
  ['$6$rounds=10000$saltstringsaltstring', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
  ['$6$rounds=5000$toolongsaltstring', 'This is just a test', '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
  ['$6$rounds=1400$anotherlongsaltstring', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
  ['$6$rounds=77777$short', 'we have a short salt string but not a short password', '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
  ['$6$rounds=123456$asaltof16chars..', 'a short string', '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
  ['$6$rounds=10$roundstoolow', 'the minimum number is still observed', '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.'],
];

test('sha512-crypt gives the specification\'s test vectors', () => {
  for (const [setting, key, expected] of VECTORS) assert.equal(sha512Crypt(key, setting), expected, setting);
});

test('a fresh hash has a 16-character salt, checks against openssl, and differs each time', () => {
  const h = hashPassword('mypassword');
  const m = /^\$6\$([./0-9A-Za-z]{16})\$[./0-9A-Za-z]{86}$/.exec(h);
  assert.ok(m, h);
  assert.equal(execFileSync('openssl', ['passwd', '-6', '-salt', m[1], 'mypassword'], { encoding: 'utf8' }).trim(), h);
  assert.notEqual(hashPassword('mypassword'), h);
});

const SCRIPT = '#!/bin/sh\necho "firstboot ran" > /root/firstboot.txt\n# no newline at the end follows';

/** user-data as Python's email package (what cloud-init uses) reads it: each part's type and exact body. */
function parsedParts(text: string): { type: string; body: string }[] {
  const py = 'import email,json,sys\nm=email.message_from_string(sys.stdin.read())\nprint(json.dumps([{"type":p.get_content_type(),"body":p.get_payload(decode=True).decode()} for p in m.walk() if not p.is_multipart()]))';
  return JSON.parse(execFileSync('python3', ['-c', py], { input: text, encoding: 'utf8' }));
}

test('user-data is MIME multipart: cloud-config with the hash and keys, the firstboot script unchanged', () => {
  const hash = hashPassword('pw');
  const parts = parsedParts(userData({ instanceId: 'i-1', hostname: 'h', rootHash: hash, sshKeys: ['ssh-ed25519 AAAAC3Nz me@host'], firstboot: SCRIPT }));
  assert.deepEqual(parts.map((p) => p.type), ['text/cloud-config', 'text/x-shellscript']);
  assert.equal(parts[1].body, SCRIPT);
  assert.match(parts[0].body, /^#cloud-config\n/);
  assert.ok(parts[0].body.includes(`"root:${hash}"`));
  assert.ok(parts[0].body.includes('ssh_authorized_keys:\n  - "ssh-ed25519 AAAAC3Nz me@host"'));
  assert.equal(parsedParts(userData({ instanceId: 'i', hostname: 'h', firstboot: `${SCRIPT}\n` }))[1].body, `${SCRIPT}\n`);
});

test('network-config only with fixed addresses; meta-data names instance and host', () => {
  const files = seedFiles({ instanceId: 'iid-abc', hostname: 'web1', nics: [{ mac: '52:54:00:12:34:56', addresses: [] }] });
  assert.deepEqual(Object.keys(files).sort(), ['meta-data', 'user-data']);
  assert.equal(files['meta-data'], 'instance-id: "iid-abc"\nlocal-hostname: "web1"\n');
  const fixed = seedFiles({ instanceId: 'i', hostname: 'h', nics: [{ mac: '52:54:00:12:34:56', addresses: ['10.0.2.50/24'], gateway4: '10.0.2.2', nameservers: ['10.0.2.3'] }] });
  assert.match(fixed['network-config'], /^version: 2\nethernets:\n  nic0:\n    match:\n      macaddress: "52:54:00:12:34:56"\n    addresses: \["10.0.2.50\/24"\]/);
  assert.match(fixed['network-config'], /via: "10.0.2.2"/);
});

test('seed argv: qemu-img vvfat on Linux, makefs on FreeBSD', () => {
  assert.deepEqual(vvfatArgv('/s/d', '/s/seed.img'), ['convert', '-f', 'vvfat', '-O', 'raw', 'json:{"driver":"vvfat","dir":"/s/d","label":"cidata","fat-type":12,"floppy":true}', '/s/seed.img']);
  assert.deepEqual(makefsArgv('/s/d', '/s/seed.img'), ['-t', 'msdos', '-o', 'fat_type=12', '-o', 'volume_label=cidata', '-s', '1440k', '/s/seed.img', '/s/d']);
  assert.equal(seedTool('freebsd', 'qemu-img').binary, 'makefs');
  assert.equal(seedTool('linux', '/usr/bin/qemu-img').binary, '/usr/bin/qemu-img');
});

test('the built seed reads back (mtools): label cidata, the three files whole, mode 0600, no temp left', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyved-seed-'));
  try {
    const out = path.join(dir, 'seed.img');
    const input = { instanceId: 'iid-x', hostname: 'vm1', rootHash: hashPassword('s3cret'), firstboot: SCRIPT, nics: [{ mac: '52:54:00:00:00:01', addresses: ['192.168.7.9/24'] }] };
    await buildSeed(seedTool('linux', 'qemu-img'), input, out);
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    assert.match(execFileSync('mlabel', ['-i', out, '-s', '::'], { encoding: 'utf8' }), /Volume label is cidata/);
    for (const [name, text] of Object.entries(seedFiles(input))) {
      if (name === 'user-data') continue; // its boundary is random: compared by parts below
      assert.equal(execFileSync('mtype', ['-i', out, `::${name}`], { encoding: 'utf8' }), text);
    }
    assert.equal(parsedParts(execFileSync('mtype', ['-i', out, '::user-data'], { encoding: 'utf8' }))[1].body, SCRIPT);
    assert.deepEqual(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim().split('\n'), ['seed.img']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
