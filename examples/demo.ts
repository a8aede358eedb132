// The source document's example, through the library: a least-connection
// service on 1.1.1.1:80 with two masqueraded real servers of weight 100,
// then the table printed the way `ipvsadm -Ln` prints it.
//
//   ipvsadm -A -t 1.1.1.1:80 -s lc
//   ipvsadm -a -t 1.1.1.1:80 -r 2.2.2.2 -m -w 100
//   ipvsadm -a -t 1.1.1.1:80 -r 3.3.3.3 -m -w 100
//   ipvsadm -Ln
import * as ipvs from '../lib';

export async function demo(handle: ipvs.IpvsHandle): Promise<string> {
  const service = { protocol: 'tcp', address: '1.1.1.1', port: 80 } as const;
  await handle.addService({ ...service, scheduler: ipvs.Scheduler.LeastConnection });
  await handle.addDestination(service, { address: '2.2.2.2', forwarding: 'masq', weight: 100 });
  await handle.addDestination(service, { address: '3.3.3.3', forwarding: 'masq', weight: 100 });
  return ipvs.formatIpvsadmList(await handle.list(), await handle.info());
}

if (require.main === module) {
  (async () => {
    const handle = await ipvs.open();
    try {
      process.stdout.write(await demo(handle));
    } finally {
      await handle.close();
    }
  })().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
