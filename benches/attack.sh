#!/usr/bin/env bash
# Attacks on `vpcesim serve` that its bounds must hold against, on loopback only, each
# bounded in time. Prints the figures.
#
#   benches/attack.sh                 builds the release binary first
#   SKIP_BUILD=1 benches/attack.sh    CLIENTS=1500 HELD=12000 FLOWS=201 HOLD_SECS=10
#
# 1. CLIENTS clients that write to an allowed flow (in-process echo) and never read:
#    the server's RSS (now and peak), then a DNS-over-TCP query and a new flow timed
#    while they are all still connected.
# 2. HELD connections to a dropped path with the server under `ulimit -n 8192`: how many
#    the server still holds, its descriptors, and a DNS-over-TCP query and an API call
#    timed while the attack holds.
# 3. FLOWS flows (three quarters finished, the rest live), then SIGTERM: the exit status
#    and the number of flow log records.
# Needs python3, dig and curl. Scratch: /tmp/vpcesim-attack. Every process started here
# is stopped by its PID.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W=/tmp/vpcesim-attack
CLIENTS="${CLIENTS:-1500}"
HELD="${HELD:-12000}"
FLOWS="${FLOWS:-201}"
HOLD_SECS="${HOLD_SECS:-10}"
H=127.0.0.1
# Below the ephemeral range, so that the attack's own connections never take them.
FWD_OPEN=7443 FWD_SHUT=7900 DNS=7353 API=7380
NAME=vpce-0fe5b17a0707d6abc-serve001.vpce-svc-0a1b2c3d4e5f60718.us-east-1.vpce.amazonaws.com
SERVE_PID=""

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
stop_serve() {
    [ -n "$SERVE_PID" ] || return 0
    kill "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
}
trap stop_serve EXIT INT TERM
for b in python3 dig curl; do
    command -v $b >/dev/null || { echo "$b missing" >&2; exit 1; }
done
for p in $FWD_OPEN $FWD_SHUT $DNS $API; do
    if ss -Hltn "sport = :$p" | grep -q ":$p"; then echo "port $p in use" >&2; exit 1; fi
done
if [ "$(ulimit -n)" -lt $((HELD + 100)) ]; then
    echo "the clients need $((HELD + 100)) descriptors: ulimit -n is $(ulimit -n)" >&2; exit 1
fi
mkdir -p "$W"; rm -f "$W"/*
if [ -z "${SKIP_BUILD:-}" ]; then
    log "cargo build --release --bin vpcesim"
    (cd "$ROOT" && cargo build --release --bin vpcesim -q)
fi
VS="$ROOT/target/release/vpcesim"

cat >"$W/topology.toml" <<'TOML'
name = "attack"
[vpcs.main]
cidr = "10.0.0.0/16"
dns_hostnames = true
[subnets.app]
vpc = "main"
cidr = "10.0.1.0/24"
az = "us-east-1a"
[subnets.ep]
vpc = "main"
cidr = "10.0.10.0/24"
az = "us-east-1a"
[security_groups.web]
vpc = "main"
[security_groups.endpoint-sg]
vpc = "main"
ingress = [ { proto = "tcp", ports = 443, sg = "web" } ]
[instances.web-1]
subnet = "app"
ip = "10.0.1.10"
security_groups = ["web"]
[services.app]
id = "vpce-svc-0a1b2c3d4e5f60718"
az_ids = ["use1-az1"]
ports = [443, 9000]
backend = "echo"
[endpoints.app]
vpc = "main"
service = "app"
id = "vpce-0fe5b17a0707d6abc"
dns_suffix = "serve001"
subnets = ["ep"]
security_groups = ["endpoint-sg"]
TOML

# serve NOFILE [extra flags...]: starts `vpcesim serve` with every listener, waits for them.
serve() {
    local nofile="$1"; shift
    (ulimit -n "$nofile"; exec env RUST_LOG=info,hickory_server=warn "$VS" serve "$W/topology.toml" \
        --vpc main --dns "$H:$DNS" --api "$H:$API" \
        --forward "$H:$FWD_OPEN=web-1@$NAME:443" --forward "$H:$FWD_SHUT=web-1@$NAME:9000" \
        "$@") >>"$W/serve.log" 2>&1 &
    SERVE_PID=$!
    for p in $FWD_OPEN $FWD_SHUT $DNS $API; do
        for _ in $(seq 100); do ss -Hltn "sport = :$p" | grep -q "$H:$p" && break; sleep 0.1; done
    done
    kill -0 "$SERVE_PID" 2>/dev/null || { echo "serve did not start:" >&2; tail -5 "$W/serve.log" >&2; exit 1; }
    log "serve pid $SERVE_PID (ulimit -n $nofile) $*"
}
rss_mib() { awk -v k="$2" '$1 == k":" { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# Wall time of a DNS-over-TCP query for the endpoint's name, in ms, and its status.
dns_tcp() {
    local t0 t1 out
    t0=$(date +%s%N)
    out=$(dig +tcp +tries=1 +time=5 @"$H" -p "$DNS" "$NAME" A +noall +comments 2>&1 | grep -o 'status: [A-Z]*' || echo "status: TIMEOUT")
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000000 )) ms ($out)"
}
api_call() {
    curl -s -o /dev/null --max-time 5 -w '%{time_total}s (HTTP %{http_code})' \
        -d 'Action=DescribeVpcEndpoints&Version=2016-11-15' "http://$H:$API/" || echo " (failed)"
}

# The attacking clients, in Python; each mode is bounded in time.
cat >"$W/clients.py" <<'PY'
import errno, os, selectors, socket, sys, time

mode, port = sys.argv[1], int(sys.argv[2])
H = "127.0.0.1"

def flow_ms(port):
    """One new flow through the echo: connect, send, read it back; ms or 'failed'."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((H, port), timeout=5) as s:
            s.sendall(b"a new flow")
            got = b""
            while len(got) < 10:
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            return f"{(time.monotonic() - t0) * 1000:.0f} ms" if got == b"a new flow" else "failed"
    except OSError as e:
        return f"failed ({e})"

if mode == "nonreading":
    # N clients write as fast as the server takes it, and never read, for SECS seconds.
    n, secs = int(sys.argv[3]), float(sys.argv[4])
    chunk = b"x" * 65536
    socks = []
    for _ in range(n):
        s = socket.create_connection((H, port))
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE)
    sent, end = 0, time.monotonic() + secs
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            try:
                sent += key.fileobj.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                sel.unregister(key.fileobj)
    print(f"clients {n} sent {sent / 2**20:.0f} MiB in {secs:.0f} s, never read", flush=True)
    print("READY", flush=True)
    sys.stdin.readline()  # hold every connection until told
    print(f"new flow during the attack: {flow_ms(port)}", flush=True)
    print("DONE", flush=True)
    sys.stdin.readline()
elif mode == "held":
    # N connections to a dropped path, opened as fast as possible and kept.
    n = int(sys.argv[3])
    socks, failed = [], 0
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex((H, port))
        if err not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            continue
        socks.append(s)
    time.sleep(2)
    # Which ones the server closed (eviction, limits): a read that returns or fails.
    closed = 0
    for s in socks:
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(f"connections {n}: opened {len(socks)} in {time.monotonic() - t0:.1f} s, "
          f"failed {failed}, closed by the server {closed}, not closed (held, or still in the listen backlog) {len(socks) - closed}", flush=True)
    print("READY", flush=True)
    sys.stdin.readline()
elif mode == "flows":
    # N flows: three quarters finish, the rest stay live; then wait to be told.
    n = int(sys.argv[3])
    live = []
    done = n * 3 // 4
    for i in range(n):
        s = socket.create_connection((H, port), timeout=5)
        s.sendall(b"flow %d" % i)
        s.recv(64)
        if i < done:
            s.shutdown(socket.SHUT_WR)
            while s.recv(64):
                pass
            s.close()
        else:
            live.append(s)
    print(f"flows {n}: {done} finished, {len(live)} live", flush=True)
    print("READY", flush=True)
    sys.stdin.readline()
    ended = 0
    for s in live:
        s.settimeout(2)
        try:
            if s.recv(64) == b"":
                ended += 1
        except ConnectionResetError:
            ended += 1
        except OSError:
            pass
    print(f"live flows ended by the server: {ended} of {len(live)}", flush=True)
PY

# run_clients MODE PORT ARGS...: starts the clients on a pipe; waits for READY.
coproc_start() {
    coproc CL { python3 -u "$W/clients.py" "$@" 2>&1; }
    while IFS= read -r -t 120 line <&"${CL[0]}"; do
        [ "$line" = READY ] && return 0
        echo "  $line"
    done
    echo "the clients never got ready" >&2; exit 1
}
coproc_next() { # tells the clients to go on; prints until DONE or their end
    echo go >&"${CL[1]}"
    while IFS= read -r -t 60 line <&"${CL[0]}"; do
        [ "$line" = DONE ] && return 0
        echo "  $line"
    done
    return 0
}
coproc_stop() {
    local pid="${CL_PID:-}"
    [ -n "${CL[1]:-}" ] && eval "exec ${CL[1]}>&-"
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
}

echo "== 1. $CLIENTS clients that write and never read (in-process echo)"
serve 16384
echo "  RSS before: $(rss_mib "$SERVE_PID" VmRSS) MiB"
coproc_start nonreading "$FWD_OPEN" "$CLIENTS" "$HOLD_SECS"
echo "  RSS with them connected: $(rss_mib "$SERVE_PID" VmRSS) MiB (peak $(rss_mib "$SERVE_PID" VmHWM) MiB, limit 800)"
echo "  DNS over TCP during the attack: $(dns_tcp)"
coproc_next
coproc_stop
stop_serve

echo "== 2. $HELD connections to a dropped path, serve under ulimit -n 8192"
serve 8192
coproc_start held "$FWD_SHUT" "$HELD"
echo "  serve: $(fds "$SERVE_PID") descriptors open (limit 8192)"
echo "  DNS over TCP during the attack: $(dns_tcp)"
echo "  API call during the attack: $(api_call)"
coproc_next
coproc_stop
stop_serve

echo "== 3. SIGTERM after $FLOWS flows"
rm -f "$W/flows.log"
serve 16384 --flow-log "$W/flows.log"
coproc_start flows "$FWD_OPEN" "$FLOWS"
kill -TERM "$SERVE_PID"
status=0; wait "$SERVE_PID" || status=$?
SERVE_PID=""
echo "  exit status $status; flow log records: $(wc -l <"$W/flows.log") (want $FLOWS)"
coproc_next
coproc_stop
echo "  (the server's log: $W/serve.log)"
grep -E "summ|not logged one by one|refused|backing off" "$W/serve.log" | tail -5 | sed 's/^/  log: /' || true
