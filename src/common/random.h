// Reproducible randomness for weights: the same numbers on every platform and
// standard library (std::normal_distribution's algorithm is
// implementation-defined; these are not). Stateless functions, thread-safe.
#pragma once

#include <cstdint>
#include <random>

namespace sleeptime {

// One step of splitmix64: a well-mixed 64-bit function of x, for deriving seeds.
uint64_t SplitMix64(uint64_t x);

// n standard-normal samples times std_dev, by Marsaglia's polar method: two
// per accepted pair of 32-bit uniforms taken from one 64-bit draw.
void FillGaussian(std::mt19937_64& rng, float std_dev, float* out, int64_t n);

}  // namespace sleeptime
