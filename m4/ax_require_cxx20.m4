# AX_REQUIRE_CXX20: add -std=c++20 and check the compiler accepts it.
AC_DEFUN([AX_REQUIRE_CXX20], [
  AC_MSG_CHECKING([whether $CXX supports -std=c++20])
  rh_save_CXXFLAGS="$CXXFLAGS"
  CXXFLAGS="$CXXFLAGS -std=c++20"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <span>
#include <compare>
struct P { int a; auto operator<=>(const P&) const = default; };]], [[std::span<int> s; (void)s;]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([a C++20 compiler is required (g++ 12 or clang 14)])])
])
