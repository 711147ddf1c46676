# src/engine: unprivileged and chrooted; the only code that talks to the
# network. libcurl (curl_lib.h), OpenSSL and bufferevent_openssl (tls_lib.h)
# are dlopen()ed: their headers, not their libraries.
noinst_LIBRARIES += src/engine/libengine.a
src_engine_libengine_a_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(HIREDIS_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBCURL_CFLAGS) $(LIBSECCOMP_CFLAGS) $(OPENSSL_CFLAGS)
src_engine_libengine_a_SOURCES = \
	%reldir%/api.cc %reldir%/api.h \
	%reldir%/cluster.cc %reldir%/cluster.h \
	%reldir%/api_json.cc %reldir%/api_json.h \
	%reldir%/confirm.cc %reldir%/confirm.h \
	%reldir%/consul.cc %reldir%/consul.h \
	%reldir%/consul_json.cc %reldir%/consul_json.h \
	%reldir%/curl_lib.cc %reldir%/curl_lib.h %reldir%/dynlib.h \
	%reldir%/decide.cc %reldir%/decide.h \
	%reldir%/engine.cc %reldir%/engine.h %reldir%/engine_work.cc \
	%reldir%/events.cc %reldir%/events.h \
	%reldir%/fence.cc %reldir%/fence.h \
	%reldir%/json_writer.cc %reldir%/json_writer.h \
	%reldir%/privsep.cc %reldir%/privsep.h \
	%reldir%/replicas.cc %reldir%/replicas.h \
	%reldir%/redis_async.cc %reldir%/redis_async.h \
	%reldir%/resolver.cc %reldir%/resolver.h \
	%reldir%/sandbox.cc %reldir%/sandbox.h \
	%reldir%/sentinel.cc %reldir%/sentinel.h \
	%reldir%/sentinel_proto.cc %reldir%/sentinel_proto.h \
	%reldir%/tls.cc %reldir%/tls.h \
	%reldir%/tls_lib.cc %reldir%/tls_lib.h \
	%reldir%/topology.cc %reldir%/topology.h
ENGINE_LIBS = src/engine/libengine.a src/common/libcommon.a \
	$(LIBEVENT_LIBS) $(HIREDIS_LIBS) $(JANSSON_LIBS) $(LIBSECCOMP_LIBS)
