#pragma once

#include <string>

#include "sleeptime/status.h"

namespace sleeptime {

// Identifies a model file and the KV layout states are saved with.
// `kv_layout` names whatever besides the weights shapes the state bytes
// (cache types, flash attention).
Result<std::string> ComputeModelFingerprint(const std::string& model_path, const std::string& kv_layout);

}  // namespace sleeptime
