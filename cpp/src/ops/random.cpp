// Stateful random ops: values drawn from a RandomStream (tapegrad/random.h) at every call. A
// trace records them as stateful instructions (never folded, never merged), so a compiled
// training step draws a new dropout mask at every replay, as an eager step does. The masks are
// constants to the tapes: a layer multiplies by one with the ordinary multiply op, whose VJP then
// reads the mask of that very step.
#include <cmath>
#include <string>

#include "common.h"
#include "tapegrad/random.h"

namespace tg {

// ---- dropout_mask: 1 / (1 - rate) where a uniform draw is >= rate, else 0; no inputs, no
// gradient.  attrs.scalar: the rate; attrs.stream: where the draws come from.
static const OpDef kDropoutMask{"dropout_mask", nullptr,
                                [](const std::vector<Tensor>&, const Node& n) {
                                  return dropout_mask(n.out_dtype, n.out_shape, n.attrs.scalar,
                                                      n.attrs.stream);
                                },
                                nullptr, /*stateful=*/true};
Tensor dropout_mask(DType dtype, const Shape& shape, double rate,
                    const std::shared_ptr<RandomStream>& stream) {
  if (!(rate >= 0.0 && rate < 1.0))
    throw ValueError("dropout: rate must be in [0, 1), got " + std::to_string(rate));
  if (!stream) throw ValueError("dropout: no random stream");
  Tensor u = random_uniform(dtype, shape, 0.0, 1.0, stream->next_key());
  Tensor mask = Tensor::empty(dtype, shape);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T keep_scale = static_cast<T>(1.0 / (1.0 - rate)), threshold = static_cast<T>(rate);
    const T* pu = u.data<T>();
    T* pm = mask.mutable_data<T>();
    for (std::int64_t i = 0; i < u.size(); ++i) pm[i] = pu[i] >= threshold ? keep_scale : T(0);
  });
  if (active_trace()) {
    Attrs attrs;
    attrs.scalar = rate;
    attrs.stream = stream;
    record_on_trace(kDropoutMask, {}, mask, std::move(attrs));
  }
  return mask;
}

}  // namespace tg
