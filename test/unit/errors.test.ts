// Each errno gets a message naming the operation's object.
import assert from 'assert/strict';
import { kernelError, fromNative, IpvsError, errnoName, IPVS_UNAVAILABLE } from '../../lib/errors';

const service = { operation: 'addService', object: 'service tcp 1.1.1.1:80', service: 'service tcp 1.1.1.1:80', scheduler: 'foo' };
const destination = {
  operation: 'deleteDestination',
  object: 'destination 2.2.2.2:80 in service tcp 1.1.1.1:80',
  service: 'service tcp 1.1.1.1:80',
  destination: 'destination 2.2.2.2:80',
};

describe('unit: errors', () => {
  it('names errnos as Node does', () => {
    assert.equal(errnoName(17), 'EEXIST');
    assert.equal(errnoName(3), 'ESRCH');
    assert.equal(errnoName(74), 'EBADMSG'); // not in libuv's map
    assert.equal(errnoName(100000), 'E100000');
  });

  it('says what exists, what is missing, and which module is unknown', () => {
    assert.equal(kernelError(17, service).message, 'service tcp 1.1.1.1:80 already exists');
    assert.equal(kernelError(3, destination).message, 'service tcp 1.1.1.1:80 does not exist');
    assert.equal(kernelError(2, destination).message, 'destination 2.2.2.2:80 does not exist in service tcp 1.1.1.1:80');
    assert.match(kernelError(2, service).message, /scheduler "foo" \(module ip_vs_foo\)/);
    assert.match(kernelError(1, service).message, /CAP_NET_ADMIN/);
    assert.match(kernelError(22, service).message, /^addService service tcp 1\.1\.1\.1:80 failed: EINVAL/);
  });

  it('keeps errno, code, operation, object and the kernel text', () => {
    const e = kernelError(22, service, 'missing attribute');
    assert.ok(e instanceof IpvsError && e instanceof Error);
    assert.deepEqual([e.code, e.errno, e.operation, e.object, e.kernelMessage], ['EINVAL', 22, 'addService', 'service tcp 1.1.1.1:80', 'missing attribute']);
    assert.match(e.message, /\(kernel: missing attribute\)$/);
  });

  it('turns the addon rejections into IpvsErrors', () => {
    const unavailable = fromNative(Object.assign(new Error('IPVS is not available'), { errno: 2, unavailable: true }), service) as IpvsError;
    assert.equal(unavailable.code, IPVS_UNAVAILABLE);
    const plain = new TypeError('x');
    assert.equal(fromNative(plain, service), plain);
  });
});
