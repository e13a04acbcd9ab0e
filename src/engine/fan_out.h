// FanOut: runs n independent tasks (the k candidates of a sleep) on up to
// `max_threads` threads and returns their results in task order, so the
// outcome does not depend on which thread finished first.
//
// The calling thread works too; the others install the caller's YieldScope,
// so fanned-out background work keeps yielding to live requests. After a
// task fails no further task starts (those running finish); the first
// failure in task order is returned. Thread-safe if `task` is.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime {

Result<std::vector<std::string>> FanOut(int n, int max_threads,
                                        const std::function<Result<std::string>(int index)>& task);

}  // namespace sleeptime
