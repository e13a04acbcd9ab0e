// SHA-256, used for context content hashes, KV-state checksums and model
// fingerprints. Stateless functions plus an incremental hasher; a Sha256
// object is not thread-safe, the free functions are.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sleeptime {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  Digest Finish();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string ToHex(const Sha256::Digest& digest);
std::string Sha256Hex(std::string_view data);

}  // namespace sleeptime
