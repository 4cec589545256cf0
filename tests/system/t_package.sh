#!/usr/bin/env bash
# t_package: sluice as a system package (issue "Ship it as a system daemon"): cmake --install into a DESTDIR
# gives the expected file list; the systemd units pass systemd-analyze verify; the .deb built by cpack has the
# right dependencies and contents, installs with dpkg -i, works (sluice --version, genkey), and dpkg -r leaves
# nothing behind; the man pages render without warnings.
set -euo pipefail
: "${SLUICE_SRC:?}"
WORK=$(mktemp -d /tmp/sluice-pkg.XXXXXX)
installed=0
cleanup() {
	local rc=$?
	set +e
	[ "$installed" -eq 1 ] && dpkg -r sluice >/dev/null 2>&1
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*" >&2; }
dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q "install ok installed" &&
	fail "a sluice package is already installed on this machine; not touching it"

# --- a /usr build, installed into a DESTDIR
cmake -S "$SLUICE_SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	-DSLUICE_TESTS=OFF >/dev/null
cmake --build "$WORK/build" -j"$(nproc)" >/dev/null
DESTDIR="$WORK/dest" cmake --install "$WORK/build" >/dev/null
(cd "$WORK/dest" && find . -type f | sort) > "$WORK/files"
cat > "$WORK/want" <<'LIST'
./usr/bin/sluice
./usr/lib/systemd/system/sluice-killswitch@.service
./usr/lib/systemd/system/sluiced@.service
./usr/sbin/sluiced
./usr/share/bash-completion/completions/sluice
./usr/share/doc/sluice/examples/gw0.conf
./usr/share/doc/sluice/examples/sl0.conf
./usr/share/man/man5/sluice.conf.5
./usr/share/man/man8/sluice.8
./usr/share/man/man8/sluiced.8
LIST
diff -u "$WORK/want" "$WORK/files" || fail "installed file list differs"
[ -d "$WORK/dest/etc/sluice" ] || fail "/etc/sluice not created"
grep -q "ExecStart=/usr/sbin/sluiced -f -c /etc/sluice/%i.conf" "$WORK/dest/usr/lib/systemd/system/sluiced@.service" ||
	fail "unit does not point at the installed daemon"
ok "cmake --install: $(wc -l < "$WORK/files") files where they belong"

# --- man pages
for m in sluiced.8 sluice.8 sluice.conf.5; do
	out=$(MANWIDTH=80 man --warnings -l "$SLUICE_SRC/docs/$m" 2>&1 >/dev/null)
	[ -z "$out" ] || fail "man $m: $out"
done
ok "man pages render without warnings"

# --- the .deb
(cd "$WORK/build" && cpack -G DEB >/dev/null) || fail "cpack failed"
deb=$(ls "$WORK"/build/sluice_*.deb)
dpkg-deb -I "$deb" > "$WORK/info"
for d in libssl3 libmnl0 libnftnl11 libnl-3-200 libnl-route-3-200 libsystemd0 libc-ares2; do
	grep -E "^ Depends:.*\b$d\b" "$WORK/info" >/dev/null || fail "Depends lacks $d"
done
dpkg-deb -c "$deb" | awk '{print $6}' > "$WORK/contents"
for f in ./usr/sbin/sluiced ./usr/bin/sluice ./usr/lib/systemd/system/sluiced@.service ./usr/share/man/man8/sluiced.8; do
	grep -qx "$f" "$WORK/contents" || fail ".deb lacks $f"
done
ok ".deb: dependencies and contents"

# --- install, use, verify the units, remove
dpkg -i "$deb" >/dev/null || fail "dpkg -i failed"
installed=1
/usr/bin/sluice --version | grep -q "^sluice " || fail "sluice --version"
/usr/bin/sluice genkey > "$WORK/k" && [ "$(wc -c < "$WORK/k")" -eq 45 ] || fail "sluice genkey"
[ "$(stat -c %a "$WORK/k")" = 600 ] || fail "genkey output not mode 0600"
/usr/sbin/sluiced -V | grep -q "^sluiced " || fail "sluiced -V"
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$WORK/units"
	cp /usr/lib/systemd/system/sluiced@.service "$WORK/units/sluiced@sl0.service"
	cp /usr/lib/systemd/system/sluice-killswitch@.service "$WORK/units/sluice-killswitch@sl0.service"
	out=$(cd "$WORK/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		./sluiced@sl0.service ./sluice-killswitch@sl0.service 2>&1 |
		grep -v -e "Failed to prepare filename" -e "Unit .* not found" -e "ConditionPathExists" || true)
	[ -z "$out" ] || fail "systemd-analyze verify: $out"
	ok "units pass systemd-analyze verify"
else
	fail "systemd-analyze missing (scripts/deps --test installs systemd)"
fi
dpkg -r sluice >/dev/null || fail "dpkg -r failed"
installed=0
for f in /usr/sbin/sluiced /usr/bin/sluice /usr/lib/systemd/system/sluiced@.service /etc/sluice /var/lib/sluice; do
	[ ! -e "$f" ] || fail "$f left after dpkg -r"
done
ok "dpkg -i / use / dpkg -r leaves nothing"
echo "t_package: all checks passed"
