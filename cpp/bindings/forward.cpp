// Forward mode for Python (python/tapegrad/forward.py): the C++ accumulator, primals and tangents
// as tensors or variables.
#include "convert.h"
#include "tapegrad/autograd/forward.h"
#include "tapegrad/errors.h"

namespace tg::py_bind {

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
          [](const ForwardAccumulator& self, TensorLike primal) {
            if (is_variable(primal)) return wrap(self.tangent_of(variable_of(primal)));
            return wrap(self.tangent_of(to_tensor_no_watch(primal)));
          },
          py::arg("primal"), "The tangent of a tensor or variable, or None.");
}

}  // namespace tg::py_bind
