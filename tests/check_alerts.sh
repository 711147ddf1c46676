#!/bin/sh
# contrib/prometheus/alerts.yml is valid (promtool check rules) and each
# alert fires, and stays quiet, on the series of alerts_test.yml (promtool
# test rules). promtool comes with Debian's "prometheus" package; without it
# this check fails rather than skips, so shipped rules are never untested.
# Run by "make check" (RH_SRCDIR).
set -u
dir=${RH_SRCDIR:-.}/contrib/prometheus
promtool=${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}
if [ ! -x "$promtool" ]; then
    echo "FAIL: promtool not found; install the Debian package prometheus"
    exit 1
fi
bad=0
"$promtool" check rules "$dir/alerts.yml" || bad=1
# Rule files in the test are relative to the test file's directory.
"$promtool" test rules "$dir/alerts_test.yml" || bad=1
exit $bad
