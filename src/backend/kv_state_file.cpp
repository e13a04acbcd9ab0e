// Envelope layout (little-endian):
//   "SLTKVST\0" | u32 format version | u32 reserved | 32-byte model fingerprint
//   | u64 n_tokens | i32 tokens[n] | u64 payload size | payload
//   | 32-byte SHA-256 of everything before it
// The checksum comes last so a writer can stream, and a torn write (crash in
// the middle) is caught as a short or mismatching trailer.
#include <cstring>

#include "sleeptime/hash.h"
#include "sleeptime/kv_state.h"

namespace sleeptime {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'T', 'K', 'V', 'S', 'T', '\0'};
constexpr size_t kDigestSize = 32;

template <typename T>
void Append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
bool Read(std::string_view blob, size_t& pos, T& value) {
  if (blob.size() - pos < sizeof(T)) return false;
  std::memcpy(&value, blob.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}

Sha256::Digest FingerprintDigest(const std::string& fingerprint) {
  // Fingerprints are hex digests; hashing keeps any string acceptable.
  Sha256 h;
  h.Update(fingerprint);
  return h.Finish();
}

}  // namespace

std::string KvStateKey(const std::string& model_fingerprint, const std::vector<int32_t>& tokens) {
  Sha256 h;
  h.Update(tokens.data(), tokens.size() * sizeof(int32_t));
  std::string token_hash = ToHex(h.Finish());
  return model_fingerprint.substr(0, 16) + "-" + token_hash.substr(0, 32);
}

std::string EncodeKvState(const std::string& model_fingerprint, const std::vector<int32_t>& tokens,
                          std::string_view payload) {
  std::string out;
  out.reserve(sizeof(kMagic) + 8 + kDigestSize + 8 + tokens.size() * 4 + 8 + payload.size() + kDigestSize);
  out.append(kMagic, sizeof(kMagic));
  Append<uint32_t>(out, kKvStateFormatVersion);
  Append<uint32_t>(out, 0);
  auto fp = FingerprintDigest(model_fingerprint);
  out.append(reinterpret_cast<const char*>(fp.data()), fp.size());
  Append<uint64_t>(out, tokens.size());
  out.append(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(int32_t));
  Append<uint64_t>(out, payload.size());
  out.append(payload);
  Sha256 h;
  h.Update(out);
  auto sum = h.Finish();
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

Result<std::string_view> DecodeKvState(std::string_view blob, const std::string& model_fingerprint,
                                       const std::vector<int32_t>& tokens, bool verify_checksum) {
  size_t pos = 0;
  // magic, version, reserved, fingerprint, n_tokens, payload size, checksum
  constexpr size_t kMinSize = sizeof(kMagic) + 8 + kDigestSize + 8 + 8 + kDigestSize;
  if (blob.size() < kMinSize) return Status::Corruption("KV state truncated");
  if (std::memcmp(blob.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("not a sleeptime KV-state file (bad magic)");
  }
  pos += sizeof(kMagic);
  uint32_t version = 0, reserved = 0;
  if (!Read(blob, pos, version) || !Read(blob, pos, reserved))
    return Status::Corruption("KV state truncated");
  if (version != kKvStateFormatVersion) {
    return Status::FailedPrecondition("KV state format version " + std::to_string(version) + ", expected " +
                                      std::to_string(kKvStateFormatVersion));
  }
  // Verify the checksum before trusting any length field beyond this point.
  std::string_view body = blob.substr(0, blob.size() - kDigestSize);
  if (verify_checksum) {
    Sha256 h;
    h.Update(body);
    auto sum = h.Finish();
    if (std::memcmp(sum.data(), blob.data() + body.size(), kDigestSize) != 0) {
      return Status::Corruption("KV state checksum mismatch (file damaged or truncated)");
    }
  }
  if (body.size() - pos < kDigestSize) return Status::Corruption("KV state truncated");
  auto fp = FingerprintDigest(model_fingerprint);
  if (std::memcmp(fp.data(), body.data() + pos, kDigestSize) != 0) {
    return Status::FailedPrecondition("KV state belongs to another model");
  }
  pos += kDigestSize;
  uint64_t n_tokens = 0;
  if (!Read(body, pos, n_tokens) || (body.size() - pos) / sizeof(int32_t) < n_tokens) {
    return Status::Corruption("KV state truncated in token list");
  }
  if (n_tokens != tokens.size() ||
      std::memcmp(body.data() + pos, tokens.data(), tokens.size() * sizeof(int32_t)) != 0) {
    return Status::FailedPrecondition("KV state holds another prefix (" + std::to_string(n_tokens) +
                                      " tokens, expected " + std::to_string(tokens.size()) + ")");
  }
  pos += n_tokens * sizeof(int32_t);
  uint64_t payload_size = 0;
  if (!Read(body, pos, payload_size) || body.size() - pos != payload_size) {
    return Status::Corruption("KV state payload size mismatch");
  }
  return body.substr(pos, payload_size);
}

}  // namespace sleeptime
