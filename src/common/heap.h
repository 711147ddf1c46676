// Giving freed heap memory back to the kernel.
//
// glibc's malloc keeps what a burst of work freed (parsing a SENTINEL MASTERS
// reply for 1,000 clusters, 1,000 ROLE connections at once, rebuilding the
// API view, rendering a large template): the pages stay resident, fragmented
// among live allocations, long after the burst. Each process calls this once
// its work has been quiet for a moment (see kTrimAfterQuiet); it costs a walk
// of the free lists and an madvise per free run of pages.
#pragma once

#include <chrono>

namespace rh {

inline constexpr std::chrono::seconds kTrimAfterQuiet{1};

// Returns every whole free page of the heap to the kernel; a no-op where the
// C library offers no way to do so.
void release_free_heap();

} // namespace rh
