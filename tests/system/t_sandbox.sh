#!/usr/bin/env bash
# t_sandbox: the sandbox of sluiced@.service, and proof that it takes no feature away. (t_package also boots the
# installed package under systemd-nspawn and runs both modes through the unit; this test looks closer:)
#   1. systemd-analyze security --offline=yes rates the unit as installed: exposure <= 2.5 (the figure is
#      printed and kept in $SLUICE_BUILD/sandbox-exposure.txt with the full table); both units pass
#      systemd-analyze verify;
#   2. a gateway and a kill-switch client with pushed DNS run under strace in network namespaces through
#      what they do in service: start-up, authentication, traffic, `sluice show`, a /metrics scrape, a
#      rekey, a reload, the config check ExecReload runs, SIGTERM, the DNS restore ExecStopPost runs. Every
#      system call they made must pass the unit's SystemCallFilter (expanded with systemd-analyze
#      syscall-filter), every file they wrote must be writable in the unit, and every device they opened must
#      exist in its private /dev. (The file DNS backend is what runs here; not resolvconf or systemd-resolved.)
# Uses an unsanitised build (ASan's runtime makes calls of its own): SLUICE_PLAIN_BUILD, or one made here.
. "$(dirname "$0")/../netns/lib.sh"
for t in systemd-analyze strace python3 curl; do
	command -v "$t" >/dev/null || fail "$t missing (scripts/deps --test)"
done
UNIT=$SLUICE_BUILD/dist/sluiced@.service
MAX_EXPOSURE=2.5

# --- 1. the score, and verify
mkdir "$WORK/units"
cp "$UNIT" "$WORK/units/sluiced@.service"
(cd "$WORK/units" && systemd-analyze security --offline=yes --no-pager ./sluiced@.service) \
	> "$WORK/security.out" 2>&1 ||
	{ cat "$WORK/security.out"; fail "systemd-analyze security"; }
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' "$WORK/security.out")
[ -n "$exposure" ] || { cat "$WORK/security.out"; fail "no exposure level in the analysis"; }
cp "$WORK/security.out" "$SLUICE_BUILD/sandbox-exposure.txt"
grep -v '^✓' "$WORK/security.out" | sed 's/^/    /' >&2
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' || fail "exposure $exposure > $MAX_EXPOSURE"
ok "systemd-analyze security --offline=yes: exposure $exposure (at most $MAX_EXPOSURE)"
# verify needs the binaries the units name: point them at the build
for u in sluiced@ sluice-killswitch@; do
	sed -e "s|/[^ ]*/sbin/sluiced|$SLUICED|g" -e "s|/[^ ]*/bin/sluice |$SLUICE |g" \
		"$SLUICE_BUILD/dist/$u.service" > "$WORK/units/${u}sl0.service"
done
out=$(cd "$WORK/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no ./sluiced@sl0.service \
	./sluice-killswitch@sl0.service 2>&1 | grep -v -e "ConditionPathExists" -e "Unit .* not found" || true)
[ -z "$out" ] || fail "systemd-analyze verify: $out"
ok "both units pass systemd-analyze verify"

# --- 2. what the daemon does, against what the unit allows
if [ -n "${SLUICE_PLAIN_BUILD:-}" ] && [ -x "$SLUICE_PLAIN_BUILD/daemon/sluiced" ]; then
	PLAIN=$SLUICE_PLAIN_BUILD
else
	log "building an unsanitised sluiced (no SLUICE_PLAIN_BUILD)"
	cmake -S "$SLUICE_SRC" -B "$WORK/plain" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TESTS=OFF >/dev/null
	cmake --build "$WORK/plain" -j"$(nproc)" --target sluiced sluice >/dev/null
	PLAIN=$WORK/plain
fi
GW=sbg$TAG; CL=sbc$TAG
topo_up
in_g sysctl -qw net.ipv4.ip_forward=0 # the gateway raises it (and restores it at exit)
gw_conf "$GW" "DNS = 198.19.0.2" "MetricsListen = 127.0.0.1:9586"
add_client "$GW" laptop "$CL"
cl_conf "$CL" "$GW" "KillSwitch = on"
traced() { # NS IFACE: sluiced under strace, every thread, in the background
	ip netns exec "$1" strace -f -qq -y -o "$WORK/$2.trace" "$PLAIN/daemon/sluiced" -f -c "$WORK/$2.conf" \
		>> "$WORK/$2.log" 2>&1 &
	PIDS+=("$!")
	IFACES+=("$2")
	wait_for 20 "$SLUICE" show -r "$2" || fail "sluiced $2 did not come up under strace"
}
daemon_pid() { pgrep -f -x "$PLAIN/daemon/sluiced -f -c $WORK/$1.conf" | head -n 1; }
traced "$NS_G" "$GW"
traced "$NS_C" "$CL"
wait_for 30 session_up "$CL" || fail "no session under strace"
in_c ping -c 5 -i 0.1 -W 2 $I_IP >/dev/null || fail "no traffic under strace"
"$SLUICE" show "$GW" >/dev/null && "$SLUICE" show -j "$CL" >/dev/null || fail "sluice show"
in_g curl -sS --max-time 2 -o /dev/null http://127.0.0.1:9586/metrics || fail "GET /metrics under strace"
h0=$(stat "$CL" handshakes_ok)
kill -USR1 "$(daemon_pid "$CL")"
wait_for 20 stat_cmp "$CL" handshakes_ok -gt "$h0" || fail "no rekey under strace"
ip netns exec "$NS_G" strace -f -qq -y -o "$WORK/check.trace" "$PLAIN/daemon/sluiced" -t -c "$WORK/$GW.conf" >/dev/null ||
	fail "sluiced -t"
kill -HUP "$(daemon_pid "$GW")"
in_c ping -c 3 -i 0.1 -W 2 $I_IP >/dev/null || fail "no traffic after the reload"
for ifc in "$CL" "$GW"; do
	pid=$(daemon_pid "$ifc")
	kill "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || fail "$ifc did not stop"
done
# what the unit's ExecStopPost runs after the client
ip netns exec "$NS_C" strace -f -qq -y -o "$WORK/restore.trace" "$PLAIN/daemon/cli/sluice" dns restore "$CL" \
	-c "$WORK/$CL.conf" >/dev/null || fail "sluice dns restore"
ip netns exec "$NS_C" "$SLUICE" killswitch off >/dev/null
for f in "$WORK/$GW.trace" "$WORK/$CL.trace" "$WORK/check.trace" "$WORK/restore.trace"; do
	grep -q 'exit_group\|+++ exited' "$f" || fail "$f: the trace did not end with the daemon"
done

# The unit's SystemCallFilter lines, in order (the first decides allow-list or deny-list), expanded with
# systemd-analyze; what it leaves writable (ReadWritePaths, RuntimeDirectory, StateDirectory: the test's
# StateDir stands for /var/lib/sluice); the devices of its private /dev plus what it binds in. Then the calls,
# written paths and opened devices of the traces against them.
python3 - "$UNIT" "$WORK/state:$WORK/state-$CL" "$WORK/$GW.trace" "$WORK/$CL.trace" "$WORK/check.trace" \
	"$WORK/restore.trace" <<'PY' ||
import re, subprocess, sys

def expand(name):
    if not name.startswith('@'):
        return {name}
    out = set()
    text = subprocess.run(['systemd-analyze', 'syscall-filter', name], capture_output=True, text=True,
                          check=True).stdout
    for line in text.splitlines()[1:]:
        item = line.strip()
        if item and not item.startswith('#'):
            out |= expand(item)
    return out

unit = {}
for line in open(sys.argv[1]):
    if '=' in line and not line.startswith('#'):
        key, val = line.rstrip('\n').split('=', 1)
        unit.setdefault(key, []).append(val)

allowed, allow_list = set(), None
for line in unit.get('SystemCallFilter', []):
    words = line.split()
    deny = words[0].startswith('~')
    if deny:
        words[0] = words[0][1:]
    names = set().union(*(expand(w) for w in words))
    if allow_list is None:
        allow_list = not deny
        assert allow_list, 'the unit must use an allow-list'
    if deny:
        allowed -= names
    else:
        allowed |= names

assert unit.get('ProtectSystem') == ['strict'], 'the check assumes ProtectSystem=strict'
writable = [p.lstrip('-') for v in unit.get('ReadWritePaths', []) for p in v.split()]
writable += ['/run/' + d for v in unit.get('RuntimeDirectory', []) for d in v.split()]
writable += [d for v in unit.get('StateDirectory', []) for d in sys.argv[2].split(':')]
assert unit.get('PrivateDevices') == ['yes'], 'the check assumes PrivateDevices=yes'
devices = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx',
           '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/hugepages', '/dev/log', '/dev/stdin', '/dev/stdout',
           '/dev/stderr', '/dev/fd']
devices += [p.lstrip('-') for v in unit.get('BindPaths', []) for p in v.split() if p.lstrip('-').startswith('/dev/')]
writable += devices

def under(path, roots):
    return any(path == r or path.startswith(r.rstrip('/') + '/') for r in roots)

# strace -y: an fd argument is "N<path>", so a path relative to a directory fd can be made whole
FD = r'(?:AT_FDCWD|\d+)(?:<(?P<dir>[^>]*)>)?'
call_re = re.compile(r'^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]')
open_re = re.compile(r'^\d+\s+(?:open|openat|creat)\((?:' + FD + r', )?"(?P<path>[^"]*)", (?P<flags>[A-Z_|0-9]+)')
path_re = re.compile(r'^\d+\s+(?P<call>mkdir|mkdirat|unlink|unlinkat|rename|renameat2?|rmdir|truncate|symlink|link|'
                     r'chmod|fchmodat|bind)\((?:' + FD + r', )?\{?(?:sa_family=AF_UNIX, sun_path=)?"(?P<path>[^"]*)"')
rename_re = re.compile(r'^\d+\s+renameat2?\(' + FD + r', "[^"]*", ' + FD.replace('dir', 'dir2') + r', "(?P<to>[^"]*)"')

def whole(m, key='path', dirkey='dir'):
    path, d = m.group(key), m.group(dirkey)
    return path if path.startswith('/') or not d else d.rstrip('/') + '/' + path

bad, used, written = [], set(), set()
for trace in sys.argv[3:]:
    for line in open(trace):
        m = call_re.match(line)
        if m:
            used.add(m.group(1))
        if re.match(r'^\d+\s+(open|openat|creat)\(', line) and not open_re.match(line):
            bad.append(f'{trace}: cannot read {line.strip()}')
        m = open_re.match(line)
        if m:
            path = whole(m)
            if path.startswith('/dev/') and not under(path, devices):
                bad.append(f'{trace}: opens {path}, not in the private /dev')
            if re.search(r'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC', m.group('flags')):
                written.add(path)
        m = path_re.match(line)
        if m and (m.group('call') != 'bind' or m.group('path').startswith('/') or m.group('dir')):
            written.add(whole(m))
        m = rename_re.match(line)
        if m:
            written.add(whole(m, 'to', 'dir2'))
for path in sorted(written):
    if not under(path, writable):
        bad.append(f'writes {path}: read-only in the unit')
for call in sorted(used - allowed):
    bad.append(f'system call {call}: not allowed by SystemCallFilter')
for b in bad:
    print(b)
if not bad:
    print(f'{len(used)} distinct system calls: {" ".join(sorted(used))}', file=sys.stderr)
    print(f'wrote {" ".join(sorted(written))}', file=sys.stderr)
sys.exit(1 if bad else 0)
PY
	fail "the sandbox would take a feature away (above)"
ok "every system call, written file and device of a gateway, a kill-switch client, a config check and a DNS" \
	"restore is allowed"
echo "t_sandbox: all checks passed"
