#include "common/random.h"

#include <cmath>

namespace sleeptime {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void FillGaussian(std::mt19937_64& rng, float std_dev, float* out, int64_t n) {
  constexpr double kScale = 0x1.0p-31;
  int64_t i = 0;
  while (i < n) {
    double u, v, s;
    do {
      const uint64_t x = rng();
      u = static_cast<double>(static_cast<uint32_t>(x >> 32)) * kScale - 1.0;
      v = static_cast<double>(static_cast<uint32_t>(x)) * kScale - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s) * std_dev;
    out[i++] = static_cast<float>(u * m);
    if (i < n) out[i++] = static_cast<float>(v * m);
  }
}

}  // namespace sleeptime
