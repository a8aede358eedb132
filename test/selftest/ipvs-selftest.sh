#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The DR and NAT cases of the Linux kernel's own IPVS selftest, run with this
# package's `ipvs` command where the kernel's test runs `ipvsadm`.
#
# Where it comes from: tools/testing/selftests/net/netfilter/ipvs.sh in the
# Linux tree (tools/testing/selftests/netfilter/ipvs.sh before 6.10;
# GPL-2.0). This is not a copy of that file: it is written anew for this
# repository (which is MIT-licensed) and follows the same procedure step for
# step, so the kernel's test and this one exercise the same thing:
#   - three network namespaces: a client (ns0) whose bridge joins two veths,
#     a director (ns1) and a real server (ns2), each pair joined by a veth;
#   - DR: service `-A -t VIP:8080 -s rr`, destination `-a -t VIP:8080 -r
#     RIP:8080` (gatewaying, the default), the VIP on lo in ns1 and ns2,
#     arp_ignore=1 / arp_announce=2 / rp_filter=0 on the real server; the
#     reply goes straight back to the client through the bridge;
#   - NAT: the same service, destination with -m, the real server's direct
#     link to the client removed and its default route via the director;
#   - each case: socat on the real server receives 32 random bytes that the
#     client sends to VIP:8080, and the case passes when they arrive intact.
# What changed from the kernel's test:
#   - `ipvsadm` is $IPVSADM (default: this package's bin/ipvs.js run by node);
#   - the addresses are in 198.18.0.0/15 (benchmarking space) instead of
#     207.175.44.110, 10.0.0.0/24 and 172.16.0.0/24;
#   - the namespaces get unique names here (the kernel's lib.sh does that too),
#     and only DR and NAT are run (the tunnel case is left out);
#   - the VIP goes on lo (the kernel's test labels it lo:1: the same address);
#   - a client that cannot connect ends the case at once (no wait for the
#     server's timeout); IPVS_SELFTEST_CASES picks cases (default "dr nat");
#   - it exits 1 when a case fails, 0 when all pass, 4 (kselftest's "skip")
#     when a tool is missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
read -r -a ipvsadm <<<"${IPVSADM:-node $here/../../bin/ipvs.js}"

readonly port=8080
readonly vip=198.18.200.110   # virtual IP      (kernel test: 207.175.44.110)
readonly cip=198.18.201.2     # client          (10.0.0.2)
readonly gip=198.18.201.1     # director, client side (10.0.0.1)
readonly sip=198.18.201.3     # real server, client side (10.0.0.3)
readonly dip=198.18.202.1     # director, server side (172.16.0.1)
readonly rip=198.18.202.2     # real server     (172.16.0.2)
readonly datalen=32

for tool in ip socat cmp timeout; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 4; }
done

suffix=$$-$RANDOM
ns0=ipvs-st-client-$suffix
ns1=ipvs-st-director-$suffix
ns2=ipvs-st-server-$suffix
work=$(mktemp -d)
sent=$work/sent
received=$work/received

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

teardown() {
	for ns in "$ns0" "$ns1" "$ns2"; do ip netns del "$ns" 2>/dev/null; done
	return 0
}
trap 'teardown; rm -rf "$work"' EXIT

build() {
	teardown
	for ns in "$ns0" "$ns1" "$ns2"; do
		ip netns add "$ns" || return 1
		in_ns "$ns" ip link set lo up
	done
	ip link add veth01 netns "$ns0" type veth peer name veth10 netns "$ns1"
	ip link add veth02 netns "$ns0" type veth peer name veth20 netns "$ns2"
	ip link add veth12 netns "$ns1" type veth peer name veth21 netns "$ns2"

	# client: both of its veths on one bridge, the client address on the bridge
	in_ns "$ns0" ip link add br0 type bridge
	for dev in veth01 veth02; do
		in_ns "$ns0" ip link set "$dev" master br0
		in_ns "$ns0" ip link set "$dev" up
	done
	in_ns "$ns0" ip link set br0 up
	in_ns "$ns0" ip addr add "$cip/24" dev br0

	in_ns "$ns1" ip addr add "$gip/24" dev veth10
	in_ns "$ns1" ip addr add "$dip/24" dev veth12
	in_ns "$ns1" ip link set veth10 up
	in_ns "$ns1" ip link set veth12 up

	in_ns "$ns2" ip addr add "$rip/24" dev veth21
	in_ns "$ns2" ip addr add "$sip/24" dev veth20
	in_ns "$ns2" ip link set veth21 up
	in_ns "$ns2" ip link set veth20 up

	sleep 1
	head -c "$datalen" /dev/urandom >"$sent"
}

# The real server takes one connection and writes what it got; the client
# sends the bytes to the virtual address; they must arrive unchanged.
transfer() {
	rm -f "$received"
	in_ns "$ns2" timeout 20 socat -u -4 "TCP-LISTEN:$port,reuseaddr" STDOUT >"$received" &
	local server=$!
	sleep 0.5
	if ! in_ns "$ns0" timeout 10 socat -u -4 STDIN "TCP:$vip:$port" <"$sent"; then
		kill "$server" 2>/dev/null
		wait "$server"
		return 1
	fi
	wait "$server"
	cmp -s "$sent" "$received"
}

director() {
	in_ns "$ns1" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$ns1" "${ipvsadm[@]}" -A -t "$vip:$port" -s rr
	in_ns "$ns1" "${ipvsadm[@]}" -a "$@" -t "$vip:$port" -r "$rip:$port"
	in_ns "$ns1" ip addr add "$vip/32" dev lo
}

case_dr() {
	in_ns "$ns0" ip route add "$vip" via "$gip" dev br0
	director
	# the real server owns the VIP too, but must not answer ARP for it
	in_ns "$ns2" sysctl -qw net.ipv4.conf.all.arp_ignore=1
	in_ns "$ns2" sysctl -qw net.ipv4.conf.all.arp_announce=2
	in_ns "$ns2" sysctl -qw net.ipv4.conf.all.rp_filter=0
	in_ns "$ns2" sysctl -qw net.ipv4.conf.veth21.rp_filter=0
	in_ns "$ns2" ip addr add "$vip/32" dev lo
	transfer
}

case_nat() {
	in_ns "$ns0" ip route add "$vip" via "$gip" dev br0
	director -m
	# replies must go back through the director to be rewritten
	in_ns "$ns2" ip link del veth20
	in_ns "$ns2" ip route add default via "$dip" dev veth21
	transfer
}

failed=0
for mode in ${IPVS_SELFTEST_CASES:-dr nat}; do
	echo "Testing ${mode^^} mode..."
	build || { echo "cannot build the namespaces"; exit 1; }
	if "case_$mode"; then echo "${mode^^}: PASS"; else echo "${mode^^}: FAIL"; failed=$((failed + 1)); fi
done

if [ "$failed" -ne 0 ]; then
	echo "$(basename "$0"): FAIL"
	exit 1
fi
echo "$(basename "$0"): PASS"
exit 0
