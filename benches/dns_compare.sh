#!/usr/bin/env bash
# Side by side: vpcesim vs NSD vs Knot DNS serving the same zone content, on loopback.
#
# Generates one topology (ENDPOINTS endpoints in AZS AZs over VPCS VPCs), derives the
# peers' zone files from it with `vpcesim zone` (the public view), builds a dnsperf query
# mix from those zones (70% A on existing names, 20% AAAA on existing names = NODATA,
# 10% nonexistent names = NXDOMAIN), starts all three servers (one worker thread each,
# pinned to CPU 1; dnsperf pinned to CPU 0), checks that they give the same answers, then
# runs RUNS rounds of DUR seconds, each round measuring every server in turn, and prints
# medians and the ratios vpcesim / the faster peer (queries per second, and queries per
# second of the server's own CPU time).
#
# Needs (Debian): dnsperf nsd knot bind9-dnsutils, and python3, taskset. It installs
# nothing: it says what is missing and stops. Loopback only; every run is bounded by -l;
# every server is stopped by the PID this script started.
#
# Knobs: ENDPOINTS [2000] VPCS [40] AZS [3] RUNS [3] DUR [10] DNSPERF ["-c 4 -T 1 -q 200"]
#        PIN [1] WORK [${TMPDIR:-/tmp}/vpcesim-dns-compare] VPCESIM [target/release/vpcesim]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENDPOINTS=${ENDPOINTS:-2000} VPCS=${VPCS:-40} AZS=${AZS:-3}
RUNS=${RUNS:-3} DUR=${DUR:-10} DNSPERF=${DNSPERF:-"-c 4 -T 1 -q 200"} PIN=${PIN:-1}
WORK=${WORK:-${TMPDIR:-/tmp}/vpcesim-dns-compare}
VPCESIM=${VPCESIM:-$ROOT/target/release/vpcesim}
declare -A PORT=([vpcesim]=5400 [nsd]=5401 [knot]=5402)
SERVERS="vpcesim nsd knot"

log() { echo "[$(date +%T)] $*" >&2; }

missing=()
for tool in dnsperf nsd knotd dig python3 taskset; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}" >&2
  echo "install them with: apt-get install -y dnsperf nsd knot bind9-dnsutils python3 util-linux" >&2
  exit 2
fi
if [ ! -x "$VPCESIM" ] || [ -n "${BUILD:-}" ]; then
  log "building vpcesim (release)"
  cargo build --release --quiet
fi

rm -rf "$WORK"; mkdir -p "$WORK/zones" "$WORK/run"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT

# ------------------------------------------------------------------ data
log "topology: $ENDPOINTS endpoints, $AZS AZs, $VPCS VPCs"
"$VPCESIM" services > "$WORK/services.txt"
python3 - "$WORK" "$ENDPOINTS" "$VPCS" "$AZS" <<'PY'
import random, sys
work, n, vpcs, azs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
services = [l.split()[0] for l in open(f"{work}/services.txt") if l.startswith("com.amazonaws.")]
rnd = random.Random(42)
per = -(-n // vpcs)
letters = "abcdef"[:azs]
out = ['name = "dns-compare"', 'region = "us-east-1"', ""]
made = 0
for v in range(vpcs):
    out += [f"[vpcs.v{v}]", f'cidr = "10.{v}.0.0/16"', "dns_hostnames = true", ""]
    for i, l in enumerate(letters):
        out += [f"[subnets.v{v}{l}]", f'vpc = "v{v}"', f'cidr = "10.{v}.{i * 16}.0/20"', f'az = "us-east-1{l}"', ""]
    offset = rnd.randrange(len(services))
    for e in range(per):
        if made == n:
            break
        svc = services[(offset + e) % len(services)]
        subnets = sorted(rnd.sample(letters, rnd.choice([2, 3]) if azs >= 3 else azs))
        out += [f"[endpoints.e{made}]", f'vpc = "v{v}"', f'service = "{svc}"',
                "subnets = [" + ", ".join(f'"v{v}{s}"' for s in subnets) + "]", ""]
        made += 1
open(f"{work}/topology.toml", "w").write("\n".join(out))
PY
"$VPCESIM" check "$WORK/topology.toml" >/dev/null
"$VPCESIM" zone "$WORK/topology.toml" --out "$WORK/zones" > "$WORK/zone-files.txt"
ZONES=$(sed 's|.*/||; s|\.zone$||' "$WORK/zone-files.txt")
log "$(wc -l < "$WORK/zone-files.txt") zone files, $(cat "$WORK"/zones/*.zone | grep -c ' IN A ') A records"
python3 - "$WORK" <<'PY'
import glob, random, string, sys
work = sys.argv[1]
rnd = random.Random(7)
names, zones = [], []
for path in sorted(glob.glob(f"{work}/zones/*.zone")):
    zone = path.rsplit("/", 1)[1][:-5]
    zones.append(zone)
    seen = set()
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[3] == "A":
            owner = f[0].rstrip(".")
            if owner.startswith("*."):
                owner = "x" + "".join(rnd.choice(string.ascii_lowercase) for _ in range(6)) + owner[1:]
            if owner not in seen:
                seen.add(owner); names.append(owner)
vzone = [z for z in zones if z.endswith("vpce.amazonaws.com")][0]
services = sorted({n.split(".", 1)[1] for n in names if n.startswith("vpce-")})
others = [z for z in zones if z != vzone]
with open(f"{work}/queries.txt", "w") as q:
    for _ in range(200000):
        r = rnd.random()
        if r < 0.70:
            q.write(f"{rnd.choice(names)} A\n")
        elif r < 0.90:
            q.write(f"{rnd.choice(names)} AAAA\n")
        elif r < 0.95:
            vid = "vpce-" + "".join(rnd.choice("0123456789abcdef") for _ in range(17))
            sfx = "".join(rnd.choice(string.ascii_lowercase + string.digits) for _ in range(8))
            q.write(f"{vid}-{sfx}.{rnd.choice(services)} A\n")
        else:
            q.write("nosuch" + "".join(rnd.choice(string.ascii_lowercase) for _ in range(6)) + f".{rnd.choice(others)} A\n")
with open(f"{work}/sample.txt", "w") as s:
    for n in rnd.sample(names, 30):
        s.write(n + "\n")
PY

# ------------------------------------------------------------------ servers
start_vpcesim() {
  "$VPCESIM" serve "$WORK/topology.toml" --dns "127.0.0.1:${PORT[vpcesim]}" >"$WORK/run/vpcesim.log" 2>&1 &
  SPID=$!
}
start_nsd() {
  local d=$WORK/run/nsd; mkdir -p "$d"
  { cat <<CONF
server:
  ip-address: 127.0.0.1@${PORT[nsd]}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$WORK/zones"
  pidfile: "$d/nsd.pid"
  xfrdfile: "$d/xfrd.state"
  zonelistfile: "$d/zone.list"
  logfile: "$d/nsd.log"
  verbosity: 0
  hide-version: yes
  minimal-responses: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
CONF
    for z in $ZONES; do printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z"; done; } > "$d/nsd.conf"
  nsd -d -c "$d/nsd.conf" >"$d/out.log" 2>&1 &
  SPID=$!
}
start_knot() {
  local d=$WORK/run/knot; mkdir -p "$d"
  { cat <<CONF
server:
  listen: 127.0.0.1@${PORT[knot]}
  rundir: "$d"
  pidfile: "$d/knot.pid"
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$d/db"
control:
  listen: "$d/knot.sock"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$WORK/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
CONF
    for z in $ZONES; do echo "  - domain: $z"; done; } > "$d/knot.conf"
  knotd -c "$d/knot.conf" >"$d/out.log" 2>&1 &
  SPID=$!
}
descendants_of() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants_of "$c"; done; }
cpu_ticks() {  # utime+stime of PID, its threads and descendants
  local s=0 p
  for p in $1 $(descendants_of "$1"); do
    [ -r "/proc/$p/stat" ] && s=$((s + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12+$13}')))
  done
  echo $s
}
stop_pid() {
  local pid=$1 q kids; kids=$(descendants_of "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for q in $pid $kids; do
    for _ in $(seq 1 50); do kill -0 "$q" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$q" 2>/dev/null && kill -KILL "$q" 2>/dev/null || true
  done
  wait "$pid" 2>/dev/null || true
}
dq() { dig +time=1 +tries=1 -p "$1" @127.0.0.1 "${@:2}"; }
declare -A SPIDS
for s in $SERVERS; do
  "start_$s"; SPIDS[$s]=$SPID; PIDS+=("$SPID")
  ok=0
  for _ in $(seq 1 100); do
    dq "${PORT[$s]}" +short SOA us-east-1.vpce.amazonaws.com 2>/dev/null | grep -q awsdns && { ok=1; break; }
    sleep 0.2
  done
  [ $ok = 1 ] || { log "$s did not come up; see $WORK/run"; exit 1; }
  if [ "$PIN" = 1 ]; then
    for q in $SPID $(descendants_of "$SPID"); do taskset -a -p -c 1 "$q" >/dev/null; done
  fi
  log "$s up on 127.0.0.1:${PORT[$s]} (pid $SPID)"
done

# Same answers from all three (sorted address sets and rcodes) on a sample.
bad=0
while read -r name; do
  for t in A AAAA; do
    want=$(dq "${PORT[nsd]}" "$name" $t +noall +answer +comments | awk '/status:/{print $6} /IN\t/{print $NF}' | sort | xargs)
    for s in vpcesim knot; do
      got=$(dq "${PORT[$s]}" "$name" $t +noall +answer +comments | awk '/status:/{print $6} /IN\t/{print $NF}' | sort | xargs)
      [ "$got" = "$want" ] || { log "DIFF $s $name $t: '$got' vs nsd '$want'"; bad=1; }
    done
  done
done < "$WORK/sample.txt"
for probe in "nosuchname.us-east-1.vpce.amazonaws.com" "www.example.com"; do
  want=$(dq "${PORT[nsd]}" "$probe" A | awk '/status:/{print $6}')
  for s in vpcesim knot; do
    got=$(dq "${PORT[$s]}" "$probe" A | awk '/status:/{print $6}')
    [ "$got" = "$want" ] || { log "DIFF $s $probe: $got vs nsd $want"; bad=1; }
  done
done
[ $bad = 0 ] && log "answers agree on $(wc -l < "$WORK/sample.txt") names x {A,AAAA} and 2 probes" || log "WARNING: answers differ (see above)"

# ------------------------------------------------------------------ measure
PERFPIN=""; [ "$PIN" = 1 ] && PERFPIN="taskset -c 0"
CLK=$(getconf CLK_TCK)
: > "$WORK/results.tsv"
for s in $SERVERS; do $PERFPIN dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$WORK/queries.txt" $DNSPERF -l 3 >/dev/null 2>&1 || true; done
for r in $(seq 1 "$RUNS"); do
  for s in $SERVERS; do
    out="$WORK/run/dnsperf-$s-$r.txt"
    c0=$(cpu_ticks "${SPIDS[$s]}")
    $PERFPIN dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$WORK/queries.txt" $DNSPERF -l "$DUR" >"$out" 2>&1 || true
    c1=$(cpu_ticks "${SPIDS[$s]}")
    qps=$(awk '/Queries per second/{print $4}' "$out")
    lost=$(awk '/Queries lost/{print $3}' "$out")
    sent=$(awk '/Queries sent/{print $3}' "$out")
    rsz=$(awk '/Average packet size/{print $7}' "$out")
    cpu=$(awk -v a="$c0" -v b="$c1" -v k="$CLK" -v d="$DUR" 'BEGIN{printf "%.1f", 100*(b-a)/k/d}')
    log "run $r $s: qps=$qps lost=$lost/$sent server_cpu=${cpu}% resp_bytes=$rsz"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$r" "$qps" "$cpu" "$lost" "$sent" >> "$WORK/results.tsv"
  done
done

echo
echo "dnsperf -d queries.txt $DNSPERF -l $DUR, $RUNS rounds, medians; $ENDPOINTS endpoints x $AZS AZs, $VPCS VPCs"
awk -F'\t' '
  function med(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j+1] = a[j]; a[j+1] = x }
                               return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  { n[$1]++; q[$1, n[$1]] = $3; c[$1, n[$1]] = $4; e[$1, n[$1]] = ($4 > 0 ? $3 / ($4 / 100) : 0); lost[$1] += $5; sent[$1] += $6 }
  END {
    printf "| server | median QPS | median server CPU %% | QPS per CPU-second | lost / sent |\n|---|---|---|---|---|\n"
    split("vpcesim nsd knot", order, " ")
    for (k = 1; k <= 3; k++) { s = order[k]; m = n[s]
      for (i = 1; i <= m; i++) { qq[i] = q[s, i]; cc[i] = c[s, i]; ee[i] = e[s, i] }
      Q[s] = med(qq, m); C[s] = med(cc, m); E[s] = med(ee, m)
      printf "| %s | %.0f | %.1f | %.0f | %d / %d |\n", s, Q[s], C[s], E[s], lost[s], sent[s] }
    bq = (Q["nsd"] > Q["knot"]) ? Q["nsd"] : Q["knot"]; be = (E["nsd"] > E["knot"]) ? E["nsd"] : E["knot"]
    printf "\nratio vpcesim / faster peer: QPS %.3f, QPS per CPU-second %.3f\n", Q["vpcesim"] / bq, E["vpcesim"] / be
    printf "target (>= 1.0 both, no lost queries): %s\n", (Q["vpcesim"] >= bq && E["vpcesim"] >= be && lost["vpcesim"] == 0) ? "MET" : "NOT MET"
  }' "$WORK/results.tsv"
