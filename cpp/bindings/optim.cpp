// The `_core.optim` submodule: optimizers that own their whole state (step counter, learning rate
// or schedule, clipping, slots), so one `apply` call updates every parameter from C++ alone.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/optim.h"

namespace tg::py_bind {

namespace {

// Variables and their gradients from two Python sequences; *work counts the gradients' elements.
std::pair<std::vector<Variable>, std::vector<Tensor>> to_pairs(py::sequence grads,
                                                               py::sequence vars,
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
      throw TypeError("apply: expected a Variable, got " +
                      std::string(py::str(py::type::of(v).attr("__name__"))));
    Variable var = v.cast<Variable>();
    gs.push_back(to_tensor_no_watch(grads[i]));
    *work += gs.back().size();
    vs.push_back(std::move(var));
  }
  return {std::move(vs), std::move(gs)};
}

template <class F>
void without_gil_if_big(std::int64_t work, F&& f) {
  if (work < kReleaseGilWork) return f();
  py::gil_scoped_release release;
  f();
}

py::object slot_or_none(const Tensor& t) {
  return t.defined() ? py::object(to_numpy(t.clone())) : py::none();
}

// A clip field: 0 (or None) is off, anything else must be > 0.
double to_clip_field(py::handle value, const char* name) {
  if (value.is_none()) return 0.0;
  const double c = value.cast<double>();
  if (!(c >= 0.0)) throw ValueError(std::string(name) + " must be > 0, got " + std::to_string(c));
  return c;
}

}  // namespace

void bind_optim(py::module_& parent) {
  py::module_ m =
      parent.def_submodule("optim", "Optimizers with Keras's update rules, state owned by C++.");
  using optim::LearningRate;
  py::class_<LearningRate>(
      m, "LearningRate",
      "A learning rate from the step counter: a constant or a built-in schedule.")
      .def_static("constant", &LearningRate::constant, py::arg("value"))
      .def_static("exponential_decay", &LearningRate::exponential_decay,
                  py::arg("initial_learning_rate"), py::arg("decay_steps"), py::arg("decay_rate"),
                  py::arg("staircase") = false)
      .def_static("inverse_time_decay", &LearningRate::inverse_time_decay,
                  py::arg("initial_learning_rate"), py::arg("decay_steps"), py::arg("decay_rate"),
                  py::arg("staircase") = false)
      .def_static("piecewise_constant_decay", &LearningRate::piecewise_constant_decay,
                  py::arg("boundaries"), py::arg("values"))
      .def("__call__", &LearningRate::at, py::arg("step"),
           "The rate at `step` (updates applied so far).")
      .def_property_readonly(
          "is_constant",
          [](const LearningRate& r) { return r.kind() == LearningRate::Kind::Constant; })
      .def("__repr__", &LearningRate::repr);

  py::class_<optim::Optimizer, std::shared_ptr<optim::Optimizer>>(m, "Optimizer")
      .def(
          "apply",
          [](optim::Optimizer& self, py::sequence grads, py::sequence vars) {
            std::int64_t work = 0;
            auto [vs, gs] = to_pairs(grads, vars, &work);
            without_gil_if_big(work, [&] { self.apply(vs, gs); });
            return self.iterations;
          },
          py::arg("grads"), py::arg("vars"),
          "Updates every variable in place with its gradient (one call) and counts the update; "
          "returns the new iterations.")
      .def_readwrite("iterations", &optim::Optimizer::iterations)
      .def_property(
          "learning_rate", [](const optim::Optimizer& self) { return self.learning_rate; },
          [](optim::Optimizer& self, py::handle value) {
            self.learning_rate = py::isinstance<LearningRate>(value)
                                     ? value.cast<LearningRate>()
                                     : LearningRate::constant(value.cast<double>());
          },
          "A LearningRate; a float sets a constant rate.")
      .def("current_learning_rate", &optim::Optimizer::current_learning_rate,
           "The rate the next apply uses: learning_rate(iterations).")
      .def_property(
          "clipnorm", [](const optim::Optimizer& self) { return self.clip.norm; },
          [](optim::Optimizer& self, py::handle v) {
            self.clip.norm = to_clip_field(v, "clipnorm");
          })
      .def_property(
          "global_clipnorm", [](const optim::Optimizer& self) { return self.clip.global_norm; },
          [](optim::Optimizer& self, py::handle v) {
            self.clip.global_norm = to_clip_field(v, "global_clipnorm");
          })
      .def_property(
          "clipvalue", [](const optim::Optimizer& self) { return self.clip.value; },
          [](optim::Optimizer& self, py::handle v) {
            self.clip.value = to_clip_field(v, "clipvalue");
          })
      .def_property_readonly("name", &optim::Optimizer::name);

  py::class_<optim::SGD, optim::Optimizer, std::shared_ptr<optim::SGD>>(m, "SGD")
      .def(py::init<double, bool>(), py::arg("momentum") = 0.0, py::arg("nesterov") = false)
      .def("velocity", [](const optim::SGD& self, const Variable& v) {
        return slot_or_none(self.velocity(*v));
      });

  py::class_<optim::Adam, optim::Optimizer, std::shared_ptr<optim::Adam>>(m, "Adam")
      .def(py::init<double, double, double>(), py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999,
           py::arg("epsilon") = 1e-7)
      .def("first_moment", [](const optim::Adam& self,
                              const Variable& v) { return slot_or_none(self.first_moment(*v)); })
      .def("second_moment", [](const optim::Adam& self, const Variable& v) {
        return slot_or_none(self.second_moment(*v));
      });

  py::class_<optim::AdamW, optim::Adam, std::shared_ptr<optim::AdamW>>(m, "AdamW")
      .def(py::init<double, double, double, double>(), py::arg("weight_decay") = 0.004,
           py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7);

  py::class_<optim::RMSprop, optim::Optimizer, std::shared_ptr<optim::RMSprop>>(m, "RMSprop")
      .def(py::init<double, double, double, bool>(), py::arg("rho") = 0.9,
           py::arg("momentum") = 0.0, py::arg("epsilon") = 1e-7, py::arg("centered") = false)
      .def("velocity", [](const optim::RMSprop& self,
                          const Variable& v) { return slot_or_none(self.velocity(*v)); })
      .def("momentum", [](const optim::RMSprop& self,
                          const Variable& v) { return slot_or_none(self.momentum(*v)); })
      .def("average_gradient", [](const optim::RMSprop& self, const Variable& v) {
        return slot_or_none(self.average_gradient(*v));
      });

  py::class_<optim::Adagrad, optim::Optimizer, std::shared_ptr<optim::Adagrad>>(m, "Adagrad")
      .def(py::init<double, double>(), py::arg("initial_accumulator_value") = 0.1,
           py::arg("epsilon") = 1e-7)
      .def("accumulator", [](const optim::Adagrad& self, const Variable& v) {
        return slot_or_none(self.accumulator(*v));
      });
}

}  // namespace tg::py_bind
