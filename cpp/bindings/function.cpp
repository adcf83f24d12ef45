// Traces and compiled programs for Python (`tg.function`, python/tapegrad/function.py): the
// Python side keeps the cache of programs by signature and the argument/result structures; this
// file records and replays.
#include <pybind11/stl.h>

#include <unordered_map>

#include "convert.h"
#include "tapegrad/autograd/trace.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"
#include "tapegrad/sampling.h"

namespace tg::py_bind {

namespace {

Tensor tensor_arg(py::handle obj, const char* what) {
  if (!is_tensor(obj))
    throw TypeError(std::string(what) + ": expected a tg.Tensor, got " +
                    std::string(py::str(py::type::of(obj).attr("__name__"))));
  return tensor_of(obj);
}

std::vector<Tensor> tensor_list(py::sequence seq, const char* what) {
  std::vector<Tensor> out;
  out.reserve(py::len(seq));
  for (py::handle h : seq) out.push_back(tensor_arg(h, what));
  return out;
}

py::list wrap_all(const std::vector<Tensor>& ts) {
  py::list out(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) out[i] = wrap(ts[i]);
  return out;
}

// Replays `program` once per row of `indices` (steps x batch): tensor argument j is the rows of
// arrays[j] that the step's indices pick (gathered in C++), arguments after the arrays are
// `fixed`. Output 0 must hold one element (the loss); its value per step is returned. A
// check_finite instruction that fails stops the replay at that step (its later instructions,
// the update, do not run): then `stopped` is true and the last loss is the non-finite value.
py::tuple run_batches(const Program& program, py::sequence arrays_seq,
                      py::array_t<std::int64_t> indices,
                      const std::optional<py::sequence>& fixed_seq) {
  const std::vector<Tensor> arrays = tensor_list(arrays_seq, "run_batches arrays");
  const std::vector<Tensor> fixed =
      fixed_seq ? tensor_list(*fixed_seq, "run_batches fixed arguments") : std::vector<Tensor>();
  if (indices.ndim() != 2)
    throw ValueError("run_batches: indices must be (steps, batch), got " +
                     std::to_string(indices.ndim()) + " dimensions");
  const std::int64_t steps = indices.shape(0), batch = indices.shape(1);
  for (const Tensor& a : arrays)
    if (a.rank() < 1) throw ValueError("run_batches: every array needs a leading sample axis");
  if (program.outputs().empty())
    throw ValueError("run_batches: the program returns nothing; its first output must be the loss");
  auto idx = indices.unchecked<2>();
  std::vector<double> losses;
  losses.reserve(static_cast<std::size_t>(steps));
  bool stopped = false;
  {
    py::gil_scoped_release release;
    std::vector<std::int64_t> rows(static_cast<std::size_t>(batch));
    std::vector<Tensor> args(arrays.size() + fixed.size());
    for (std::size_t j = 0; j < fixed.size(); ++j) args[arrays.size() + j] = fixed[j];
    for (std::int64_t k = 0; k < steps; ++k) {
      for (std::int64_t i = 0; i < batch; ++i) rows[static_cast<std::size_t>(i)] = idx(k, i);
      for (std::size_t j = 0; j < arrays.size(); ++j) args[j] = gather(arrays[j], rows, {batch}, 0);
      try {
        const std::vector<Tensor> out = program.run(args);
        if (out[0].size() != 1)
          throw ValueError("run_batches: output 0 must hold one element (the loss), got shape " +
                           shape_str(out[0].shape()));
        losses.push_back(out[0].item());
      } catch (const NonFiniteError& e) {
        losses.push_back(e.value);
        stopped = true;
        break;
      }
    }
  }
  py::array_t<double> out(static_cast<py::ssize_t>(losses.size()));
  std::copy(losses.begin(), losses.end(), out.mutable_data());
  return py::make_tuple(out, stopped);
}

const char* assign_name(AssignMode mode) {
  switch (mode) {
    case AssignMode::Assign: return "assign";
    case AssignMode::Add: return "assign_add";
    case AssignMode::Subtract: return "assign_sub";
  }
  return "assign";
}

py::dict slot_spec(std::int32_t slot, DType dtype, const Shape& shape) {
  py::dict d;
  d["slot"] = slot;
  d["shape"] = shape_tuple(shape);
  d["dtype"] = py::str(dtype_name(dtype));
  return d;
}

// A program as plain Python data, for python/tapegrad/utils.py (tape_to_dot): argument and
// constant slots, the instructions in replay order, the output slots. Fields an instruction kind
// does not have are None.
py::dict program_graph(const Program& p) {
  py::list arguments, constants, code;
  for (std::size_t i = 0; i < p.arguments().size(); ++i)
    arguments.append(
        slot_spec(static_cast<std::int32_t>(i), p.arguments()[i].dtype, p.arguments()[i].shape));
  for (const auto& [slot, value] : p.constants())
    constants.append(slot_spec(slot, value.dtype(), value.shape()));
  for (const Instruction& ins : p.code()) {
    py::dict d;
    py::object none = py::none();
    d["kind"] = none;
    d["name"] = none;
    d["inputs"] = py::cast(ins.in);
    d["output"] = ins.out >= 0 ? py::object(py::int_(ins.out)) : none;
    d["shape"] = none;
    d["dtype"] = none;
    d["variable"] = ins.variable ? py::object(py::str(ins.variable->name)) : none;
    d["variable_id"] = ins.variable ? py::object(py::int_(ins.variable->id)) : none;
    d["trainable"] = ins.variable ? py::object(py::bool_(ins.variable->trainable)) : none;
    switch (ins.kind) {
      case Instruction::Kind::Op:
        d["kind"] = "op";
        d["name"] = ins.op->name;
        d["shape"] = shape_tuple(ins.node.out_shape);
        d["dtype"] = dtype_name(ins.node.out_dtype);
        break;
      case Instruction::Kind::ReadVariable:
        d["kind"] = "read_variable";
        d["name"] = "read_variable";
        d["shape"] = shape_tuple(ins.variable->value.shape());
        d["dtype"] = dtype_name(ins.variable->value.dtype());
        break;
      case Instruction::Kind::Assign:
        d["kind"] = "assign";
        d["name"] = assign_name(ins.mode);
        break;
      case Instruction::Kind::Effect:
        d["kind"] = "effect";
        d["name"] = ins.effect->name();
        break;
      case Instruction::Kind::CheckFinite:
        d["kind"] = "check_finite";
        d["name"] = "check_finite";
        break;
    }
    code.append(d);
  }
  py::dict out;
  out["name"] = p.name();
  out["arguments"] = arguments;
  out["constants"] = constants;
  out["instructions"] = code;
  out["outputs"] = py::cast(p.outputs());
  return out;
}

// The programs of one tg.function whose arguments are all tensors, by their dtypes and shapes: a
// call that hits costs one C++ call (the Python side keeps every other signature and traces).
class TensorSignatureCache {
 public:
  // miss: what call returns when it cannot answer; pack(template, outputs) rebuilds a result.
  TensorSignatureCache(py::object miss, py::object pack)
      : miss_(std::move(miss)), pack_(std::move(pack)) {}

  py::object call(py::tuple args) {
    if (active_trace() || !signature_of(args)) return miss_;  // inside a trace: inline in Python
    auto it = programs_.find(key_);
    if (it == programs_.end()) return miss_;
    const Entry& entry = it->second;
    std::vector<Tensor> in;
    in.reserve(args.size());
    for (py::handle h : args) in.push_back(tensor_of(h));
    std::vector<Tensor> out;
    {
      py::gil_scoped_release release;
      out = entry.program->run(in);
    }
    if (entry.single) return wrap(out[0]);
    return pack_(entry.result_template, wrap_all(out));
  }

  // args' signature now runs `program`; its result is `result_template` filled from the outputs
  // (single: the result is output 0 itself).
  void add(py::tuple args, std::shared_ptr<Program> program, py::object result_template,
           bool single) {
    if (!signature_of(args))
      throw TypeError("TensorSignatureCache.add: every argument must be a tensor");
    programs_[key_] = Entry{std::move(program), std::move(result_template), single};
  }

 private:
  struct Entry {
    std::shared_ptr<Program> program;
    py::object result_template;
    bool single;
  };
  struct KeyHash {
    std::size_t operator()(const std::vector<std::int64_t>& k) const {
      std::size_t h = k.size();
      for (std::int64_t v : k) h = h * 1000003u ^ static_cast<std::size_t>(v);
      return h;
    }
  };

  // key_ = (dtype, rank, dims...) per argument; false when an argument is not a tensor.
  bool signature_of(py::tuple args) {
    key_.clear();
    for (py::handle h : args) {
      if (!is_tensor(h)) return false;
      const Tensor t = tensor_of(h);
      key_.push_back(static_cast<std::int64_t>(t.dtype()));
      key_.push_back(t.rank());
      key_.insert(key_.end(), t.shape().begin(), t.shape().end());
    }
    return true;
  }

  py::object miss_, pack_;
  std::vector<std::int64_t> key_;
  std::unordered_map<std::vector<std::int64_t>, Entry, KeyHash> programs_;
};

}  // namespace

void bind_function(py::module_& m) {
  // Program first: the signatures of Trace.finish and TensorSignatureCache.add name it.
  py::class_<Program, std::shared_ptr<Program>>(m, "Program", "A traced function, replayed in C++.")
      .def(
          "run",
          [](const Program& self, py::sequence args) {
            const std::vector<Tensor> in = tensor_list(args, "tg.function arguments");
            std::vector<Tensor> out;
            {
              py::gil_scoped_release release;
              out = self.run(in);
            }
            return wrap_all(out);
          },
          py::arg("args"), "Runs the program on the tensor arguments; returns the output tensors.")
      .def("run_batches", &run_batches, py::arg("arrays"), py::arg("indices"),
           py::arg("fixed") = py::none(),
           "Runs once per row of indices on the rows it picks of each array; returns "
           "(losses, stopped_by_non_finite).")
      .def_property_readonly("name", &Program::name)
      .def_property_readonly("num_instructions", [](const Program& p) { return p.code().size(); })
      .def_property_readonly("num_constants", &Program::num_constants)
      .def_property_readonly("argument_specs",
                             [](const Program& p) {
                               py::list out;
                               for (const ArgumentSpec& a : p.arguments()) {
                                 py::tuple shape(a.shape.size());
                                 for (std::size_t i = 0; i < a.shape.size(); ++i)
                                   shape[i] = a.shape[i];
                                 out.append(py::make_tuple(shape, a.dtype));
                               }
                               return out;
                             })
      .def(
          "op_names",
          [](const Program& p) {
            std::vector<std::string> names;
            for (const Instruction& ins : p.code()) {
              switch (ins.kind) {
                case Instruction::Kind::Op: names.emplace_back(ins.op->name); break;
                case Instruction::Kind::ReadVariable: names.emplace_back("read_variable"); break;
                case Instruction::Kind::Assign: names.emplace_back("assign"); break;
                case Instruction::Kind::Effect: names.emplace_back(ins.effect->name()); break;
                case Instruction::Kind::CheckFinite: names.emplace_back("check_finite"); break;
              }
            }
            return names;
          },
          "The instructions' names in replay order.")
      .def("_graph", &program_graph,
           "The program as plain data: {'name', 'arguments' and 'constants' (slot, shape, dtype), "
           "'instructions' (kind, name, inputs, output, shape, dtype, variable, variable_id, "
           "trainable), 'outputs'}; what tapegrad.utils.tape_to_dot draws.")
      .def("__str__", &Program::to_string);

  py::class_<TensorSignatureCache>(
      m, "TensorSignatureCache",
      "tg.function's programs for all-tensor arguments, looked up in C++.")
      .def(py::init<py::object, py::object>(), py::arg("miss"), py::arg("pack"))
      .def("call", &TensorSignatureCache::call, py::arg("args"))
      .def("add", &TensorSignatureCache::add, py::arg("args"), py::arg("program"),
           py::arg("result_template"), py::arg("single"));

  py::class_<Trace>(m, "Trace",
                    "Records this thread's ops as a Program (tg.function's first call).")
      .def(py::init<std::string, bool>(), py::arg("function_name"), py::arg("may_create_variables"))
      .def("enter", &Trace::enter)
      .def("exit", &Trace::exit)
      .def("add_argument",
           [](Trace& self, py::handle t) { self.add_argument(tensor_arg(t, "add_argument")); })
      .def("finish", [](Trace& self, py::sequence outputs) {
        return self.finish(tensor_list(outputs, "tg.function outputs"));
      });

  m.def(
      "random_batch_indices",
      [](py::handle n_, py::handle steps_, py::handle batch_, py::handle seed_) {
        const std::int64_t n = to_int64(n_, "n"), steps = to_int64(steps_, "steps"),
                           batch = to_int64(batch_, "batch");
        const auto seed = py::reinterpret_steal<py::int_>(PyNumber_Index(seed_.ptr()));
        if (!seed) throw py::error_already_set();
        const unsigned long long s = PyLong_AsUnsignedLongLong(seed.ptr());
        if (s == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
          PyErr_Clear();
          throw ValueError("random_batch_indices: seed does not fit in an unsigned 64-bit integer");
        }
        std::vector<std::int64_t> idx = random_batch_indices(n, steps, batch, s);
        py::array_t<std::int64_t> out({steps, batch});
        std::copy(idx.begin(), idx.end(), out.mutable_data());
        return out;
      },
      py::arg("n"), py::arg("steps"), py::arg("batch"), py::arg("seed"),
      "steps x batch row indices in [0, n) drawn with replacement in C++, the same for a seed "
      "everywhere (what Trainer.fit(sampling='random') replays).");
  m.def(
      "tapes_recording",
      [] {
        for (const Tape* t : detail::active_tapes())
          if (t->recording()) return true;
        return false;
      },
      "Whether a GradientTape records on this thread (bookkeeping such as a metric's update "
      "detaches its inputs only then, so a trace sees the same op twice and merges it).");
  m.def(
      "tracing_function",
      []() -> py::object {
        const Trace* t = active_trace();
        return t ? py::object(py::str(t->function_name())) : py::object(py::none());
      },
      "The name of the function being traced on this thread, or None.");
  m.def(
      "is_traced",
      [](py::handle t) {
        return is_tensor(t) && active_trace() && active_trace()->is_dynamic(tensor_of(t).id());
      },
      py::arg("t"), "Whether t's value exists only for the call being traced.");
  m.def(
      "check_finite",
      [](py::handle t, const std::string& what) { check_finite(to_tensor_no_watch(t), what); },
      py::arg("t"), py::arg("what") = "value",
      "Raises FloatingPointError when t holds a NaN or infinity; a compiled step stops there.");
}

}  // namespace tg::py_bind
