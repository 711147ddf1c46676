# src/ctl: redishappyctl, the operator's client (reads the API, converts the
# original redishappy's configuration). Links neither event nor Redis library.
noinst_LIBRARIES += src/ctl/libctl.a
src_ctl_libctl_a_CXXFLAGS = $(AM_CXXFLAGS) $(JANSSON_CFLAGS) $(LIBCURL_CFLAGS)
src_ctl_libctl_a_SOURCES = \
	%reldir%/ctl.cc %reldir%/ctl.h \
	%reldir%/convert.cc %reldir%/convert.h

# An operator's tool, not a daemon: bin, so it is on every user's PATH.
bin_PROGRAMS += src/redishappyctl
src_redishappyctl_SOURCES = %reldir%/redishappyctl.cc
src_redishappyctl_CXXFLAGS = $(AM_CXXFLAGS) $(JANSSON_CFLAGS) $(LIBCURL_CFLAGS)
src_redishappyctl_LDADD = src/ctl/libctl.a src/config/libconfig.a src/common/libcommon.a \
	$(JANSSON_LIBS) $(LIBCURL_LIBS) $(INIH_LIBS)
