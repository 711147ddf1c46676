# src/parent: runs as root. Links no hiredis, evhttp or libcurl symbol.
noinst_LIBRARIES += src/parent/libparent.a
src_parent_libparent_a_CXXFLAGS = $(AM_CXXFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
src_parent_libparent_a_SOURCES = \
	%reldir%/applier.cc %reldir%/applier.h \
	%reldir%/chroot.cc %reldir%/chroot.h \
	%reldir%/cluster_index.cc %reldir%/cluster_index.h \
	%reldir%/command.cc %reldir%/command.h \
	%reldir%/engine_check.cc %reldir%/engine_check.h \
	%reldir%/fence.cc %reldir%/fence.h \
	%reldir%/haproxy.cc %reldir%/haproxy.h \
	%reldir%/notify.cc %reldir%/notify.h \
	%reldir%/outfile.cc %reldir%/outfile.h \
	%reldir%/output.cc %reldir%/output.h \
	%reldir%/parent.cc %reldir%/parent.h \
	%reldir%/process.cc %reldir%/process.h \
	%reldir%/procstat.cc %reldir%/procstat.h \
	%reldir%/runtime.cc %reldir%/runtime.h \
	%reldir%/statefile.cc %reldir%/statefile.h \
	%reldir%/supervisor.cc %reldir%/supervisor.h
PARENT_LIBS = src/parent/libparent.a src/config/libconfig.a src/common/libcommon.a \
	$(LIBEVENT_CORE_LIBS) $(JANSSON_LIBS) $(INIH_LIBS)
