#!/bin/sh
# Peak RSS and wall time of the `ipvs` command's whole-table listings at
# N services x M destinations (not part of CI; figures in lib/cli/README.md).
# Run it in the sandbox, built first (npm run build):
#
#   scripts/sandbox --kernel 6.12 --mem 4096 -- bench/cli-listing.sh [N] [M] [RUNS] [OTHER_TREE] [HEAP_MB]
#
# OTHER_TREE: another built checkout (its bin/ipvs.js is run the same way),
# e.g. a copy of main's bin/, dist/, build/ and package.json, to compare with;
# the two trees' runs alternate, so that a change in the host's load falls on
# both. HEAP_MB: each command also runs once under node
# --max-old-space-size=HEAP_MB, which a listing holding the whole table in
# objects cannot fit in (RUNS 0: only that).
# The table is made once, by apply(), in a fresh network namespace (with
# net.ipv4.vs.run_estimation=0, a dummy0 interface and a default route, as
# bench/guest.ts does); every command runs RUNS times in it with its output
# to a file, timed by GNU time (%e wall seconds, %M peak RSS in KB), and its
# output is compared with ipvsadm's (-Sn: ipvsadm -Sn's; -Ln: ipvsadm -Ln's).
set -eu
N=${1:-20000}
M=${2:-10}
RUNS=${3:-3}
OTHER=${4:-}
HEAP=${5:-}
HERE=$(cd "$(dirname "$0")/.." && pwd)
NS=ipvs-cli-listing
OUT=/tmp/ipvs-cli-listing
mkdir -p "$OUT"

ip netns add $NS
ip -n $NS link set lo up
ip -n $NS link add dummy0 type dummy
ip -n $NS addr add 198.18.0.1/15 dev dummy0
ip -n $NS link set dummy0 up
ip -n $NS route add default dev dummy0
ip netns exec $NS sysctl -qw net.ipv4.vs.run_estimation=0

echo "making $N x $M"
ip netns exec $NS node -e '
const ipvs = require(process.argv[1] + "/dist/lib");
const n = Number(process.argv[2]), m = Number(process.argv[3]);
(async () => {
  const table = [];
  for (let i = 0; i < n; i++) {
    const destinations = [];
    for (let j = 0; j < m; j++) destinations.push({ address: `198.19.${(i + 7 * j) & 255}.${1 + j}`, port: 8080, forwarding: "masq", weight: 1 + (j % 3) });
    table.push({ protocol: i % 5 ? "tcp" : "udp", address: `198.18.${1 + (i >> 8) % 254}.${i & 255}`, port: 80 + Math.floor(i / 65024), scheduler: "rr", destinations });
  }
  const handle = await ipvs.open();
  await handle.apply(table);
  await handle.close();
})();
' "$HERE" "$N" "$M"

ip netns exec $NS ipvsadm -Sn > "$OUT/ipvsadm-Sn"
ip netns exec $NS ipvsadm -Ln > "$OUT/ipvsadm-Ln"
echo "ipvsadm -Sn: $(wc -l < "$OUT/ipvsadm-Sn") lines"

measure() { # LABEL EXPECTED COMMAND...
  label=$1 expected=$2
  shift 2
  run=1
  while [ $run -le "$RUNS" ]; do
    /usr/bin/time -f '%e %M' -o "$OUT/time" ip netns exec $NS "$@" > "$OUT/got"
    if [ -n "$expected" ] && ! cmp -s "$OUT/got" "$OUT/$expected"; then echo "$label: output differs from $expected"; exit 1; fi
    read -r seconds kb < "$OUT/time"
    echo "RESULT $label run $run: ${seconds} s, peak RSS $((kb / 1024)) MB"
    run=$((run + 1))
  done
}

# Whether a command completes, with its output right, under a heap limit.
bounded() { # LABEL EXPECTED COMMAND...
  label=$1 expected=$2
  shift 2
  if ip netns exec $NS "$@" > "$OUT/got" 2> "$OUT/err" && { [ -z "$expected" ] || cmp -s "$OUT/got" "$OUT/$expected"; }; then
    echo "RESULT $label with a ${HEAP} MB heap: completes"
  else
    echo "RESULT $label with a ${HEAP} MB heap: fails ($(grep -m1 -o 'heap out of memory\|JavaScript heap[^.]*' "$OUT/err" || tail -c 200 "$OUT/err"))"
  fi
}

measure "ipvsadm -Sn" "" ipvsadm -Sn
measure "ipvsadm -Ln" "" ipvsadm -Ln
for command in "-Sn" "-Ln" "-Ln --nosort" "list --json"; do
  expected=
  [ "$command" = "-Sn" ] && expected=ipvsadm-Sn
  [ "$command" = "-Ln" ] && expected=ipvsadm-Ln
  for tree in "$HERE" $OTHER; do
    # shellcheck disable=SC2086 # the command's words
    measure "$tree ipvs $command" "$expected" node "$tree/bin/ipvs.js" $command
    # shellcheck disable=SC2086
    [ -n "$HEAP" ] && bounded "$tree ipvs $command" "$expected" node "--max-old-space-size=$HEAP" "$tree/bin/ipvs.js" $command
  done
done
ip netns del $NS
