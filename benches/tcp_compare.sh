#!/usr/bin/env bash
# vpcesim's TCP forwarder side by side with haproxy (mode tcp) and the direct path, on
# loopback only, every load bounded in time. Prints medians and ratios.
#
#   benches/tcp_compare.sh                  RUNS=3 SECS=10 CONC=64 BUCKET_GBPS=2
#   SKIP_BUILD=1 benches/tcp_compare.sh
#
# Paths (runs interleaved, so that this VM's drift hits all alike):
#   direct   iperf3 -> iperf3 server; connrate -> echo server
#   haproxy  Debian haproxy, mode tcp, nbthread 2 (config written below)
#   vpcesim  `vpcesim serve TOPOLOGY --forward LISTEN=bench-1@<regional vpce name>:PORT`
#            (the release binary) with rules on (1,000 SG rules on each side, 20 NACL
#            entries per direction), bucket far above the line rate
#   bucket   the same, with a bucket of BUCKET_GBPS (below the line rate): its
#            throughput should be the configured rate
# Clients and the echo server come from `examples/tcpbench.rs` (echo, connrate).
# For the connection rate it also prints each proxy's own CPU time per connection (user +
# system, from /proc/PID/stat): the client, the echo server and the proxy share the two
# cores, so this is the steadier figure of the two.
# Scratch: /tmp/vpcesim-tcp-compare. Every process started here is stopped by its PID.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W=/tmp/vpcesim-tcp-compare
RUNS="${RUNS:-3}"
SECS="${SECS:-10}"
CONC="${CONC:-64}"
BUCKET_GBPS="${BUCKET_GBPS:-2}"
H=127.0.0.1
# Ports below the ephemeral range (32768+): TIME_WAIT sockets never collide with them.
IPERF=5301 HAP_BULK=5311 VPC_BULK=5361 BKT_BULK=5371 ECHO=7161 HAP_ECHO=7110 VPC_ECHO=7160
PIDS=()

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
stop_all() {
    local p
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_all EXIT INT TERM
start() { local name="$1"; shift; "$@" >"$W/$name.out" 2>&1 & PIDS+=("$!"); log "started $name pid $!"; }
wait_port() {
    for _ in $(seq 100); do ss -Hltn "sport = :$1" | grep -q "$H:$1" && return 0; sleep 0.1; done
    echo "nothing listens on $H:$1" >&2; exit 1
}
for p in $IPERF $HAP_BULK $VPC_BULK $BKT_BULK $ECHO $HAP_ECHO $VPC_ECHO; do
    if ss -Hltn "sport = :$p" | grep -q ":$p"; then echo "port $p in use" >&2; exit 1; fi
done
for b in iperf3 haproxy python3; do
    command -v $b >/dev/null || { echo "$b missing: apt-get install -y iperf3 haproxy python3" >&2; exit 1; }
done

mkdir -p "$W"; rm -f "$W"/*.json "$W"/*.txt
if [ -z "${SKIP_BUILD:-}" ]; then
    log "cargo build --release --bin vpcesim --example tcpbench"
    (cd "$ROOT" && cargo build --release --bin vpcesim --example tcpbench -q)
fi
TB="$ROOT/target/release/examples/tcpbench"
VS="$ROOT/target/release/vpcesim"
# The endpoints' regional names, fixed by the IDs and DNS suffixes in the topology below;
# `serve` resolves them through bench-1's VPC resolver.
BULK_NAME=vpce-0b0b0b0b0b0b0b0b1-bench001.vpce-svc-0a0a0a0a0a0a0a0a1.us-east-1.vpce.amazonaws.com
ECHO_NAME=vpce-0b0b0b0b0b0b0b0b2-bench002.vpce-svc-0a0a0a0a0a0a0a0a2.us-east-1.vpce.amazonaws.com

# ---------------------------------------------------------------- topologies
topology() { # $1 = per_az_gbps
    python3 - "$1" <<'PY'
import sys
gbps = sys.argv[1]
out = [f'''name = "tcp-compare"
[bandwidth]
per_az_gbps = {gbps}
burst_mbit = 100
[vpcs.main]
cidr = "10.0.0.0/16"
[subnets.app]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
nacl = "big"
[subnets.ep]
vpc = "main"
cidr = "10.0.2.0/24"
az = "us-east-1a"
nacl = "big"
[instances.bench-1]
subnet = "app"
ip = "10.0.1.10"
security_groups = ["web"]
[services.bulk]
id = "vpce-svc-0a0a0a0a0a0a0a0a1"
ports = [5201]
backend = "127.0.0.1:{5301}"
[services.echo]
id = "vpce-svc-0a0a0a0a0a0a0a0a2"
ports = [7061]
backend = "127.0.0.1:{7161}"
[endpoints.bulk]
vpc = "main"
service = "bulk"
id = "vpce-0b0b0b0b0b0b0b0b1"
dns_suffix = "bench001"
subnets = ["ep"]
security_groups = ["endpoint-sg"]
[endpoints.echo]
vpc = "main"
service = "echo"
id = "vpce-0b0b0b0b0b0b0b0b2"
dns_suffix = "bench002"
subnets = ["ep"]
security_groups = ["endpoint-sg"]''']
def rules(last):
    r = [f'  {{ proto = "tcp", ports = {1000 + i % 50}, cidr = "172.{16 + i // 250}.{i % 250}.0/24" }},' for i in range(999)]
    return r + [f"  {last},"]
out += ['[security_groups.web]', 'vpc = "main"', 'egress = [']
out += rules('{ proto = "tcp", ports = "0-65535", cidr = "10.0.2.0/24" }') + [']']
out += ['[security_groups.endpoint-sg]', 'vpc = "main"', 'ingress = [']
out += rules('{ proto = "tcp", ports = "0-65535", sg = "web" }') + [']']
def nacl(d):
    r = [f'{d} = [']
    r += [f'  {{ rule = {i * 10}, proto = "udp", ports = {5000 + i}, cidr = "192.168.{i}.0/24", action = "deny" }},' for i in range(1, 20)]
    r += ['  { rule = 1000, proto = "tcp", ports = "0-65535", cidr = "10.0.0.0/16", action = "allow" },', ']']
    return r
out += ['[nacls.big]', 'vpc = "main"'] + nacl('inbound') + nacl('outbound')
print("\n".join(out))
PY
}
topology 100000 >"$W/fast.toml"
topology "$BUCKET_GBPS" >"$W/bucket.toml"

cat >"$W/haproxy.cfg" <<CFG
global
    maxconn 8000
    nbthread 2
defaults
    mode tcp
    timeout connect 5s
    timeout client  60s
    timeout server  60s
frontend bulk
    bind $H:$HAP_BULK
    default_backend iperf3
frontend echo
    bind $H:$HAP_ECHO
    default_backend echo
backend iperf3
    server s1 $H:$IPERF
backend echo
    server s1 $H:$ECHO
CFG

# ---------------------------------------------------------------- peers
start iperf3 iperf3 -s -B $H -p $IPERF
start echo "$TB" echo $H:$ECHO
start haproxy haproxy -db -f "$W/haproxy.cfg"
HAP_PID=$!
start vpcesim "$VS" serve "$W/fast.toml" \
    --forward "$H:$VPC_BULK=bench-1@$BULK_NAME:5201" --forward "$H:$VPC_ECHO=bench-1@$ECHO_NAME:7061"
VPC_PID=$!
start bucket "$VS" serve "$W/bucket.toml" --forward "$H:$BKT_BULK=bench-1@$BULK_NAME:5201"
for p in $IPERF $ECHO $HAP_BULK $HAP_ECHO $VPC_BULK $VPC_ECHO $BKT_BULK; do wait_port $p; done
# A flow through each serve must reach its backend (HOST resolved, policy allows).
for p in $VPC_ECHO; do
    out="$("$TB" connrate "$H:$p" 1 1)"
    case "$out" in *" errors=0 "*) ;; *) echo "no echo through vpcesim serve on $p: $out" >&2; exit 1;; esac
done

{
    echo "kernel=$(uname -r) cpus=$(nproc) $(iperf3 --version | sed -n 1p)"
    haproxy -v | sed -n 1p
    echo "rustc=$(rustc --version | cut -d' ' -f2) vpcesim=$("$VS" --version 2>/dev/null || echo "$VS")"
} >"$W/env.txt"

bulk() { # name port run; the iperf3 server may still be finishing the previous test
    for _ in 1 2 3 4 5; do
        sleep 1
        iperf3 -c $H -p "$2" -t "$SECS" -J >"$W/bulk-$1-$3.json" 2>/dev/null && return 0
        grep -q busy "$W/bulk-$1-$3.json" || break
    done
    log "iperf3 $1 failed"
}
cpu_ticks() { # pid: user + system CPU so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
conn() { # name port run [proxy pid: its CPU time is recorded too]
    local before=0 tw
    [ -n "${4:-}" ] && before=$(cpu_ticks "$4")
    tw=$(ss -s | sed -n 's/.*timewait \([0-9]*\).*/\1/p')
    "$TB" connrate "$H:$2" "$CONC" "$SECS" >"$W/conn-$1-$3.txt" 2>&1 || log "connrate $1 failed"
    [ -n "${4:-}" ] && echo "cpu_ticks=$(( $(cpu_ticks "$4") - before ))" >>"$W/conn-$1-$3.txt"
    echo "timewait_before=${tw:-?}" >>"$W/conn-$1-$3.txt"
    return 0
}

for run in $(seq "$RUNS"); do
    log "run $run/$RUNS: bulk"
    bulk direct $IPERF "$run"; bulk haproxy $HAP_BULK "$run"; bulk vpcesim $VPC_BULK "$run"
    log "run $run/$RUNS: connection rate"
    conn direct $ECHO "$run"; conn haproxy $HAP_ECHO "$run" $HAP_PID; conn vpcesim $VPC_ECHO "$run" $VPC_PID
done
log "bucket at $BUCKET_GBPS Gbit/s"
bulk bucket $BKT_BULK 1

# ---------------------------------------------------------------- report
python3 - "$W" "$RUNS" "$BUCKET_GBPS" "$(getconf CLK_TCK)" <<'PY'
import json, re, statistics, sys
w, runs, bucket, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
def gbps(name, run):
    try:
        with open(f"{w}/bulk-{name}-{run}.json") as f:
            return json.load(f)["end"]["sum_received"]["bits_per_second"] / 1e9
    except Exception:
        return float("nan")
def rate(name, run):
    try:
        text = open(f"{w}/conn-{name}-{run}.txt").read()
        return float(re.search(r"rate=(\d+)", text).group(1)), int(re.search(r"errors=(\d+)", text).group(1))
    except Exception:
        return float("nan"), -1
print(open(f"{w}/env.txt").read().strip())
print()
print("bulk throughput, 1 stream, iperf3 (Gbit/s, median of runs)")
med = {}
for name in ["direct", "haproxy", "vpcesim"]:
    xs = [gbps(name, r) for r in range(1, runs + 1)]
    med[name] = statistics.median(xs)
    print(f"  {name:8} {med[name]:6.2f}   runs {' / '.join(f'{x:.2f}' for x in xs)}")
print(f"  vpcesim / haproxy = {med['vpcesim'] / med['haproxy']:.2f}  (target >= 1.2)")
print(f"  vpcesim / direct  = {med['vpcesim'] / med['direct']:.2f}")
print()
print("connection rate: connect + 1-byte echo + close (conn/s, median of runs)")
cm = {}
for name in ["direct", "haproxy", "vpcesim"]:
    xs = [rate(name, r) for r in range(1, runs + 1)]
    cm[name] = statistics.median(x for x, _ in xs)
    errs = sum(e for _, e in xs)
    print(f"  {name:8} {cm[name]:8.0f}   runs {' / '.join(f'{x:.0f}' for x, _ in xs)}   errors {errs}")
print(f"  vpcesim / haproxy = {cm['vpcesim'] / cm['haproxy']:.2f}  (target >= 1.0)")
print(f"  vpcesim / direct  = {cm['vpcesim'] / cm['direct']:.2f}")
def cpu_per_conn(name, run):
    try:
        text = open(f"{w}/conn-{name}-{run}.txt").read()
        conns = int(re.search(r"conns=(\d+)", text).group(1))
        ticks = int(re.search(r"cpu_ticks=(\d+)", text).group(1))
        return ticks / hz * 1e6 / conns
    except Exception:
        return float("nan")
print("  the proxy's own CPU time per connection (us, user + system; the client and the")
print("  echo server share the two cores, so a cheaper proxy leaves them more):")
for name in ["haproxy", "vpcesim"]:
    xs = [cpu_per_conn(name, r) for r in range(1, runs + 1)]
    print(f"    {name:8} {statistics.median(xs):6.1f}   runs {' / '.join(f'{x:.1f}' for x in xs)}")
def timewait(name, run):
    m = re.search(r"timewait_before=(\S+)", open(f"{w}/conn-{name}-{run}.txt").read())
    return m.group(1) if m else "?"
print("  TIME_WAIT sockets before each vpcesim run (the client's own connects stop costing")
print("  once the kernel's table is full; see docs/forwarder.md):")
print("    " + " / ".join(timewait("vpcesim", r) for r in range(1, runs + 1)))
print()
b = gbps("bucket", 1)
print(f"bucket configured at {bucket:g} Gbit/s (100 Mbit size): measured {b:.3f} Gbit/s ({b / bucket:.3f} of the rate)")
PY
