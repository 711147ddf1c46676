# Benchmarks (bench/README). Not part of "make check"; api_demo is built with
# the tests so bench/api_bench finds it in any build tree.
check_PROGRAMS += bench/api_demo
bench_api_demo_SOURCES = %reldir%/api_demo.cc
bench_api_demo_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS)
bench_api_demo_LDADD = $(ENGINE_LIBS)
check_PROGRAMS += bench/events_size
bench_events_size_SOURCES = %reldir%/events_size.cc
bench_events_size_CXXFLAGS = $(AM_CXXFLAGS) $(JANSSON_CFLAGS)
bench_events_size_LDADD = $(ENGINE_LIBS)
check_PROGRAMS += bench/role_timing
bench_role_timing_SOURCES = %reldir%/role_timing.cc
bench_role_timing_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS)
bench_role_timing_LDADD = $(ENGINE_LIBS)
EXTRA_DIST += %reldir%/README %reldir%/run-all %reldir%/failover.py %reldir%/scale.py \
	%reldir%/api_bench %reldir%/soak.py %reldir%/daemonlog.py %reldir%/table.py \
	%reldir%/partition.py %reldir%/tls_cost.py %reldir%/fake_farm_compare.py
check_PROGRAMS += bench/fake_farm
bench_fake_farm_SOURCES = %reldir%/fake_farm.cc
bench_fake_farm_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CORE_CFLAGS)
bench_fake_farm_LDADD = $(LIBEVENT_CORE_LIBS)
check_PROGRAMS += bench/probe
bench_probe_SOURCES = %reldir%/probe.cc
check_PROGRAMS += bench/decider_size
bench_decider_size_SOURCES = %reldir%/decider_size.cc
bench_decider_size_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS)
bench_decider_size_LDADD = $(ENGINE_LIBS)
