// Tensor and Variable classes: properties, NumPy interop, indexing and Python operators.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg::py_bind {

namespace {

py::tuple shape_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

py::module_& numpy() {
  static py::module_ np = py::module_::import("numpy");
  return np;
}

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
  if (count != x.shape()) y = strided_slice(x, begin, step, count);
  if (array_item) y = gather(y, array_item->idx, array_item->index_shape, array_axis);
  return reshape(y, final_shape);
}

// Binds the Python operators on a class whose instances convert with to_tensor (Tensor reads
// itself, Variable reads its value on the active tapes).
template <class Cls> void bind_operators(Cls& cls) {
  using tg::Tensor;
  auto bin = [](Tensor (*f)(const Tensor&, const Tensor&), bool reflected) {
    return [f, reflected](py::handle self, py::handle other) {
      auto [a, b] = reflected ? to_tensors(other, self) : to_tensors(self, other);
      return wrap(run_op(std::max(a.size(), b.size()), [&] { return f(a, b); }));
    };
  };
  cls.def("__add__", bin(tg::add, false), py::is_operator())
      .def("__radd__", bin(tg::add, true), py::is_operator())
      .def("__sub__", bin(tg::subtract, false), py::is_operator())
      .def("__rsub__", bin(tg::subtract, true), py::is_operator())
      .def("__mul__", bin(tg::multiply, false), py::is_operator())
      .def("__rmul__", bin(tg::multiply, true), py::is_operator())
      .def("__truediv__", bin(tg::divide, false), py::is_operator())
      .def("__rtruediv__", bin(tg::divide, true), py::is_operator())
      .def("__rpow__", bin(tg::pow, true), py::is_operator())
      .def("__matmul__", [](py::handle self, py::handle other) {
        auto [a, b] = to_tensors(self, other);
        return wrap(run_op(std::max(a.size(), b.size()) * 8, [&] { return tg::matmul(a, b); }));
      }, py::is_operator())
      .def("__rmatmul__", [](py::handle self, py::handle other) {
        auto [a, b] = to_tensors(other, self);
        return wrap(run_op(std::max(a.size(), b.size()) * 8, [&] { return tg::matmul(a, b); }));
      }, py::is_operator())
      .def("__pow__", [](py::handle self, py::handle other) {
        if (PyFloat_Check(other.ptr()) || PyLong_Check(other.ptr())) {
          const Tensor x = to_tensor(self);
          const double p = py::cast<double>(other);
          return wrap(run_op(x.size(), [&] { return tg::pow_scalar(x, p); }));
        }
        auto [a, b] = to_tensors(self, other);
        return wrap(run_op(std::max(a.size(), b.size()), [&] { return tg::pow(a, b); }));
      }, py::is_operator())
      .def("__neg__", [](py::handle self) {
        const Tensor x = to_tensor(self);
        return wrap(run_op(x.size(), [&] { return tg::negative(x); }));
      })
      .def("__pos__", [](py::handle self) { return wrap(to_tensor(self)); })
      .def("__abs__", [](py::handle self) {
        const Tensor x = to_tensor(self);
        return wrap(run_op(x.size(), [&] { return tg::abs(x); }));
      })
      .def("__getitem__", [](py::handle self, py::handle key) { return wrap(getitem(to_tensor(self), key)); })
      .def("__array__", [](py::handle self, py::object dtype, py::object copy) {
        py::object arr = to_numpy(to_tensor(self));
        if (!dtype.is_none()) arr = arr.attr("astype")(dtype);
        else if (!copy.is_none() && copy.cast<bool>()) arr = arr.attr("copy")();
        return arr;
      }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::enum_<DType>(m, "DType")
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .def_property_readonly("name", [](DType d) { return dtype_name(d); })
      .def_property_readonly("as_numpy_dtype", [](DType d) {
        return d == DType::Float32 ? py::dtype::of<float>() : py::dtype::of<double>();
      })
      .def("__str__", [](DType d) { return dtype_name(d); })
      .def("__repr__", [](DType d) { return std::string("tg.") + dtype_name(d); });

  py::class_<TensorImpl, TensorPtr> tensor(m, "Tensor", py::buffer_protocol());
  tensor
      .def(py::init([](py::handle value, py::handle dtype) {
             const auto dt = to_dtype(dtype);
             Tensor t = to_tensor(value, dt);
             return (dt && t.dtype() != *dt ? cast(t, *dt) : t).impl();
           }),
           py::arg("value"), py::arg("dtype") = py::none())
      .def_property_readonly("shape", [](const TensorImpl& t) { return shape_tuple(t.shape); })
      .def_property_readonly("dtype", [](const TensorImpl& t) { return t.dtype; })
      .def_property_readonly("ndim", [](const TensorImpl& t) { return t.shape.size(); })
      .def_property_readonly("size", [](const TensorImpl& t) { return t.size; })
      .def_property_readonly("id", [](const TensorImpl& t) { return t.id; })
      .def("numpy", [](const TensorPtr& t) { return to_numpy(Tensor(t)); },
           "A read-only NumPy view sharing this tensor's memory (zero-copy).")
      .def("__len__", [](const TensorImpl& t) {
        if (t.shape.empty()) throw TypeError("len() of a 0-d tensor");
        return t.shape[0];
      })
      .def("__float__", [](const TensorPtr& t) { return Tensor(t).item(); })
      .def("__int__", [](const TensorPtr& t) { return static_cast<std::int64_t>(Tensor(t).item()); })
      .def("__bool__", [](const TensorPtr& t) {
        if (t->size != 1)
          throw ValueError("the truth value of a tensor with more than one element is ambiguous");
        return Tensor(t).item() != 0.0;
      })
      .def_buffer([](TensorImpl& t) {
        const std::size_t isz = itemsize(t.dtype);
        std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end()), strides(t.shape.size());
        py::ssize_t acc = static_cast<py::ssize_t>(isz);
        for (std::size_t i = t.shape.size(); i-- > 0;) {
          strides[i] = acc;
          acc *= static_cast<py::ssize_t>(t.shape[i]);
        }
        return py::buffer_info(t.data, static_cast<py::ssize_t>(isz),
                               t.dtype == DType::Float32 ? "f" : "d", static_cast<py::ssize_t>(t.shape.size()),
                               shape, strides, /*readonly=*/true);
      });
  bind_operators(tensor);

  py::class_<VariableImpl, Variable> var(m, "Variable");
  var.def(py::init([](py::handle initial_value, bool trainable, py::object name, py::handle dtype) {
            const auto dt = to_dtype(dtype);
            Tensor t = to_tensor(initial_value, dt);
            if (dt && t.dtype() != *dt) t = cast(t, *dt);
            return std::make_shared<VariableImpl>(stop_gradient(t),
                                                  name.is_none() ? "Variable" : py::str(name).cast<std::string>(),
                                                  trainable);
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
      .def("numpy", [](const VariableImpl& v) { return to_numpy(v.value.clone()); },
           "A copy of the current value: writing into it never changes the variable.")
      .def("assign", [](const Variable& v, py::handle value) {
        const Tensor t = to_tensor(value, v->value.dtype());
        run_op(t.size(), [&] { v->assign(t); return Tensor(); });
        return v;
      }, py::arg("value"))
      .def("assign_add", [](const Variable& v, py::handle delta) {
        const Tensor t = to_tensor(delta, v->value.dtype());
        run_op(t.size(), [&] { v->assign_add(t); return Tensor(); });
        return v;
      }, py::arg("delta"))
      .def("assign_sub", [](const Variable& v, py::handle delta) {
        const Tensor t = to_tensor(delta, v->value.dtype());
        run_op(t.size(), [&] { v->assign_sub(t); return Tensor(); });
        return v;
      }, py::arg("delta"))
      .def("__len__", [](const VariableImpl& v) {
        if (v.value.rank() == 0) throw TypeError("len() of a 0-d variable");
        return v.value.shape()[0];
      })
      .def("__float__", [](const VariableImpl& v) { return v.value.item(); })
      .def("__int__", [](const VariableImpl& v) { return static_cast<std::int64_t>(v.value.item()); })
      .def("__bool__", [](const VariableImpl& v) { return v.value.item() != 0.0; });
  bind_operators(var);
}

}  // namespace tg::py_bind
