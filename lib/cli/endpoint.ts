// `address:port` as ipvsadm writes it (an IPv6 address in brackets), for the
// labels of `ipvs exporter` and the rows of `ipvs top`.
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
