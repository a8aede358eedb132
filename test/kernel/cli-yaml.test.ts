// `ipvs apply FILE.yaml`: a YAML document of the shape `ipvs list --json`
// prints makes the kernel's table (checked with ipvsadm -Sn); a file that is
// not valid YAML, or whose services are wrong, is an error naming the place
// and changes nothing.
import assert from 'assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ipvs } from './cli-run';
import { assertSandbox, ipvsadm, resetTable } from './helpers';

const TABLE_YAML = `# a load balancer, as YAML
- protocol: tcp
  address: 198.18.0.10
  port: 80
  scheduler: rr
  destinations:
    - { address: 198.19.1.2, forwarding: masq, weight: 100 }
    - address: 198.19.1.3
      forwarding: masq
      weight: 50
      upperThreshold: 10
- protocol: udp
  address: 2001:db8::53      # YAML 1.2: an address stays a string
  port: 53
  scheduler: sh
  schedulerFlags: { fallback: true }
- fwmark: 7
  family: ipv6
  scheduler: mh
  persistence: { timeout: 300 }
`;

const TABLE_RULES = [
  '-A -t 198.18.0.10:80 -s rr',
  '-a -t 198.18.0.10:80 -r 198.19.1.2:80 -m -w 100',
  '-a -t 198.18.0.10:80 -r 198.19.1.3:80 -m -w 50',
  '-A -u [2001:db8::53]:53 -s sh -b sh-fallback',
  '-A -f 7 -6 -s mh -p 300',
];

describe('kernel: ipvs apply FILE.yaml', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    assertSandbox();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-yaml-'));
  });
  beforeEach(resetTable);
  after(() => {
    resetTable();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function file(name: string, text: string): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  }

  it('makes the table the YAML file describes, the same as the JSON document would', async () => {
    const yamlFile = file('table.yaml', TABLE_YAML);
    const r = await ipvs(['apply', yamlFile]);
    assert.equal(r.status, 0, r.err);
    assert.deepEqual(ipvsadm('-Sn').trimEnd().split('\n').sort(), [...TABLE_RULES].sort());
    assert.match(ipvsadm('-Ln', '--thresholds'), /-> 198\.19\.1\.3:80 +10 +0 /);
    // The same table as JSON (what `ipvs list --json` prints) applies as a no-op.
    const json = file('table.json', (await ipvs(['list', '--json'])).out);
    assert.match((await ipvs(['apply', json])).out, /^# no changes$/m);
    // .yml with a services: key; --prune removes what the file lacks.
    const yml = file('one.yml', 'services:\n  - { protocol: tcp, address: 198.18.0.10, port: 80, scheduler: rr, destinations: [] }\n');
    const pruned = await ipvs(['apply', yml, '--prune']);
    assert.equal(pruned.status, 0, pruned.err);
    assert.equal(ipvsadm('-Sn'), '-A -t 198.18.0.10:80 -s rr\n');
  });

  it('a file that is not valid YAML, or holds a bad service, is an error naming it and changes nothing', async () => {
    assert.equal((await ipvs(['apply', file('start.yaml', TABLE_YAML)])).status, 0);
    const before = ipvsadm('-Sn');
    const cases: Array<[string, string, RegExp]> = [
      ['indent.yaml', '- protocol: tcp\n  address: 198.18.0.11\n port: 80\n', /^indent\.yaml:3:\d+: not valid YAML: /],
      ['dup.yaml', '- protocol: tcp\n  address: 198.18.0.11\n  port: 80\n  port: 81\n', /^dup\.yaml:4:3: not valid YAML: Map keys must be unique/],
      ['flow.yml', '- { protocol: tcp, address: 198.18.0.11, port: [80 }\n', /^flow\.yml:1:\d+: not valid YAML: /],
      ['scalar.yaml', 'just text\n', /^scalar\.yaml: expected a list of services/],
      // valid YAML, wrong content: apply() names the field and value; nothing was sent
      ['weight.yaml', TABLE_YAML.replace('weight: 50', 'weight: -5'), /^weight\.yaml: .*weight.*-5/],
      ['kind.yaml', TABLE_YAML.replace('weight: 100', 'weight: heavy'), /^kind\.yaml: .*weight.*heavy/],
      ['field.yaml', TABLE_YAML.replace('scheduler: rr', 'schedular: rr'), /^field\.yaml: .*schedular/],
    ];
    for (const [name, text, message] of cases) {
      const r = await ipvs(['apply', file(name, text), '--prune']);
      assert.equal(r.status, 2, `${name}: ${r.err}`);
      const err = r.err.split(`${dir}/`).join(''); // messages name the file as given
      assert.match(err, message, name);
      assert.equal(err.split('\n').length, 2, `one line: ${err}`);
      assert.equal(ipvsadm('-Sn'), before, `${name} changed the table`);
    }
  });
});
