// Forward mode for Python (python/tapegrad/forward.py): the C++ accumulator, primals and tangents
// as tensors or variables.
#include <memory>

#include "convert.h"
#include "tapegrad/autograd/forward.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg::py_bind {

namespace {
// tg.hvp's bookkeeping (python/tapegrad/functional.py), forward over reverse: an accumulator with
// tangents v on the sources, a tape inside it, then the gradient's tangents. Two calls around the
// user's function instead of a dozen Python-level ones: on the seed MLP's HVP the Python version of
// this setup cost a fifth of the whole product.
class HvpScope {
 public:
  // Checks each v against its source (shape; v is cast to the source's dtype), then enters the
  // accumulator and, inside it, a tape watching the sources.
  HvpScope(const py::sequence& xs, const py::sequence& vs) {
    const std::size_t n = xs.size();
    if (vs.size() != n)
      throw ValueError("hvp: " + std::to_string(n) + " sources but " + std::to_string(vs.size()) +
                       " directions v");
    sources_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const py::handle x = xs[i], v = vs[i];
      const bool var = is_variable(x);
      if (!var && !is_tensor(x))
        throw TypeError("hvp: x must be a tensor, a variable or a list or tuple of them, got " +
                        std::string(py::str(py::type::of(x).attr("__name__"))));
      const Tensor primal = var ? variable_of(x)->value : tensor_of(x);
      if (!is_floating(primal.dtype())) {  // GradientTape.watch's warning: no gradient, H v is 0
        const std::string msg =
            "hvp: x[" + std::to_string(i) +
            "] must be floating (e.g. tg.float32) to be differentiated, got tg." +
            dtype_name(primal.dtype());
        if (PyErr_WarnEx(PyExc_UserWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
      }
      const Tensor tangent = to_tensor(v, primal.dtype());
      if (tangent.shape() != primal.shape())
        throw ValueError("hvp: v[" + std::to_string(i) + "] has shape " +
                         shape_str(tangent.shape()) + " but x[" + std::to_string(i) +
                         "] has shape " + shape_str(primal.shape()));
      if (var) {
        acc_.watch(variable_of(x), tangent);
        sources_.push_back({Tensor(), variable_of(x)});
      } else {
        acc_.watch(primal, tangent);
        sources_.push_back({primal, nullptr});
      }
    }
    acc_.set_lazy(true);  // the forward pass: only the tangents the gradient's ops read
    acc_.enter();
    tape_.enter();
    for (const Endpoint& e : sources_) e.variable ? tape_.watch(e.variable) : tape_.watch(e.tensor);
  }
  ~HvpScope() { close(); }
  HvpScope(const HvpScope&) = delete;
  HvpScope& operator=(const HvpScope&) = delete;

  // H v, one tensor per source (zeros where the gradient does not depend on the sources).
  py::list finish(const Tensor& y) {
    tape_.exit();
    acc_.set_lazy(false);  // the gradient's ops: every tangent is read (it is H v or feeds it)
    const std::vector<Tensor> grads = tape_.gradient({{y, nullptr}}, sources_, {}, true);
    acc_.exit();
    py::list out(grads.size());
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const Tensor t = acc_.tangent_of(grads[i]);
      out[i] = wrap(t.defined() ? t : zeros_like(grads[i]));
    }
    return out;
  }

  // Leaves the tape and the accumulator (after finish, or when the function raised).
  void close() {
    tape_.exit();
    acc_.exit();
  }

 private:
  ForwardAccumulator acc_;
  Tape tape_{/*persistent=*/false, /*watch_accessed_variables=*/true};
  std::vector<Endpoint> sources_;
};
}  // namespace

void bind_forward(py::module_& m) {
  py::class_<ForwardAccumulator>(m, "ForwardAccumulator", "Forward-mode tangents (forward.h).")
      .def(py::init<>())
      .def("enter", &ForwardAccumulator::enter)
      .def("exit", &ForwardAccumulator::exit)
      .def(
          "watch",
          [](ForwardAccumulator& self, TensorLike primal, TensorLike tangent) {
            if (is_variable(primal)) {
              const Variable& v = variable_of(primal);
              self.watch(v, to_tensor(tangent, v->value.dtype()));
            } else {
              const Tensor p = to_tensor(primal);
              self.watch(p, to_tensor(tangent, p.dtype()));
            }
          },
          py::arg("primal"), py::arg("tangent"))
      .def(
          "tangent",
          [](ForwardAccumulator& self, TensorLike primal) {
            if (is_variable(primal)) return wrap(self.tangent_of(variable_of(primal)));
            return wrap(self.tangent_of(to_tensor_no_watch(primal)));
          },
          py::arg("primal"), "The tangent of a tensor or variable, or None.");

  py::class_<HvpScope>(m, "HvpScope", "tg.hvp's accumulator and tape (functional.py).")
      .def(py::init<const py::sequence&, const py::sequence&>(), py::arg("xs"), py::arg("vs"))
      .def(
          "finish", [](HvpScope& self, TensorLike y) { return self.finish(to_tensor_no_watch(y)); },
          py::arg("y"), "H v for each source, given the function's scalar output y.")
      .def("close", &HvpScope::close, "Leaves the tape and the accumulator.");
}

}  // namespace tg::py_bind
