#!/usr/bin/env bash
# Soak: DNS, forwarder and API load together against one `vpcesim serve` for N minutes,
# printing the process's resident memory (RSS) and open file descriptors as it goes.
#
#   benches/soak.sh [MINUTES]          default 10
#   SKIP_BUILD=1 PEAK_SECS=20 SHARE=80 benches/soak.sh 10
#
# What it does, on loopback only, every load bounded in time:
# 1. builds the release `vpcesim` and `examples/soakload.rs` (unless SKIP_BUILD);
# 2. writes a topology (one VPC with a Kinesis endpoint, private DNS on, in two /20
#    subnets) and starts `vpcesim serve` on it with a VPC resolver (--dns), a forwarder
#    from instance load-1 to kinesis.us-east-1.amazonaws.com:443 (the endpoint's
#    in-process echo backend) and the EC2 API (--api);
# 3. peak: runs the three loads at once, unpaced, for PEAK_SECS seconds: dnsperf (a mix
#    of A answers, NODATA, NXDOMAIN and REFUSED), `soakload conn` (connect through the
#    forwarder, 1 KiB echoed, close) and `soakload api` (per worker: CreateVpcEndpoint,
#    DescribeVpcEndpoints, CreateTags, DescribeVpcEndpoints by filter,
#    DeleteVpcEndpoints); the rates they reach together are the measured peak;
# 4. soak: the same three loads paced at SHARE percent (default 80) of those rates for
#    MINUTES minutes, printing RSS and fd count at the start, every minute and at the
#    end, then the change from start to end in percent and what each client achieved.
#
# "Flat" means the end is within 10% of the start for both RSS and fds. The start
# sample is taken after the peak phase, so that the allocator has already grown to
# what full load needs; the idle figures before any load are printed too.
# Needs dnsperf and dig (Debian: dnsperf bind9-dnsutils). Ports 5453 (DNS), 7453
# (forwarder) and 8453 (API) on 127.0.0.1 must be free. Scratch: /tmp/vpcesim-soak.
# Every process it starts is stopped by its PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MINUTES="${1:-10}"
PEAK_SECS="${PEAK_SECS:-20}"
SHARE="${SHARE:-80}"
W=/tmp/vpcesim-soak
H=127.0.0.1
DNS_PORT=5453 FWD_PORT=7453 API_PORT=8453
DNS_CLIENTS="${DNS_CLIENTS:-4}" CONN_WORKERS="${CONN_WORKERS:-16}" API_WORKERS="${API_WORKERS:-4}"
PIDS=()

log() { echo "[$(date -u +%H:%M:%S)] $*"; }
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
wait_port() { # proto port
    for _ in $(seq 100); do
        ss -Hln"$1" "sport = :$2" | grep -q "$H:$2" && return 0
        sleep 0.1
    done
    echo "nothing listens on $H:$2 ($1)" >&2
    exit 1
}

case "$MINUTES" in '' | *[!0-9]*) echo "MINUTES must be a whole number" >&2; exit 2 ;; esac
for b in dnsperf dig ss; do
    command -v "$b" >/dev/null || { echo "$b missing: apt-get install -y dnsperf bind9-dnsutils iproute2" >&2; exit 2; }
done
for p in $DNS_PORT $FWD_PORT $API_PORT; do
    if ss -Hltnu "sport = :$p" | grep -q ":$p"; then echo "port $p in use" >&2; exit 2; fi
done
if [ -z "${SKIP_BUILD:-}" ]; then
    log "cargo build --release --bin vpcesim --example soakload"
    (cd "$ROOT" && cargo build --release --bin vpcesim --example soakload -q)
fi
VS="$ROOT/target/release/vpcesim"
LOAD="$ROOT/target/release/examples/soakload"
rm -rf "$W"
mkdir -p "$W"

cat >"$W/soak.toml" <<'TOML'
name = "soak"
region = "us-east-1"
provisioning = "0s"

[vpcs.main]
id = "vpc-50a450a4"
cidr = "10.80.0.0/16"
dns_hostnames = true

[subnets.a]
vpc = "main"
id = "subnet-50a4000a"
cidr = "10.80.0.0/20"
az = "us-east-1a"

[subnets.b]
vpc = "main"
id = "subnet-50a4000b"
cidr = "10.80.16.0/20"
az = "us-east-1b"

# The group the API load puts its endpoints in.
[security_groups.api]
vpc = "main"
id = "sg-50a450a4"
ingress = [{ proto = "tcp", ports = 443, cidr = "10.80.0.0/16" }]

[instances.load-1]
subnet = "a"

[endpoints.kinesis]
vpc = "main"
service = "com.amazonaws.us-east-1.kinesis-streams"
subnets = ["a", "b"]
id = "vpce-050a450a450a450a4"
dns_suffix = "soak0001"
TOML

# dnsperf's query mix: endpoint answers (private and endpoint-specific names), NODATA,
# NXDOMAIN inside the endpoint zone, REFUSED outside every served zone.
REGIONAL=vpce-050a450a450a450a4-soak0001.kinesis-streams.us-east-1.vpce.amazonaws.com
{
    for _ in 1 2 3; do
        echo "kinesis.us-east-1.amazonaws.com A"
        echo "$REGIONAL A"
        echo "vpce-050a450a450a450a4-soak0001-us-east-1a.kinesis-streams.us-east-1.vpce.amazonaws.com A"
    done
    echo "kinesis.us-east-1.amazonaws.com AAAA"
    echo "nothing-here.kinesis-streams.us-east-1.vpce.amazonaws.com A"
    echo "example.com A"
} >"$W/queries.txt"

"$VS" serve "$W/soak.toml" --dns "main=$H:$DNS_PORT" \
    --forward "$H:$FWD_PORT=load-1@kinesis.us-east-1.amazonaws.com:443" \
    --api "$H:$API_PORT" >"$W/serve.log" 2>&1 &
SERVE=$!
PIDS+=("$SERVE")
log "vpcesim serve pid $SERVE"
wait_port u $DNS_PORT
wait_port t $FWD_PORT
wait_port t $API_PORT

# Each path must work before it is loaded.
answer="$(dig +short -p $DNS_PORT @$H kinesis.us-east-1.amazonaws.com A)"
case "$answer" in 10.80.*) ;; *) echo "DNS check failed: '$answer'" >&2; exit 1 ;; esac
check="$("$LOAD" conn "$H:$FWD_PORT" 1 1 5)"
case "$check" in *" errors=0 "*) ;; *) echo "forwarder check failed: $check" >&2; exit 1 ;; esac
check="$("$LOAD" api "$H:$API_PORT" 1 2 5)"
case "$check" in *" errors=0 "*) ;; *) echo "API check failed: $check" >&2; exit 1 ;; esac

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE/status"; }
fds() { find "/proc/$SERVE/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sample() { # label
    kill -0 "$SERVE" 2>/dev/null || { echo "vpcesim serve exited; its log: $W/serve.log" >&2; exit 1; }
    awk -v l="$1" -v r="$(rss_kib)" -v f="$(fds)" 'BEGIN { printf "%-8s rss=%6.1f MiB  fds=%5d\n", l, r / 1024, f }'
}
rate_of() { sed -n 's/.* rate=\([0-9]*\).*/\1/p' "$1"; }

run_loads() { # secs dns_qps conn_rate api_rate (0 = unpaced); suffix
    local secs="$1" q=() c="" a="" s="$5"
    [ "$2" != 0 ] && q=(-Q "$2")
    [ "$3" != 0 ] && c="$3"
    [ "$4" != 0 ] && a="$4"
    dnsperf -s $H -p $DNS_PORT -d "$W/queries.txt" -c "$DNS_CLIENTS" -q 64 -l "$secs" "${q[@]}" \
        >"$W/dnsperf-$s.txt" 2>&1 &
    LOADS=("$!")
    "$LOAD" conn "$H:$FWD_PORT" "$CONN_WORKERS" "$secs" $c >"$W/conn-$s.txt" 2>&1 &
    LOADS+=("$!")
    "$LOAD" api "$H:$API_PORT" "$API_WORKERS" "$secs" $a >"$W/api-$s.txt" 2>&1 &
    LOADS+=("$!")
    PIDS+=("${LOADS[@]}")
}
wait_loads() {
    local p
    for p in "${LOADS[@]}"; do wait "$p" || true; done
}
dns_qps() { sed -n 's/.*Queries per second: *\([0-9]*\).*/\1/p' "$1"; }
dns_lost() { sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$1"; }

sample idle
log "peak: all three loads unpaced for ${PEAK_SECS}s"
run_loads "$PEAK_SECS" 0 0 0 peak
wait_loads
PEAK_DNS=$(dns_qps "$W/dnsperf-peak.txt")
PEAK_CONN=$(rate_of "$W/conn-peak.txt")
PEAK_API=$(rate_of "$W/api-peak.txt")
echo "peak together: dns=${PEAK_DNS:-?} qps  conn=${PEAK_CONN:-?}/s  api=${PEAK_API:-?} calls/s"
cat "$W/conn-peak.txt" "$W/api-peak.txt" | sed 's/^/  /'
[ -n "$PEAK_DNS" ] && [ -n "$PEAK_CONN" ] && [ -n "$PEAK_API" ] || { echo "a peak load failed; see $W" >&2; exit 1; }
T_DNS=$((PEAK_DNS * SHARE / 100)) T_CONN=$((PEAK_CONN * SHARE / 100)) T_API=$((PEAK_API * SHARE / 100))
[ "$T_CONN" -gt 0 ] || T_CONN=1
[ "$T_API" -gt 0 ] || T_API=1

SECS=$((MINUTES * 60))
log "soak: ${MINUTES} min at ${SHARE}%: dns=$T_DNS qps  conn=$T_CONN/s  api=$T_API calls/s"
START_RSS=$(rss_kib) START_FDS=$(fds)
sample start
run_loads "$SECS" "$T_DNS" "$T_CONN" "$T_API" soak
for m in $(seq "$MINUTES"); do
    sleep 60
    sample "min $m"
done
wait_loads
END_RSS=$(rss_kib) END_FDS=$(fds)
sample end

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }'; }
RSS_PCT=$(pct "$START_RSS" "$END_RSS") FDS_PCT=$(pct "$START_FDS" "$END_FDS")
echo "change start->end: rss ${RSS_PCT}%  fds ${FDS_PCT}%"
echo "achieved: dns $(dns_qps "$W/dnsperf-soak.txt") qps (lost $(dns_lost "$W/dnsperf-soak.txt")) of $T_DNS;" \
    "conn $(rate_of "$W/conn-soak.txt")/s of $T_CONN; api $(rate_of "$W/api-soak.txt") calls/s of $T_API"
cat "$W/conn-soak.txt" "$W/api-soak.txt" | sed 's/^/  /'
within() { echo "$1" | awk '{ v = $1 < 0 ? -$1 : $1; exit !(v <= 10) }'; }
if within "$RSS_PCT" && within "$FDS_PCT"; then
    echo "flat: RSS and fds within 10%"
else
    echo "NOT flat: RSS or fds moved more than 10%"
fi
