#!/usr/bin/env bash
# t_package: sluice as a Debian package, the way an administrator meets it. debian/ builds with
# `dpkg-buildpackage -us -uc -b` from a copy of the tree; lintian reports no error and no warning (an override
# only with a one-line reason above it); the package's fields (library dependencies from the binaries, an
# extended description, a real maintainer address) and contents (stripped binaries, compressed man pages,
# examples under /usr/share/doc/sluice/examples, /etc/sluice 0700, nothing under /usr/local) are right; the man
# pages render without warnings. Then package_root.sh installs, upgrades over itself, removes and purges it in a
# clean root of its own and checks what remains after each step (the installed units pass systemd-analyze verify
# there), and package_boot.sh boots another clean root with the package under systemd (systemd-nspawn) and runs
# a gateway and a client through their units, sandbox and all.
set -euo pipefail
: "${SLUICE_SRC:?}"
WORK=$(mktemp -d /tmp/sluice-pkg.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*" >&2; }
for t in dpkg-buildpackage dh lintian systemd-analyze systemd-nspawn man file unshare; do
	command -v "$t" >/dev/null || fail "$t missing (scripts/deps --test installs it)"
done

# --- build from a copy of the tree (dpkg-buildpackage writes into debian/ and next to the tree)
mkdir "$WORK/src"
if git -C "$SLUICE_SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$SLUICE_SRC" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$WORK/src"
else
	tar -C "$SLUICE_SRC" --exclude='./build*' -cf - . | tar -xf - -C "$WORK/src"
fi
(cd "$WORK/src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") > "$WORK/build.log" 2>&1 ||
	{ tail -n 40 "$WORK/build.log"; fail "dpkg-buildpackage -us -uc -b"; }
version=$(cd "$WORK/src" && dpkg-parsechangelog -S Version)
cmake_version=$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' "$SLUICE_SRC/CMakeLists.txt")
[ "${version%%-*}" = "$cmake_version" ] || fail "debian/changelog $version, CMakeLists.txt $cmake_version"
deb=$WORK/sluice_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || fail "no $deb"
ok "dpkg-buildpackage: $(basename "$deb")"

# --- lintian: no error, no warning; every override says why on the line above it
lintian --fail-on error,warning "$WORK"/sluice_"${version}"_*.changes > "$WORK/lintian.log" 2>&1 ||
	{ cat "$WORK/lintian.log"; fail "lintian"; }
! grep -E '^[EW]: ' "$WORK/lintian.log" || fail "lintian reported the above"
for o in "$SLUICE_SRC"/debian/*lintian-overrides; do
	[ -e "$o" ] || continue
	awk '/^#/ {why = 1; next} /^[[:space:]]*$/ {why = 0; next} !why {print FILENAME ": no reason above: " $0; bad = 1}
	     {why = 0} END {exit bad}' "$o" || fail "lintian override without a reason"
done
ok "lintian: no error, no warning"

# --- fields and contents
dpkg-deb -f "$deb" Depends > "$WORK/depends"
for d in libc6 libssl3 libmnl0 libnftnl11 libc-ares2 libcurl4 libjson-c5; do
	grep -Eq "(^|, )$d \(>= [^)]+\)" "$WORK/depends" || fail "Depends lacks a versioned $d: $(cat "$WORK/depends")"
done
[ "$(dpkg-deb -f "$deb" Description | wc -l)" -ge 5 ] || fail "no extended description"
dpkg-deb -f "$deb" Maintainer | grep -vq 'localhost' || fail "placeholder maintainer"
dpkg-deb -c "$deb" | awk '{print $1, substr($6, 2)}' | sed 's|/$||' | grep -v ' $' | sort -k2 > "$WORK/contents"
cat > "$WORK/want" <<'LIST'
drwx------ /etc/sluice
-rw-r--r-- /lib/systemd/system/sluice-killswitch@.service
-rw-r--r-- /lib/systemd/system/sluiced@.service
-rwxr-xr-x /usr/bin/sluice
-rwxr-xr-x /usr/sbin/sluiced
-rw-r--r-- /usr/share/bash-completion/completions/sluice
-rw-r--r-- /usr/share/doc/sluice/changelog.gz
-rw-r--r-- /usr/share/doc/sluice/copyright
-rw-r--r-- /usr/share/doc/sluice/examples/gw0.conf
-rw-r--r-- /usr/share/doc/sluice/examples/sl0.conf
-rw-r--r-- /usr/share/lintian/overrides/sluice
-rw-r--r-- /usr/share/man/man5/sluice.conf.5.gz
-rw-r--r-- /usr/share/man/man8/sluice.8.gz
-rw-r--r-- /usr/share/man/man8/sluiced.8.gz
LIST
grep -v '^d' "$WORK/contents" | cat - <(grep ' /etc/sluice$' "$WORK/contents") | sort -k2 | diff -u "$WORK/want" - ||
	fail "package contents differ"
mkdir "$WORK/x"
dpkg-deb -x "$deb" "$WORK/x"
for b in usr/sbin/sluiced usr/bin/sluice; do
	file -b "$WORK/x/$b" | grep -q ', stripped' || fail "$b not stripped: $(file -b "$WORK/x/$b")"
done
ok "fields (shlibs Depends: $(cat "$WORK/depends")) and contents"

# --- man pages as installed
for m in "$WORK"/x/usr/share/man/man*/*.gz; do
	out=$(MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)
	[ -z "$out" ] || fail "man $(basename "$m"): $out"
done
ok "man pages render without warnings"

# --- install, upgrade, remove, purge in a clean root of its own
unshare --mount --pid --fork --net --uts --ipc -- bash "$SLUICE_SRC/tests/system/package_root.sh" "$deb" "$WORK"

# --- the installed units under a real systemd: a clean root with the package, booted by systemd-nspawn
unshare --mount --pid --fork --mount-proc -- bash "$SLUICE_SRC/tests/system/package_boot.sh" "$deb" "$WORK" ||
	{ [ -f "$WORK/probe.out" ] && cat "$WORK/probe.out"; exit 1; }
echo "t_package: all checks passed"
