// A small persistent thread pool for the CPU backend's parallel loops.
#pragma once
#include <functional>

namespace qb::cpu {
// Runs fn(begin, end) over [0, n) split into contiguous chunks across the pool's threads.
// Work below min_per_thread items per thread runs inline.
void parallel_for(long n, long min_per_thread, const std::function<void(long, long)>& fn);
}  // namespace qb::cpu
