# Integration tests: they start real processes (redis-server, redis-sentinel,
# haproxy, the daemon, commands, a fake Consul) on loopback, with free ports
# and private directories, and stop what they started by PID.
INTEGRATION_TESTS += %reldir%/test_harness.py %reldir%/test_daemon.py \
	%reldir%/test_engine.py %reldir%/test_haproxy.py %reldir%/test_consul.py \
	%reldir%/test_ctl.py %reldir%/test_notify.py %reldir%/test_install.sh \
	%reldir%/test_sandbox.py %reldir%/test_secrets.py %reldir%/test_contain.py \
	%reldir%/test_rename.py %reldir%/test_hostile.py %reldir%/test_metrics.py %reldir%/test_consul_fence.py \
	%reldir%/test_dns.py %reldir%/test_replicas.py %reldir%/test_partition.py \
	%reldir%/test_tls.py
EXTRA_DIST += %reldir%/rhtest.py %reldir%/rhdaemon.py %reldir%/fake_consul.py \
	%reldir%/test_harness.py %reldir%/test_daemon.py %reldir%/test_engine.py \
	%reldir%/test_haproxy.py %reldir%/test_consul.py %reldir%/test_ctl.py \
	%reldir%/test_notify.py %reldir%/test_install.sh %reldir%/test_sandbox.py \
	%reldir%/test_secrets.py %reldir%/test_contain.py %reldir%/test_rename.py \
	%reldir%/test_hostile.py %reldir%/test_metrics.py %reldir%/test_consul_fence.py \
	%reldir%/test_dns.py %reldir%/fakedns.py %reldir%/test_replicas.py \
	%reldir%/test_partition.py %reldir%/test_tls.py

# C++ programs that drive one module against real processes.
INTEGRATION_BINS = %reldir%/test_sentinel_link
%canon_reldir%_test_sentinel_link_SOURCES = %reldir%/test_sentinel_link.cc
%canon_reldir%_test_sentinel_link_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS)
%canon_reldir%_test_sentinel_link_LDADD = $(ENGINE_LIBS)
if HAVE_CMOCKA
INTEGRATION_BINS += %reldir%/test_command %reldir%/test_applier %reldir%/test_consul_live \
	%reldir%/test_api_http %reldir%/test_seccomp
%canon_reldir%_test_seccomp_SOURCES = %reldir%/test_seccomp.cc tests/cmocka.h
%canon_reldir%_test_seccomp_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
%canon_reldir%_test_seccomp_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS) -lpthread
%canon_reldir%_test_command_SOURCES = %reldir%/test_command.cc tests/cmocka.h
%canon_reldir%_test_command_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
%canon_reldir%_test_command_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
%canon_reldir%_test_applier_SOURCES = %reldir%/test_applier.cc tests/cmocka.h
%canon_reldir%_test_applier_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS) \
	-DHAPROXY_BIN='"$(HAPROXY)"'
%canon_reldir%_test_applier_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
%canon_reldir%_test_consul_live_SOURCES = %reldir%/test_consul_live.cc tests/cmocka.h
%canon_reldir%_test_consul_live_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(LIBCURL_CFLAGS) \
	$(CMOCKA_CFLAGS)
# It also makes its own requests to the fake with libcurl.
%canon_reldir%_test_consul_live_LDADD = $(ENGINE_LIBS) $(LIBCURL_LIBS) $(CMOCKA_LIBS)
%canon_reldir%_test_api_http_SOURCES = %reldir%/test_api_http.cc tests/cmocka.h
%canon_reldir%_test_api_http_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
%canon_reldir%_test_api_http_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS) -lpthread
endif
# A stand-in engine against the real parent (plain checks, no cmocka).
INTEGRATION_BINS += %reldir%/test_engine_guard
%canon_reldir%_test_engine_guard_SOURCES = %reldir%/test_engine_guard.cc
%canon_reldir%_test_engine_guard_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS)
# The stand-in engine enters the engine's real sandbox (engine/sandbox.h).
%canon_reldir%_test_engine_guard_LDADD = $(PARENT_LIBS) $(ENGINE_LIBS)
check_PROGRAMS += $(INTEGRATION_BINS)
INTEGRATION_TESTS += $(INTEGRATION_BINS)

# Not an integration test, but a check of the tree itself (no process started).
INTEGRATION_TESTS += tests/check_layering.sh
EXTRA_DIST += tests/check_layering.sh tests/cmocka.h
# The shipped Prometheus alert rules, checked and unit-tested with promtool.
INTEGRATION_TESTS += tests/check_alerts.sh
EXTRA_DIST += tests/check_alerts.sh contrib/prometheus/alerts.yml \
	contrib/prometheus/alerts_test.yml
