#!/bin/bash
# The seeder as an operator runs it, at scale (issues 28 and 29): 1,000
# files of 20 KB seeded by one examples/seeder process against
# examples/devnet in another. Prints, for a first start (hashing), a
# restart with -verify=false (completion store filled), and the same with
# the status page on: the time until all 1,000 are seeding, the process's
# CPU over 30 idle seconds, and its RSS; then the RSS of a seeder of one
# torrent, to take per torrent.
#
#   bash examples/seeder/scale/run.sh [N]     # from the repository's root
set -euo pipefail
N=${1:-1000}
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
mkdir files
for i in $(seq 1 "$N"); do head -c 20000 /dev/urandom >"files/f$i.bin"; done
(cd "$root" && go build -o "$work/devnet" ./examples/devnet && go build -o "$work/seeder" ./examples/seeder)
./devnet -seed scale -listen 127.0.0.1:0 >devnet.log 2>&1 &
for _ in $(seq 1 60); do grep -q "account 0" devnet.log && break; sleep 1; done
chain=$(grep -o 'grpc: [0-9.:]*' devnet.log | head -1 | cut -d' ' -f2)
key=$(grep "account 0" devnet.log | grep -o '[0-9a-f]\{64\}' | head -1)
tck=$(getconf CLK_TCK)
run() { # label, count, flags...
	local label=$1 count=$2
	shift 2
	local start now t0 t1 s
	start=$(date +%s.%N)
	BTTSPEED_KEY=$key ./seeder -chain "$chain" -state state -listen 127.0.0.1:0 "$@" >"seeder-$label.log" 2>&1 &
	s=$!
	for _ in $(seq 1 1200); do [ "$(grep -c '^infohash:' "seeder-$label.log")" -ge "$count" ] && break; sleep 0.1; done
	now=$(date +%s.%N)
	sleep 5
	t0=$(awk '{print $14+$15}' /proc/$s/stat)
	sleep 30
	t1=$(awk '{print $14+$15}' /proc/$s/stat)
	printf '%s: %d torrents seeding after %.2f s; idle CPU over 30 s %.2f%% of a core; %s\n' "$label" "$count" \
		"$(echo "$now - $start" | bc)" "$(echo "scale=4; 100*($t1-$t0)/$tck/30" | bc)" "$(grep VmRSS /proc/$s/status | tr -s ' \t' ' ')"
	kill -TERM $s
	wait $s || true
}
run first "$N" files/*.bin
run restart "$N" -verify=false files/*.bin
run restart-http "$N" -verify=false -http 127.0.0.1:0 files/*.bin
rm -rf state
run one-torrent 1 -http 127.0.0.1:0 files/f1.bin
