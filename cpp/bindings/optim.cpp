// The `_core.optim` submodule: fused optimizer updates over all parameters in one call.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/optim.h"

namespace tg::py_bind {

namespace {

// Variables and their gradients (converted to each variable's dtype) from two Python sequences.
std::pair<std::vector<Variable>, std::vector<Tensor>> to_pairs(py::sequence grads, py::sequence vars,
                                                               std::int64_t* work) {
  if (py::len(grads) != py::len(vars))
    throw ValueError("apply: got " + std::to_string(py::len(grads)) + " gradients for " +
                     std::to_string(py::len(vars)) + " variables");
  std::vector<Variable> vs;
  std::vector<Tensor> gs;
  vs.reserve(py::len(vars));
  gs.reserve(py::len(vars));
  *work = 0;
  for (std::size_t i = 0; i < py::len(vars); ++i) {
    py::handle v = vars[i];
    if (!is_variable(v))
      throw TypeError("apply: expected a Variable, got " + std::string(py::str(py::type::of(v).attr("__name__"))));
    Variable var = v.cast<Variable>();
    gs.push_back(to_tensor_no_watch(grads[i]));
    *work += gs.back().size();
    vs.push_back(std::move(var));
  }
  return {std::move(vs), std::move(gs)};
}

optim::Clip to_clip(double clipnorm, double global_clipnorm, double clipvalue) {
  optim::Clip c;
  c.norm = clipnorm;
  c.global_norm = global_clipnorm;
  c.value = clipvalue;
  return c;
}

template <class F> void without_gil_if_big(std::int64_t work, F&& f) {
  if (work < kReleaseGilWork) return f();
  py::gil_scoped_release release;
  f();
}

py::object slot_or_none(const Tensor& t) { return t.defined() ? py::object(to_numpy(t.clone())) : py::none(); }

}  // namespace

void bind_optim(py::module_& parent) {
  py::module_ m = parent.def_submodule("optim", "Fused optimizer updates (Keras's rules).");
  py::class_<optim::SGD>(m, "SGD")
      .def(py::init<double, bool>(), py::arg("momentum") = 0.0, py::arg("nesterov") = false)
      .def(
          "apply",
          [](optim::SGD& self, py::sequence grads, py::sequence vars, double lr, double clipnorm,
             double global_clipnorm, double clipvalue) {
            std::int64_t work = 0;
            auto [vs, gs] = to_pairs(grads, vars, &work);
            const optim::Clip clip = to_clip(clipnorm, global_clipnorm, clipvalue);
            without_gil_if_big(work, [&] { self.apply(vs, gs, lr, clip); });
          },
          py::arg("grads"), py::arg("vars"), py::arg("learning_rate"), py::arg("clipnorm") = 0.0,
          py::arg("global_clipnorm") = 0.0, py::arg("clipvalue") = 0.0,
          "Updates every variable in place with its gradient (one fused call).")
      .def("velocity", [](const optim::SGD& self, const Variable& v) { return slot_or_none(self.velocity(*v)); });
  py::class_<optim::Adam>(m, "Adam")
      .def(py::init<double, double, double>(), py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999,
           py::arg("epsilon") = 1e-7)
      .def(
          "apply",
          [](optim::Adam& self, py::sequence grads, py::sequence vars, double lr, std::int64_t step,
             double clipnorm, double global_clipnorm, double clipvalue) {
            std::int64_t work = 0;
            auto [vs, gs] = to_pairs(grads, vars, &work);
            const optim::Clip clip = to_clip(clipnorm, global_clipnorm, clipvalue);
            without_gil_if_big(work, [&] { self.apply(vs, gs, lr, step, clip); });
          },
          py::arg("grads"), py::arg("vars"), py::arg("learning_rate"), py::arg("step"),
          py::arg("clipnorm") = 0.0, py::arg("global_clipnorm") = 0.0, py::arg("clipvalue") = 0.0,
          "Updates every variable in place with its gradient; step is iterations + 1.")
      .def("first_moment",
           [](const optim::Adam& self, const Variable& v) { return slot_or_none(self.first_moment(*v)); })
      .def("second_moment",
           [](const optim::Adam& self, const Variable& v) { return slot_or_none(self.second_moment(*v)); });
}

}  // namespace tg::py_bind
