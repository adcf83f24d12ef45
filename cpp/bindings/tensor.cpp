// Tensor and Variable classes: properties, NumPy interop, indexing and Python operators.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg::py_bind {

py::tuple shape_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

namespace {

// A copy of a variable's value for Python. Refused while tracing: a program reads the variable
// afresh at every replay, so a value read into Python then would be frozen at its traced value.
Tensor variable_value_copy(const VariableImpl& v) {
  if (const Trace* trace = active_trace())
    throw TypeError("tg.function '" + trace->function_name() + "': reading variable '" + v.name +
                    "' into Python (.numpy(), np.asarray) is not allowed while tracing: the "
                    "compiled program reads it afresh at every call; use it in tapegrad ops");
  return v.value.clone();
}

py::module_& numpy() {
  static py::module_ np = py::module_::import("numpy");
  return np;
}

}  // namespace

// ---- indexing: x[i], x[a:b:c], x[..., None], x[int_array], x[bool_mask] ----
// Basic items become one strided_slice, one integer array a gather, and a final reshape drops
// integer-indexed axes and inserts new ones: all differentiable ops.
Tensor getitem(const Tensor& x, py::handle key_obj) {
  const int rank = x.rank();
  // A boolean mask over leading axes selects the positions where it is true (flattened).
  if (!py::isinstance<py::tuple>(key_obj) && !py::isinstance<py::slice>(key_obj) &&
      (py::isinstance<py::array>(key_obj) || py::isinstance<py::list>(key_obj))) {
    py::array arr = numpy().attr("asarray")(key_obj);
    if (arr.dtype().kind() == 'b' && arr.ndim() > 0) {
      Shape mshape(arr.shape(), arr.shape() + arr.ndim());
      if (arr.ndim() > rank || mshape != Shape(x.shape().begin(), x.shape().begin() + arr.ndim()))
        throw IndexError("boolean index of shape " + shape_str(mshape) +
                         " does not match the tensor's shape " + shape_str(x.shape()));
      Shape flat = {-1};
      flat.insert(flat.end(), x.shape().begin() + arr.ndim(), x.shape().end());
      Shape idx_shape;
      auto idx = to_indices(numpy().attr("flatnonzero")(arr), &idx_shape);
      return gather(reshape(x, flat), idx, idx_shape, 0);
    }
  }
  py::tuple key = py::isinstance<py::tuple>(key_obj) ? py::reinterpret_borrow<py::tuple>(key_obj)
                                                      : py::make_tuple(key_obj);
  enum Kind { Int, Slice, NewAxis, Array };
  struct Item {
    Kind kind;
    py::object slice;
    std::vector<std::int64_t> idx;
    Shape index_shape;
  };
  std::vector<Item> items;
  int consumed = 0, ellipsis_at = -1;
  for (py::handle k : key) {
    if (k.is_none()) {
      items.push_back({NewAxis, {}, {}, {}});
    } else if (k.ptr() == Py_Ellipsis) {
      if (ellipsis_at >= 0) throw IndexError("an index can only have a single ellipsis ('...')");
      ellipsis_at = static_cast<int>(items.size());
    } else if (py::isinstance<py::slice>(k)) {
      items.push_back({Slice, py::reinterpret_borrow<py::object>(k), {}, {}});
      ++consumed;
    } else if (PyLong_Check(k.ptr()) || (PyIndex_Check(k.ptr()) && !py::isinstance<py::array>(k))) {
      items.push_back({Int, {}, {PyNumber_AsSsize_t(k.ptr(), PyExc_IndexError)}, {}});
      if (PyErr_Occurred()) throw py::error_already_set();
      ++consumed;
    } else if (py::isinstance<py::list>(k) || py::isinstance<py::array>(k) || is_tensor(k)) {
      py::array arr = numpy().attr("asarray")(is_tensor(k) ? py::object(to_numpy(to_tensor(k)))
                                                           : py::reinterpret_borrow<py::object>(k));
      if (arr.dtype().kind() == 'b') {
        if (arr.ndim() != 1) throw IndexError("inside a tuple index a boolean index must be 1-D");
        arr = numpy().attr("flatnonzero")(arr);
      } else if (arr.dtype().kind() == 'f') {
        if (!numpy().attr("array_equal")(arr, arr.attr("astype")("int64")).cast<bool>())
          throw IndexError("float indices must hold whole numbers");
        arr = arr.attr("astype")("int64");
      }
      Item it{Array, {}, {}, {}};
      it.idx = to_indices(arr, &it.index_shape);
      items.push_back(std::move(it));
      ++consumed;
    } else {
      throw IndexError("only integers, slices (`:`), ellipsis (`...`), None and integer or boolean "
                       "arrays are valid indices, got " +
                       std::string(py::str(py::type::of(k).attr("__name__"))));
    }
  }
  if (consumed > rank)
    throw IndexError("too many indices for a tensor of shape " + shape_str(x.shape()) + ": " +
                     std::to_string(consumed) + " were indexed");
  const py::object full_slice = py::reinterpret_steal<py::object>(PySlice_New(nullptr, nullptr, nullptr));
  const std::size_t at = ellipsis_at >= 0 ? static_cast<std::size_t>(ellipsis_at) : items.size();
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::size_t>(rank - consumed),
               Item{Slice, full_slice, {}, {}});

  std::vector<std::int64_t> begin(rank, 0), step(rank, 1);
  Shape count = x.shape(), final_shape;
  const Item* array_item = nullptr;
  int axis = 0, array_axis = -1, first_adv = -1, last_adv = -1, n_adv = 0;
  for (const Item& it : items) {
    if (it.kind == NewAxis) {
      final_shape.push_back(1);
      continue;
    }
    const std::int64_t len = x.shape()[axis];
    if (it.kind == Int) {
      const std::int64_t i = it.idx[0];
      if (i < -len || i >= len)
        throw IndexError("index " + std::to_string(i) + " is out of bounds for axis " +
                         std::to_string(axis) + " with size " + std::to_string(len));
      begin[axis] = i < 0 ? i + len : i;
      count[axis] = 1;
    } else if (it.kind == Slice) {
      Py_ssize_t start, stop, stp, n;
      if (PySlice_GetIndicesEx(it.slice.ptr(), len, &start, &stop, &stp, &n) < 0)
        throw py::error_already_set();
      begin[axis] = n > 0 ? start : 0;
      step[axis] = n > 0 ? stp : 1;
      count[axis] = n;
      final_shape.push_back(n);
    } else {
      if (array_item) throw IndexError("only one integer-array index is supported per indexing");
      array_item = &it;
      array_axis = axis;
      final_shape.insert(final_shape.end(), it.index_shape.begin(), it.index_shape.end());
    }
    if (it.kind != Slice) {
      first_adv = first_adv < 0 ? axis : first_adv;
      last_adv = axis;
      ++n_adv;
    }
    ++axis;
  }
  if (array_item && last_adv - first_adv + 1 != n_adv)
    throw IndexError("an integer array combined with integers separated by a slice is not supported "
                     "(NumPy would move the indexed axes to the front); index in two steps");
  Tensor y = x;
  bool whole = count == x.shape();
  for (int d = 0; d < rank && whole; ++d) whole = begin[d] == 0 && step[d] == 1;
  if (!whole) y = strided_slice(x, begin, step, count);
  if (array_item) y = gather(y, array_item->idx, array_item->index_shape, array_axis);
  return reshape(y, final_shape);
}


void bind_tensor_type(py::module_& m, const std::vector<py::object>& dtypes);
void set_variable_type(py::handle type);

void bind_tensor(py::module_& m) {
  py::enum_<DType>(m, "DType")
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("int32", DType::Int32)
      .value("int64", DType::Int64)
      .value("bool", DType::Bool)
      .def_property_readonly("name", [](DType d) { return dtype_name(d); })
      .def_property_readonly("as_numpy_dtype", [](DType d) { return numpy_dtype(d).attr("type"); })
      .def_property_readonly("is_floating", [](DType d) { return is_floating(d); })
      .def_property_readonly("is_integer", [](DType d) { return d == DType::Int32 || d == DType::Int64; })
      .def_property_readonly("is_bool", [](DType d) { return d == DType::Bool; })
      .def("__str__", [](DType d) { return dtype_name(d); })
      .def("__repr__", [](DType d) { return std::string("tg.") + dtype_name(d); });

  bind_tensor_type(m, {py::cast(DType::Float32), py::cast(DType::Float64), py::cast(DType::Int32),
                      py::cast(DType::Int64), py::cast(DType::Bool)});

  // Variable: a pybind11 class whose operator and mapping slots are Tensor's (a read of the
  // variable, then the op), installed before the type is readied.
  py::class_<VariableImpl, Variable> var(
      m, "Variable", py::custom_type_setup([](PyHeapTypeObject* heap_type) {
        install_operator_slots(&heap_type->ht_type);
      }));
  set_variable_type(var.ptr());
  var.def(py::init([](py::handle initial_value, bool trainable, py::object name, py::handle dtype) {
            const auto dt = to_dtype(dtype);
            Tensor t = to_tensor(initial_value, dt);
            if (dt && t.dtype() != *dt) t = cast(t, *dt);
            std::string var_name = name.is_none() ? "Variable" : py::str(name).cast<std::string>();
            if (Trace* trace = active_trace()) trace->on_variable_created(var_name);
            return std::make_shared<VariableImpl>(stop_gradient(t), std::move(var_name), trainable);
          }),
          py::arg("initial_value"), py::arg("trainable") = true, py::arg("name") = py::none(),
          py::arg("dtype") = py::none())
      .def_property_readonly("shape", [](const VariableImpl& v) { return shape_tuple(v.value.shape()); })
      .def_property_readonly("dtype", [](const VariableImpl& v) { return v.value.dtype(); })
      .def_property_readonly("ndim", [](const VariableImpl& v) { return v.value.rank(); })
      .def_property_readonly("size", [](const VariableImpl& v) { return v.value.size(); })
      .def_property_readonly("name", [](const VariableImpl& v) { return v.name + ":0"; })
      .def_readwrite("trainable", &VariableImpl::trainable)
      .def("value", [](const Variable& v) { return wrap(read_variable(v)); },
           "The current value as a Tensor (a read: active tapes watch it).")
      .def("read_value", [](const Variable& v) { return wrap(read_variable(v)); })
      .def("numpy", [](const VariableImpl& v) { return to_numpy(variable_value_copy(v)); },
           "A copy of the current value: writing into it never changes the variable.")
      .def("assign", [](const Variable& v, py::handle value) {
        const Tensor t = to_tensor(value, v->value.dtype());
        run_op(t.size(), [&] { assign_variable(v, t, AssignMode::Assign); return Tensor(); });
        return v;
      }, py::arg("value"))
      .def("assign_add", [](const Variable& v, py::handle delta) {
        const Tensor t = to_tensor(delta, v->value.dtype());
        run_op(t.size(), [&] { assign_variable(v, t, AssignMode::Add); return Tensor(); });
        return v;
      }, py::arg("delta"))
      .def("assign_sub", [](const Variable& v, py::handle delta) {
        const Tensor t = to_tensor(delta, v->value.dtype());
        run_op(t.size(), [&] { assign_variable(v, t, AssignMode::Subtract); return Tensor(); });
        return v;
      }, py::arg("delta"))
      .def("__array__", [](const VariableImpl& v, py::object dtype, py::object copy) {
        py::object arr = to_numpy(variable_value_copy(v));
        return dtype.is_none() ? arr : py::object(arr.attr("astype")(dtype));
      }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
}

}  // namespace tg::py_bind
