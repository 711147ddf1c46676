#!/bin/sh
# Install layout: "make install", "make install-systemd", "make install-openrc"
# and "make uninstall" into a private DESTDIR, then check the installed tree,
# lint every man page with mandoc and verify the systemd unit.
# Needs RH_BUILDDIR (set by "make check"). Exit 77 = skipped.

set -u
B=${RH_BUILDDIR:?RH_BUILDDIR is not set}
T=$(mktemp -d "${TMPDIR:-/tmp}/rh-install.XXXXXX") || exit 99
D=$T/root
trap 'rm -rf "$T"' EXIT
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

# A sub-make must not inherit the jobserver of the "make check" running us.
submake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$B" "$@"
}

# The configured directories, fully expanded, from the build's Makefile.
dir() {
	printf 'rh-print-dir:\n\t@echo $(%s)\n' "$1" |
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$B" -f Makefile -f - rh-print-dir
}
sbindir=$(dir sbindir)
bindir=$(dir bindir)
sysconfdir=$(dir sysconfdir)
mandir=$(dir mandir)
docdir=$(dir docdir)
unitdir=$(dir systemdsystemunitdir)
sysusersdir=$(dir sysusersdir)
tmpfilesdir=$(dir tmpfilesdir)
openrcdir=$(dir openrcdir)
for v in "$sbindir" "$bindir" "$sysconfdir" "$mandir" "$docdir" "$unitdir" "$sysusersdir" \
	"$tmpfilesdir" "$openrcdir"; do
	case $v in
	/*) ;;
	*) echo "FAIL: could not read the install directories from $B/Makefile ('$v')"; exit 1 ;;
	esac
done

# A live configuration already in place must survive any install.
mkdir -p "$D$sysconfdir/redishappy"
echo "# live $$" >"$D$sysconfdir/redishappy.conf"
echo "# live template $$" >"$D$sysconfdir/redishappy/haproxy.cfg.mustache"

if ! submake install DESTDIR="$D" >"$T/install.log" 2>&1; then
	cat "$T/install.log"
	fail "make install DESTDIR=... failed"
	exit 1
fi
ok "make install"

check_file() { # path mode-test description
	if [ "$2" "$D$1" ]; then ok "$3: $1"; else fail "$3 missing: $1"; fi
}
check_file "$sbindir/redishappyd" -x "daemon"
check_file "$bindir/redishappyctl" -x "client"
check_file "$mandir/man8/redishappyctl.8" -f "man page"
check_file "$mandir/man8/redishappyd.8" -f "man page"
check_file "$mandir/man5/redishappy.conf.5" -f "man page"
check_file "$docdir/examples/redishappy.conf.sample" -f "sample configuration"
check_file "$docdir/examples/haproxy.cfg.mustache" -f "sample template"

version=$("$D$sbindir/redishappyd" -V 2>&1)
case $version in
"redishappyd "[0-9]*) ok "installed binary runs: $version" ;;
*) fail "installed redishappyd -V printed '$version'" ;;
esac

version=$("$D$bindir/redishappyctl" -V 2>&1)
case $version in
"redishappyctl "[0-9]*) ok "installed client runs: $version" ;;
*) fail "installed redishappyctl -V printed '$version'" ;;
esac

grep -q "^# live $$\$" "$D$sysconfdir/redishappy.conf" ||
	fail "make install changed the live $sysconfdir/redishappy.conf"
grep -q "^# live template $$\$" "$D$sysconfdir/redishappy/haproxy.cfg.mustache" ||
	fail "make install changed the live template"

# Every installed man page lints clean at warning level.
if command -v mandoc >/dev/null 2>&1; then
	pages=$(find "$D$mandir" -type f)
	[ -n "$pages" ] || fail "no man pages installed under $mandir"
	for p in $pages; do
		out=$(mandoc -T lint -W warning "$p" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			fail "mandoc -T lint -W warning ${p#"$D"} (exit $rc):"
			printf '%s\n' "$out"
		else
			ok "mandoc lint clean: ${p#"$D"}"
		fi
	done
else
	echo "SKIP: mandoc not installed, man pages not linted"
fi

# The sample configuration is accepted by the parser the daemon runs. The
# environment checks (user, directories) are relaxed by pointing the paths
# into the private tree and running the check as the current user.
sample=$T/sample.conf
mkdir -p "$T/etc-haproxy"
cp "$D$docdir/examples/haproxy.cfg.mustache" "$T/template.mustache"
sed -e "s|^template = .*|template = $T/template.mustache|" \
	-e "s|^output = .*|output = $T/etc-haproxy/haproxy.cfg|" \
	-e "s|^#state_file = .*|state_file = $T/state.json|" \
	-e "s|^#chroot = .*|chroot =|" \
	-e "s|^user = .*|user = $(id -un)|" \
	"$D$docdir/examples/redishappy.conf.sample" >"$sample"
if out=$("$D$sbindir/redishappyd" -n -f "$sample" 2>&1); then
	ok "sample configuration and template pass redishappyd -n"
else
	fail "redishappyd -n rejects the installed sample:"
	printf '%s\n' "$out"
fi

# Service files, opt-in.
if ! submake install-systemd install-openrc DESTDIR="$D" >"$T/rc.log" 2>&1; then
	cat "$T/rc.log"
	fail "make install-systemd install-openrc failed"
else
	ok "make install-systemd install-openrc"
fi
unit=$D$unitdir/redishappyd.service
check_file "$unitdir/redishappyd.service" -f "systemd unit"
check_file "$sysusersdir/redishappyd.conf" -f "sysusers.d entry"
check_file "$tmpfilesdir/redishappyd.conf" -f "tmpfiles.d entry"
check_file "$openrcdir/redishappyd" -x "OpenRC script"
for f in "$unit" "$D$openrcdir/redishappyd"; do
	[ -f "$f" ] || continue
	if grep -n '@[a-z_]*@' "$f"; then
		fail "unsubstituted @variable@ left in ${f#"$D"}"
	fi
done
grep -q "^ExecStart=$sbindir/redishappyd -d\$" "$unit" ||
	fail "unit's ExecStart is not '$sbindir/redishappyd -d'"
grep -q "^command=\"$sbindir/redishappyd\"\$" "$D$openrcdir/redishappyd" ||
	fail "OpenRC command is not '$sbindir/redishappyd'"
if sh -n "$D$openrcdir/redishappyd"; then ok "OpenRC script parses"; else fail "OpenRC script: sh -n"; fi
grep -q '^u redishappy ' "$D$sysusersdir/redishappyd.conf" || fail "sysusers: no user redishappy"
grep -q '^d /var/lib/redishappy 0755 root root' "$D$tmpfilesdir/redishappyd.conf" ||
	fail "tmpfiles: /var/lib/redishappy is not root:root 0755"

# systemd-analyze verify checks that ExecStart* programs exist and that the
# Documentation= pages open with man(1): point both at the private tree (a
# copy of the unit whose daemon path carries the DESTDIR prefix, and MANPATH).
if command -v systemd-analyze >/dev/null 2>&1 && [ -f "$unit" ]; then
	mkdir -p "$T/verify"
	sed "s|=$sbindir/|=$D$sbindir/|" "$unit" >"$T/verify/redishappyd.service"
	out=$(MANPATH="$D$mandir" systemd-analyze verify "$T/verify/redishappyd.service" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		fail "systemd-analyze verify (exit $rc):"
		printf '%s\n' "$out"
	else
		ok "systemd-analyze verify clean"
	fi
else
	echo "SKIP: systemd-analyze not installed, unit not verified"
fi

# Uninstall removes what was installed and nothing else.
if ! submake uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1; then
	cat "$T/uninstall.log"
	fail "make uninstall failed"
fi
left=$(find "$D" -type f ! -path "$D$sysconfdir/redishappy.conf" \
	! -path "$D$sysconfdir/redishappy/haproxy.cfg.mustache")
if [ -n "$left" ]; then
	fail "files left after make uninstall:"
	printf '%s\n' "$left"
else
	ok "make uninstall removed every installed file"
fi
grep -q "^# live $$\$" "$D$sysconfdir/redishappy.conf" ||
	fail "make uninstall removed or changed the live configuration"

if [ $failures -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all install checks passed"
exit 0
