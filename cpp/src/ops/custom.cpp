// Ops whose gradient someone else supplies.
#include "common.h"
#include "tapegrad/autograd/forward.h"

namespace tg {

// ---- custom_gradient: z = y (a new id), recorded on the tapes as an op of `inputs` whose VJP is
// the caller's (tg.custom_gradient). The tapes then see z come from the inputs by that VJP, not by
// the ops that computed y; those ops stay recorded, so when the VJP's own ops read values computed
// from the inputs, an outer tape differentiates it again. A trace already holds y's ops: for it z
// is y passed on (stop_gradient's instruction), and the VJP's ops are recorded when a gradient
// runs them.  Saves nothing (what the VJP needs, its closure holds).
static const OpDef kCustomGradient{"custom_gradient",
                                   [](const Node& n, const Tensor& g, Needs need) -> Grads {
                                     return n.attrs.custom->vjp(n, g, need);
                                   },
                                   nullptr};
Tensor custom_gradient(const std::vector<Tensor>& inputs, const Tensor& y,
                       std::shared_ptr<const CustomVjp> vjp) {
  if (!vjp) throw ValueError("custom_gradient: no VJP given");
  Tensor z = stop_gradient(y);  // a new id; recorded on an active trace
  for (ForwardAccumulator* acc : detail::recorders().accumulators)
    acc->pass_on(y, z);  // forward mode
  if (!detail::active_tapes().empty()) {
    Attrs attrs;
    attrs.custom = std::move(vjp);
    detail::record_on_tapes_only(kCustomGradient, inputs, z, std::move(attrs));
  }
  return z;
}

}  // namespace tg
