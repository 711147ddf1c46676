# src/common: what both processes use. No Redis, HTTP or curl here.
noinst_LIBRARIES += src/common/libcommon.a
src_common_libcommon_a_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS)
src_common_libcommon_a_SOURCES = \
	%reldir%/address.cc %reldir%/address.h \
	%reldir%/backoff.cc %reldir%/backoff.h \
	%reldir%/channel.cc %reldir%/channel.h \
	%reldir%/evutil.h \
	%reldir%/file.cc %reldir%/file.h \
	%reldir%/heap.cc %reldir%/heap.h \
	%reldir%/log.cc %reldir%/log.h \
	%reldir%/master.h \
	%reldir%/proto.cc %reldir%/proto.h \
	%reldir%/validate.cc %reldir%/validate.h
COMMON_LIBS = src/common/libcommon.a $(LIBEVENT_CORE_LIBS)
