// release_free_heap: malloc_trim where glibc provides it.
#include "common/heap.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rh {

void release_free_heap() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

} // namespace rh
