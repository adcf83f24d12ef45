// GradientTape for Python: the C++ tape plus TensorFlow's argument structures (a target or list
// of targets; sources as a tensor, list, tuple, dict or any nesting, returned in that structure).
// The structure handling lives here, in C++, because the seed's whole cell must cost a few
// microseconds and a Python-level flatten/pack alone would cost about one.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"

namespace tg::py_bind {

namespace {

// Leaves of a nested list/tuple/dict (dict values in sorted-key order, as tf.nest).
void flatten(py::handle obj, std::vector<py::handle>& out) {
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (py::handle item : obj) flatten(item, out);
  } else if (py::isinstance<py::dict>(obj)) {
    py::list keys = py::module_::import("builtins").attr("sorted")(obj.attr("keys")());
    for (py::handle k : keys) flatten(obj[k], out);
  } else {
    out.push_back(obj);
  }
}

// The same structure as `like`, filled from `leaves` in order.
py::object pack(py::handle like, const std::vector<py::object>& leaves, std::size_t& pos) {
  if (py::isinstance<py::list>(like)) {
    py::list out;
    for (py::handle item : like) out.append(pack(item, leaves, pos));
    return std::move(out);
  }
  if (py::isinstance<py::tuple>(like)) {
    std::vector<py::object> items;
    for (py::handle item : like) items.push_back(pack(item, leaves, pos));
    py::tuple t(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) t[i] = items[i];
    if (py::type::of(like).is(py::type::of(t))) return std::move(t);
    return py::type::of(like)(*t);  // a namedtuple keeps its type
  }
  if (py::isinstance<py::dict>(like)) {
    py::list keys = py::module_::import("builtins").attr("sorted")(like.attr("keys")());
    py::dict out;
    for (py::handle k : keys) out[k] = pack(like[k], leaves, pos);
    return std::move(out);
  }
  return leaves[pos++];
}

Endpoint to_endpoint(py::handle obj, const char* role) {
  if (is_variable(obj)) return {Tensor(), obj.cast<Variable>()};
  if (is_tensor(obj)) return {tensor_of(obj), nullptr};
  throw TypeError(std::string("gradient: every ") + role +
                  " must be a Tensor or Variable, got an object of type " +
                  std::string(py::str(py::type::of(obj).attr("__name__"))));
}

bool parse_unconnected(py::handle u) {
  // A str ("none"/"zero") or an enum member whose .value is one (tg.UnconnectedGradients).
  const std::string s = py::str(py::isinstance<py::str>(u) ? py::reinterpret_borrow<py::object>(u)
                                                            : py::getattr(u, "value", u));
  if (s == "none") return false;
  if (s == "zero") return true;
  throw ValueError("Unknown value for unconnected_gradients: '" + s + "'");
}

Endpoint to_jacobian_endpoint(py::handle obj, const char* fn, const char* role) {
  if (is_variable(obj)) return {Tensor(), obj.cast<Variable>()};
  if (is_tensor(obj)) return {tensor_of(obj), nullptr};
  throw TypeError(std::string(fn) + ": the " + role + " must be a Tensor or Variable, got an object of type " +
                  std::string(py::str(py::type::of(obj).attr("__name__"))));
}

// experimental_use_pfor=False is TF's per-row Python loop, which needs a persistent tape; the
// sweep here always runs in C++, but the same call must fail the same way.
void check_pfor(const Tape& t, bool use_pfor, const char* fn) {
  if (!use_pfor && !t.persistent())
    throw std::runtime_error(std::string("GradientTape must be created with persistent=True to compute the ") +
                             fn + " with eager execution enabled and with experimental_use_pfor set to False.");
}

// StopRecording: `with tape.stop_recording():` pauses the tape for the block.
struct StopRecording {
  std::shared_ptr<Tape> tape;
};

}  // namespace

void bind_tape(py::module_& m) {
  py::class_<Tape, std::shared_ptr<Tape>>(m, "GradientTape")
      .def(py::init<bool, bool>(), py::arg("persistent") = false,
           py::arg("watch_accessed_variables") = true)
      .def("__enter__", [](const std::shared_ptr<Tape>& t) { t->enter(); return t; })
      .def("__exit__", [](Tape& t, py::args) { t.exit(); return false; })
      .def("watch", [](Tape& t, py::handle obj) {
        std::vector<py::handle> leaves;
        flatten(obj, leaves);
        for (py::handle leaf : leaves) {
          if (is_variable(leaf)) t.watch(leaf.cast<Variable>());
          else if (is_tensor(leaf)) t.watch(tensor_of(leaf));
          else
            throw ValueError("Passed in object of type " +
                             std::string(py::str(py::type::of(leaf).attr("__name__"))) +
                             ", not tg.Tensor or tg.Variable");
        }
      }, py::arg("tensor"))
      .def("gradient", [](Tape& t, py::handle target, py::handle sources, py::handle output_gradients,
                          py::handle unconnected_gradients) {
        std::vector<py::handle> target_leaves, source_leaves;
        flatten(target, target_leaves);
        flatten(sources, source_leaves);
        if (target_leaves.empty()) throw ValueError("gradient: no target given");
        std::vector<Endpoint> targets, srcs;
        for (py::handle h : target_leaves) targets.push_back(to_endpoint(h, "target"));
        for (py::handle h : source_leaves) srcs.push_back(to_endpoint(h, "source"));
        std::vector<Tensor> out_grads;
        if (!output_gradients.is_none()) {
          std::vector<py::handle> og;
          flatten(output_gradients, og);
          for (std::size_t i = 0; i < og.size(); ++i) {
            if (og[i].is_none()) { out_grads.emplace_back(); continue; }
            const Endpoint& e = i < targets.size() ? targets[i] : targets[0];
            const DType like = e.variable ? e.variable->value.dtype() : e.tensor.dtype();
            out_grads.push_back(to_tensor(og[i], like));
          }
        }
        const bool zero = parse_unconnected(unconnected_gradients);
        std::vector<Tensor> grads = t.gradient(targets, srcs, out_grads, zero);
        std::vector<py::object> leaves;
        leaves.reserve(grads.size());
        for (const Tensor& g : grads) leaves.push_back(wrap(g));
        std::size_t pos = 0;
        return pack(sources, leaves, pos);
      }, py::arg("target"), py::arg("sources"), py::arg("output_gradients") = py::none(),
         py::arg("unconnected_gradients") = "none")
      .def("jacobian", [](Tape& t, py::handle target, py::handle sources, py::handle unconnected_gradients,
                          py::handle /*parallel_iterations*/, bool experimental_use_pfor) {
        const Endpoint y = to_jacobian_endpoint(target, "jacobian", "target");
        std::vector<py::handle> source_leaves;
        flatten(sources, source_leaves);
        std::vector<Endpoint> srcs;
        srcs.reserve(source_leaves.size());
        for (py::handle h : source_leaves) srcs.push_back(to_jacobian_endpoint(h, "jacobian", "source"));
        const bool zero = parse_unconnected(unconnected_gradients);
        check_pfor(t, experimental_use_pfor, "jacobian");
        std::vector<Tensor> jacs = t.jacobian(y, srcs, zero);
        std::vector<py::object> leaves;
        leaves.reserve(jacs.size());
        for (const Tensor& j : jacs) leaves.push_back(wrap(j));
        std::size_t pos = 0;
        return pack(sources, leaves, pos);
      }, py::arg("target"), py::arg("sources"), py::arg("unconnected_gradients") = "none",
         py::arg("parallel_iterations") = py::none(), py::arg("experimental_use_pfor") = true,
         "d target / d source of shape target.shape + source.shape for each source (any nesting, "
         "returned in the same structure); the per-element sweeps run in C++.")
      .def("batch_jacobian", [](Tape& t, py::handle target, py::handle source, py::handle unconnected_gradients,
                                py::handle /*parallel_iterations*/, bool experimental_use_pfor) {
        const Endpoint y = to_jacobian_endpoint(target, "batch_jacobian", "target");
        const Endpoint x = to_jacobian_endpoint(source, "batch_jacobian", "source");
        const bool zero = parse_unconnected(unconnected_gradients);
        check_pfor(t, experimental_use_pfor, "batch_jacobian");
        return wrap(t.batch_jacobian(y, x, zero));
      }, py::arg("target"), py::arg("source"), py::arg("unconnected_gradients") = "none",
         py::arg("parallel_iterations") = py::none(), py::arg("experimental_use_pfor") = true,
         "For target [b, y...] and source [b, x...] whose batch rows do not interact: each row's "
         "Jacobian, [b, y..., x...].")
      .def("stop_recording", [](const std::shared_ptr<Tape>& t) { return StopRecording{t}; })
      .def("reset", &Tape::reset)
      .def("watched_variables", [](const Tape& t) {
        const auto vars = t.watched_variables();
        py::tuple out(vars.size());
        for (std::size_t i = 0; i < vars.size(); ++i) out[i] = py::cast(vars[i]);
        return out;
      })
      .def_property_readonly("persistent", &Tape::persistent)
      .def_property_readonly("recording", &Tape::recording)
      .def_property_readonly("num_nodes", &Tape::num_nodes, "How many ops this tape holds (for inspection).");

  py::class_<StopRecording>(m, "_StopRecording")
      .def("__enter__", [](StopRecording& s) { s.tape->pause(); })
      .def("__exit__", [](StopRecording& s, py::args) { s.tape->resume(); return false; });
}

}  // namespace tg::py_bind
