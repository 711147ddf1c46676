# Unit tests (cmocka): pure logic, no process started, no socket but a
# socketpair. tests/unit/FOLDER/test_MODULE.cc tests src/FOLDER/MODULE.cc and
# links only src/FOLDER's library and the ones it may use.
if HAVE_CMOCKA

UNIT_TESTS += tests/unit/common/test_address
tests_unit_common_test_address_SOURCES = %reldir%/common/test_address.cc tests/cmocka.h
tests_unit_common_test_address_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_address_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/common/test_proto
tests_unit_common_test_proto_SOURCES = %reldir%/common/test_proto.cc tests/cmocka.h
tests_unit_common_test_proto_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_proto_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/common/test_channel
tests_unit_common_test_channel_SOURCES = %reldir%/common/test_channel.cc tests/cmocka.h
tests_unit_common_test_channel_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_channel_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/common/test_file
tests_unit_common_test_file_SOURCES = %reldir%/common/test_file.cc tests/cmocka.h
tests_unit_common_test_file_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_file_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/common/test_backoff
tests_unit_common_test_backoff_SOURCES = %reldir%/common/test_backoff.cc tests/cmocka.h
tests_unit_common_test_backoff_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_backoff_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/common/test_log
tests_unit_common_test_log_SOURCES = %reldir%/common/test_log.cc tests/cmocka.h
tests_unit_common_test_log_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_log_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/common/test_validate
tests_unit_common_test_validate_SOURCES = %reldir%/common/test_validate.cc tests/cmocka.h
tests_unit_common_test_validate_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_common_test_validate_LDADD = $(COMMON_LIBS) $(CMOCKA_LIBS)

UNIT_TESTS += tests/unit/parent/test_engine_check
tests_unit_parent_test_engine_check_SOURCES = %reldir%/parent/test_engine_check.cc tests/cmocka.h
tests_unit_parent_test_engine_check_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_engine_check_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_haproxy
tests_unit_parent_test_haproxy_SOURCES = %reldir%/parent/test_haproxy.cc tests/cmocka.h
tests_unit_parent_test_haproxy_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_haproxy_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_runtime
tests_unit_parent_test_runtime_SOURCES = %reldir%/parent/test_runtime.cc tests/cmocka.h
tests_unit_parent_test_runtime_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_runtime_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_procstat
tests_unit_parent_test_procstat_SOURCES = %reldir%/parent/test_procstat.cc tests/cmocka.h
tests_unit_parent_test_procstat_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_procstat_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_statefile
tests_unit_parent_test_statefile_SOURCES = %reldir%/parent/test_statefile.cc tests/cmocka.h
tests_unit_parent_test_statefile_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_statefile_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_notify
tests_unit_parent_test_notify_SOURCES = %reldir%/parent/test_notify.cc tests/cmocka.h
tests_unit_parent_test_notify_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_notify_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_output
tests_unit_parent_test_output_SOURCES = %reldir%/parent/test_output.cc tests/cmocka.h
tests_unit_parent_test_output_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_output_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_outfile
tests_unit_parent_test_outfile_SOURCES = %reldir%/parent/test_outfile.cc tests/cmocka.h
tests_unit_parent_test_outfile_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_outfile_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/parent/test_process
tests_unit_parent_test_process_SOURCES = %reldir%/parent/test_process.cc tests/cmocka.h
tests_unit_parent_test_process_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_parent_test_process_LDADD = $(PARENT_LIBS) $(CMOCKA_LIBS)

UNIT_TESTS += tests/unit/engine/test_topology
tests_unit_engine_test_topology_SOURCES = %reldir%/engine/test_topology.cc tests/cmocka.h
tests_unit_engine_test_topology_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) $(LIBCURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_engine_test_topology_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/engine/test_decide
tests_unit_engine_test_decide_SOURCES = %reldir%/engine/test_decide.cc tests/cmocka.h
tests_unit_engine_test_decide_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) $(LIBCURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_engine_test_decide_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/engine/test_sentinel_proto
tests_unit_engine_test_sentinel_proto_SOURCES = %reldir%/engine/test_sentinel_proto.cc tests/cmocka.h
tests_unit_engine_test_sentinel_proto_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) $(LIBCURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_engine_test_sentinel_proto_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/engine/test_redis_async
tests_unit_engine_test_redis_async_SOURCES = %reldir%/engine/test_redis_async.cc tests/cmocka.h
tests_unit_engine_test_redis_async_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) $(LIBCURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_engine_test_redis_async_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/engine/test_api_json
tests_unit_engine_test_api_json_SOURCES = %reldir%/engine/test_api_json.cc tests/cmocka.h
tests_unit_engine_test_api_json_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) $(LIBCURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_engine_test_api_json_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/engine/test_consul_json
tests_unit_engine_test_consul_json_SOURCES = %reldir%/engine/test_consul_json.cc tests/cmocka.h
tests_unit_engine_test_consul_json_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) $(LIBCURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_engine_test_consul_json_LDADD = $(ENGINE_LIBS) $(CMOCKA_LIBS)

UNIT_TESTS += tests/unit/config/test_config
tests_unit_config_test_config_SOURCES = %reldir%/config/test_config.cc tests/cmocka.h
tests_unit_config_test_config_CXXFLAGS = $(AM_CXXFLAGS)  $(CMOCKA_CFLAGS)
tests_unit_config_test_config_LDADD = $(CONFIG_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/config/test_engine_settings
tests_unit_config_test_engine_settings_SOURCES = %reldir%/config/test_engine_settings.cc tests/cmocka.h
tests_unit_config_test_engine_settings_CXXFLAGS = $(AM_CXXFLAGS)  $(CMOCKA_CFLAGS)
tests_unit_config_test_engine_settings_LDADD = $(CONFIG_LIBS) $(CMOCKA_LIBS)

UNIT_TESTS += tests/unit/ctl/test_ctl
tests_unit_ctl_test_ctl_SOURCES = %reldir%/ctl/test_ctl.cc tests/cmocka.h
tests_unit_ctl_test_ctl_CXXFLAGS = $(AM_CXXFLAGS) $(JANSSON_CFLAGS) $(CMOCKA_CFLAGS)
# A contract test: it reads what the engine's API writes, so it links both.
tests_unit_ctl_test_ctl_LDADD = src/ctl/libctl.a $(CONFIG_LIBS) $(ENGINE_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/ctl/test_convert
tests_unit_ctl_test_convert_SOURCES = %reldir%/ctl/test_convert.cc tests/cmocka.h
tests_unit_ctl_test_convert_CXXFLAGS = $(AM_CXXFLAGS) $(JANSSON_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_ctl_test_convert_LDADD = src/ctl/libctl.a $(CONFIG_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
endif
check_PROGRAMS += $(UNIT_TESTS)
EXTRA_DIST += tests/data/original
