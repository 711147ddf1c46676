# src/config: reading and checking redishappy.conf (run by the parent and by
# redishappyctl -f), and the one mapping of a Config to what the engine gets.
noinst_LIBRARIES += src/config/libconfig.a
src_config_libconfig_a_CXXFLAGS = $(AM_CXXFLAGS) $(INIH_CFLAGS)
src_config_libconfig_a_SOURCES = \
	%reldir%/config.cc %reldir%/config.h \
	%reldir%/engine_settings.cc %reldir%/engine_settings.h \
	%reldir%/environment.cc \
	%reldir%/ini.cc %reldir%/ini.h \
	%reldir%/interpret.cc %reldir%/interpret.h
CONFIG_LIBS = src/config/libconfig.a src/common/libcommon.a $(INIH_LIBS)
