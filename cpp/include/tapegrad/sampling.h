// Batch sampling for training loops: row indices drawn in C++, the same for a given seed on every
// platform (a fixed generator, not std::uniform_int_distribution, whose output is
// implementation-defined), so a compiled training loop and an eager one see the same batches.
#pragma once
#include <cstdint>
#include <vector>

namespace tg {

// steps x batch row indices in [0, n), drawn uniformly with replacement (the seed notebook's
// random_batch), row-major. n must be > 0.
std::vector<std::int64_t> random_batch_indices(std::int64_t n, std::int64_t steps, std::int64_t batch,
                                               std::uint64_t seed);

}  // namespace tg
