#include "backend/model_fingerprint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "sleeptime/hash.h"

namespace sleeptime {
namespace {
// Hashing a multi-gigabyte file at every start would dominate start-up; the
// header (all metadata: shapes, tokenizer, names) plus samples of the data
// identify a GGUF well enough to key caches with. Files up to 2 windows are
// hashed whole.
constexpr std::streamoff kWindow = 16 << 20;
}  // namespace

Result<std::string> ComputeModelFingerprint(const std::string& model_path, const std::string& kv_layout) {
  std::error_code ec;
  auto size = std::filesystem::file_size(model_path, ec);
  if (ec) return Status::IoError("cannot stat model file " + model_path + ": " + ec.message());
  std::ifstream in(model_path, std::ios::binary);
  if (!in) return Status::IoError("cannot read model file " + model_path);
  Sha256 h;
  h.Update("sleeptime-model-v1|" + std::to_string(size) + "|" + kv_layout + "|");
  std::vector<char> buf(1 << 20);
  auto hash_range = [&](std::streamoff from, std::streamoff len) -> bool {
    in.seekg(from);
    while (len > 0) {
      std::streamoff n = std::min<std::streamoff>(len, static_cast<std::streamoff>(buf.size()));
      if (!in.read(buf.data(), n)) return false;
      h.Update(buf.data(), static_cast<size_t>(n));
      len -= n;
    }
    return true;
  };
  auto total = static_cast<std::streamoff>(size);
  bool ok = total <= 2 * kWindow ? hash_range(0, total)
                                 : hash_range(0, kWindow) && hash_range(total / 2, kWindow / 4) &&
                                       hash_range(total - kWindow, kWindow);
  if (!ok) return Status::IoError("short read from model file " + model_path);
  return ToHex(h.Finish());
}

}  // namespace sleeptime
