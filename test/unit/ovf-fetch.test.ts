import { test } from 'node:test';
import assert from 'node:assert/strict';
import { besideDescriptor } from '../../src/classes/image/fetch-ovf.js';
import { RpcError } from '../../src/core/errors.js';

test('a bare .ovf fetch resolves each reference beside the descriptor, or refuses it naming the reference', () => {
  const base = new URL('https://user:pw@images.example:8443/appliances/web/web.ovf?sig=1');
  assert.equal(besideDescriptor(base, 'web-disk1.vmdk', 'File[f1]').href, 'https://user:pw@images.example:8443/appliances/web/web-disk1.vmdk');
  assert.equal(besideDescriptor(base, 'a b.vmdk', 'File[f1]').pathname, '/appliances/web/a%20b.vmdk');
  for (const href of ['../web.vmdk', '%2e%2e/x.vmdk', 'sub/x.vmdk', '/etc/passwd', '//other.example/appliances/web/x.vmdk', 'http://images.example:8443/appliances/web/x.vmdk', 'https://images.example/appliances/web/x.vmdk', 'file:///etc/passwd']) {
    assert.throws(() => besideDescriptor(base, href, 'References/File[f1]/@href'), (e: RpcError) => e.code === 400 && e.message.startsWith('References/File[f1]/@href: ') && e.message.includes('does not resolve beside the descriptor'), href);
  }
});
