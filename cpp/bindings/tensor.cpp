// Tensor and Variable classes: properties, NumPy interop, indexing and Python operators.
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>

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

// Never released: a static py::object's destructor would run after the interpreter has gone
// (at exit, from C++'s static destruction) and crash the process; the module lives until then.
py::handle numpy() {
  static py::handle np = py::module_::import("numpy").release();
  return np;
}

}  // namespace

// ---- indexing: NumPy's rules for x[key] (basic and advanced indexing), built from
// differentiable ops: one strided_slice for the slices and integers, a reshape that inserts the
// new axes (None, and a 0-d boolean's axis), and, when any array index is present, one gather
// over the advanced axes merged into one. NumPy's placement rule for the result's advanced axes:
// where the first advanced index stood when all advanced indices (integers included) are
// adjacent, else first. tests/test_indexing.py checks all of it against NumPy.
namespace {

// One item of an index expression; a k-d boolean mask becomes k Array items (its nonzero
// coordinates), each with the mask's length on its axis.
struct IndexItem {
  enum Kind { Int, Slice, NewAxis, Array, Bool0d } kind;
  py::object slice;               // Slice
  std::int64_t value = 0;         // Int; Bool0d: 1 for True, 0 for False
  std::vector<std::int64_t> idx;  // Array
  Shape index_shape;              // Array
  std::int64_t mask_len = -1;     // Array from a boolean mask: the mask's extent on its axis
};

[[noreturn]] void invalid_index(py::handle k) {
  throw IndexError(
      "only integers, slices (`:`), ellipsis (`...`), None and integer or boolean "
      "arrays are valid indices, got " +
      std::string(py::str(py::type::of(k).attr("__name__"))));
}

// An array-like index item (list, tuple, ndarray, Tensor) as items: integers, boolean masks and,
// from a Tensor (always floating), whole numbers.
void parse_array_index(py::handle k, std::vector<IndexItem>* items) {
  const bool from_tensor = is_tensor(k);
  const bool from_sequence = py::isinstance<py::list>(k) || py::isinstance<py::tuple>(k);
  py::array arr = numpy().attr("asarray")(from_tensor ? py::object(to_numpy(to_tensor(k)))
                                                      : py::reinterpret_borrow<py::object>(k));
  const char kind = arr.dtype().kind();
  if (kind == 'b') {
    if (arr.ndim() == 0) {
      items->push_back({IndexItem::Bool0d, {}, arr.attr("item")().cast<bool>() ? 1 : 0, {}, {}});
      return;
    }
    const py::tuple coords = arr.attr("nonzero")();
    for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
      IndexItem it{IndexItem::Array, {}, 0, {}, {}};
      it.idx = to_indices(coords[static_cast<std::size_t>(d)], &it.index_shape);
      it.mask_len = arr.shape(d) > 0 ? arr.shape(d) : -1;  // NumPy checks no axis of length 0
      items->push_back(std::move(it));
    }
    return;
  }
  if (kind == 'f' && from_tensor) {
    if (!numpy().attr("array_equal")(arr, arr.attr("astype")("int64")).cast<bool>())
      throw IndexError("float indices must hold whole numbers");
    arr = arr.attr("astype")("int64");
  } else if (kind == 'f' && from_sequence && arr.size() == 0) {
    arr = arr.attr("astype")("int64");  // an empty list is an empty integer index, as in NumPy
  } else if (kind != 'i' && kind != 'u') {
    throw IndexError("arrays used as indices must be of integer (or boolean) type, got dtype " +
                     std::string(py::str(arr.dtype())));
  }
  IndexItem it{IndexItem::Array, {}, 0, {}, {}};
  it.idx = to_indices(arr, &it.index_shape);
  if (arr.ndim() == 0) {  // a 0-d integer array is an integer
    it.kind = IndexItem::Int;
    it.value = it.idx[0];
    it.idx.clear();
  }
  items->push_back(std::move(it));
}

// The flat positions, over the merged advanced axes of extents `lens`, that the (broadcast)
// index arrays select, in the row-major order of their broadcast shape `out`.
std::vector<std::int64_t> merged_indices(const std::vector<const IndexItem*>& adv,
                                         const Shape& lens, const Shape& out) {
  const std::size_t k = adv.size(), rank = out.size();
  std::vector<std::vector<std::int64_t>> strides(k);  // each array's strides over `out`
  std::vector<std::int64_t> weight(k, 1);             // row-major weights of the merged axis
  for (std::size_t a = k; a-- > 0;) {
    if (a + 1 < k) weight[a] = weight[a + 1] * lens[a + 1];
    const Shape& s = adv[a]->index_shape;
    strides[a].assign(rank, 0);
    std::int64_t st = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
      if (s[d] != 1) strides[a][rank - s.size() + d] = st;
      st *= s[d];
    }
  }
  const std::int64_t n = numel(out);
  std::vector<std::int64_t> flat(static_cast<std::size_t>(n));
  std::vector<std::int64_t> pos(rank, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t f = 0;
    for (std::size_t a = 0; a < k; ++a) {
      std::int64_t off = 0;
      for (std::size_t d = 0; d < rank; ++d) off += pos[d] * strides[a][d];
      std::int64_t j = adv[a]->idx[static_cast<std::size_t>(off)];
      if (j < 0) j += lens[a];
      f += j * weight[a];
    }
    flat[static_cast<std::size_t>(i)] = f;
    for (std::size_t d = rank; d-- > 0;) {
      if (++pos[d] < out[d]) break;
      pos[d] = 0;
    }
  }
  return flat;
}

}  // namespace

Tensor getitem(const Tensor& x, py::handle key_obj) {
  const int rank = x.rank();
  py::tuple key = py::isinstance<py::tuple>(key_obj) ? py::reinterpret_borrow<py::tuple>(key_obj)
                                                     : py::make_tuple(key_obj);
  const py::object np_bool = numpy().attr("bool_");
  std::vector<IndexItem> items;
  int consumed = 0, ellipsis_at = -1;
  for (py::handle k : key) {
    if (k.is_none()) {
      items.push_back({IndexItem::NewAxis, {}, 0, {}, {}});
    } else if (k.ptr() == Py_Ellipsis) {
      if (ellipsis_at >= 0) throw IndexError("an index can only have a single ellipsis ('...')");
      ellipsis_at = static_cast<int>(items.size());
    } else if (py::isinstance<py::slice>(k)) {
      items.push_back({IndexItem::Slice, py::reinterpret_borrow<py::object>(k), 0, {}, {}});
    } else if (PyBool_Check(k.ptr()) || py::isinstance(k, np_bool)) {
      items.push_back({IndexItem::Bool0d, {}, PyObject_IsTrue(k.ptr()) ? 1 : 0, {}, {}});
    } else if (PyLong_Check(k.ptr()) || (PyIndex_Check(k.ptr()) && !py::isinstance<py::array>(k))) {
      const Py_ssize_t i = PyNumber_AsSsize_t(k.ptr(), PyExc_IndexError);
      if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
      items.push_back({IndexItem::Int, {}, i, {}, {}});
    } else if (py::isinstance<py::list>(k) || py::isinstance<py::tuple>(k) ||
               py::isinstance<py::array>(k) || is_tensor(k)) {
      parse_array_index(k, &items);
    } else {
      invalid_index(k);
    }
  }
  for (const IndexItem& it : items)
    consumed +=
        it.kind == IndexItem::Int || it.kind == IndexItem::Slice || it.kind == IndexItem::Array;
  if (consumed > rank)
    throw IndexError("too many indices for a tensor of shape " + shape_str(x.shape()) + ": " +
                     std::to_string(consumed) + " were indexed");
  const py::object full_slice =
      py::reinterpret_steal<py::object>(PySlice_New(nullptr, nullptr, nullptr));
  const std::size_t at = ellipsis_at >= 0 ? static_cast<std::size_t>(ellipsis_at) : items.size();
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(at),
               static_cast<std::size_t>(rank - consumed),
               IndexItem{IndexItem::Slice, full_slice, 0, {}, {}});
  bool advanced = false;
  for (const IndexItem& it : items)
    advanced |= it.kind == IndexItem::Array || it.kind == IndexItem::Bool0d;

  // Each item's axis of x (-1: a new axis). Errors come in NumPy's order: mask lengths, then
  // integers and slices (TypeError for a non-integer bound) in order, then the arrays.
  std::vector<int> axis_of(items.size(), -1);
  for (std::size_t d = 0, axis = 0; d < items.size(); ++d) {
    const IndexItem& it = items[d];
    if (it.kind == IndexItem::NewAxis || it.kind == IndexItem::Bool0d) continue;
    axis_of[d] = static_cast<int>(axis);
    const std::int64_t len = x.shape()[axis];
    if (it.kind == IndexItem::Array && it.mask_len >= 0 && it.mask_len != len)
      throw IndexError("boolean index did not match the indexed tensor along axis " +
                       std::to_string(axis) + ": the axis has size " + std::to_string(len) +
                       " but the boolean index " + std::to_string(it.mask_len));
    ++axis;
  }
  // The slices and integers as one strided_slice over x's axes; y_shape: its result with the new
  // axes inserted, one axis per item.
  std::vector<std::int64_t> begin(rank, 0), step(rank, 1);
  Shape count = x.shape(), y_shape, basic_shape;
  for (std::size_t d = 0; d < items.size(); ++d) {
    const IndexItem& it = items[d];
    const int axis = axis_of[d];
    if (axis < 0) {
      y_shape.push_back(1);
      basic_shape.push_back(1);
      continue;
    }
    const std::int64_t len = x.shape()[axis];
    if (it.kind == IndexItem::Int) {
      if (it.value < -len || it.value >= len)
        throw IndexError("index " + std::to_string(it.value) + " is out of bounds for axis " +
                         std::to_string(axis) + " with size " + std::to_string(len));
      begin[axis] = it.value < 0 ? it.value + len : it.value;
      count[axis] = 1;
      y_shape.push_back(1);
    } else if (it.kind == IndexItem::Slice) {
      Py_ssize_t start, stop, stp, n;
      if (PySlice_GetIndicesEx(it.slice.ptr(), len, &start, &stop, &stp, &n) < 0)
        throw py::error_already_set();
      begin[axis] = n > 0 ? start : 0;
      step[axis] = n > 1 ? stp : 1;  // one element: any step reads it; keep huge steps out
      count[axis] = n;
      y_shape.push_back(n);
      basic_shape.push_back(n);
    } else {
      y_shape.push_back(len);
    }
  }
  Tensor y = x;
  bool whole = count == x.shape();
  for (int d = 0; d < rank && whole; ++d) whole = begin[d] == 0 && step[d] == 1;
  if (!whole) y = strided_slice(x, begin, step, count);
  if (!advanced) return reshape(y, basic_shape);

  // Advanced: every integer, array and 0-d boolean item indexes its axis of y (an integer's axis
  // has length 1 now: index 0). Their index arrays broadcast together.
  const IndexItem zero_index{IndexItem::Array, {}, 0, {0}, {}};
  const IndexItem true_index{IndexItem::Array, {}, 0, {0}, {1}};
  const IndexItem false_index{IndexItem::Array, {}, 0, {}, {0}};
  std::vector<const IndexItem*> adv;
  std::vector<int> adv_axes;
  Shape lens, out;
  bool broadcasts = true;
  for (std::size_t d = 0; d < items.size(); ++d) {
    const IndexItem& it = items[d];
    const IndexItem* index = nullptr;
    if (it.kind == IndexItem::Int)
      index = &zero_index;
    else if (it.kind == IndexItem::Bool0d)
      index = it.value ? &true_index : &false_index;
    else if (it.kind == IndexItem::Array)
      index = &it;
    if (!index) continue;
    adv.push_back(index);
    adv_axes.push_back(static_cast<int>(d));
    lens.push_back(y_shape[d]);
    try {
      out = broadcast_shapes(out, index->index_shape, "indexing");
    } catch (const ValueError&) {
      broadcasts = false;
    }
  }
  if (!broadcasts) {
    std::string shapes;
    for (const IndexItem* index : adv) shapes += " " + shape_str(index->index_shape);
    throw IndexError("shape mismatch: indexing arrays could not be broadcast together with shapes" +
                     shapes);
  }
  if (numel(out) > 0) {  // NumPy reads (and checks) no index when the result is empty
    for (std::size_t d = 0; d < items.size(); ++d) {
      if (items[d].kind != IndexItem::Array) continue;
      const std::int64_t len = x.shape()[axis_of[d]];
      for (const std::int64_t i : items[d].idx)
        if (i < -len || i >= len)
          throw IndexError("index " + std::to_string(i) + " is out of bounds for axis " +
                           std::to_string(axis_of[d]) + " with size " + std::to_string(len));
    }
  }
  // An ellipsis between advanced indices separates them even when it stands for no axis.
  const bool empty_ellipsis_between = ellipsis_at >= 0 && consumed == rank &&
                                      adv_axes.front() < static_cast<int>(at) &&
                                      static_cast<int>(at) <= adv_axes.back();
  const bool adjacent =
      adv_axes.back() - adv_axes.front() + 1 == static_cast<int>(adv_axes.size()) &&
      !empty_ellipsis_between;
  y = reshape(y, y_shape);
  if (!adjacent) {  // the advanced axes go first, in order
    std::vector<std::int64_t> perm(adv_axes.begin(), adv_axes.end());
    for (int d = 0; d < static_cast<int>(items.size()); ++d)
      if (std::find(adv_axes.begin(), adv_axes.end(), d) == adv_axes.end()) perm.push_back(d);
    y = transpose(y, perm);
    Shape moved;
    for (const std::int64_t d : perm) moved.push_back(y_shape[static_cast<std::size_t>(d)]);
    y_shape = moved;
  }
  const int first = adjacent ? adv_axes.front() : 0;
  Shape merged(y_shape.begin(), y_shape.begin() + first);
  merged.push_back(numel(lens));
  merged.insert(merged.end(), y_shape.begin() + first + static_cast<std::ptrdiff_t>(adv.size()),
                y_shape.end());
  return gather(reshape(y, merged), merged_indices(adv, lens, out), out, first);
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
      .def_property_readonly("as_numpy_dtype",
                             [](DType d) { return py::type(numpy_dtype(d).attr("type")); })
      .def_property_readonly("is_floating", [](DType d) { return is_floating(d); })
      .def_property_readonly("is_integer",
                             [](DType d) { return d == DType::Int32 || d == DType::Int64; })
      .def_property_readonly("is_bool", [](DType d) { return d == DType::Bool; })
      .def("__str__", [](DType d) { return dtype_name(d); })
      .def("__repr__", [](DType d) { return std::string("tg.") + dtype_name(d); });

  m.def(
      "tensor_sharing_array",
      [](const py::array& arr) {
        std::optional<DType> dtype;
        for (DType d : {DType::Float32, DType::Float64, DType::Int32, DType::Int64, DType::Bool})
          if (arr.dtype().equal(numpy_dtype(d))) dtype = d;
        if (!dtype)
          throw TypeError("tensor_sharing_array: unsupported dtype " +
                          std::string(py::str(arr.dtype())) +
                          ": tapegrad tensors are float32, float64, int32, int64 or bool");
        const int flags = py::detail::array_proxy(arr.ptr())->flags;
        if (!(flags & py::array::c_style) || !(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
          throw ValueError("tensor_sharing_array: the array must be C-contiguous and aligned");
        // The tensor keeps the array alive; the last owner may go on a thread without the GIL.
        std::shared_ptr<void> owner(arr.inc_ref().ptr(), [](void* o) {
          if (!Py_IsInitialized()) return;
          py::gil_scoped_acquire gil;
          Py_DECREF(static_cast<PyObject*>(o));
        });
        Shape shape(arr.shape(), arr.shape() + arr.ndim());
        return wrap(
            Tensor::from_external(*dtype, shape, const_cast<void*>(arr.data()), std::move(owner)));
      },
      py::arg("array"),
      "A Tensor viewing a C-contiguous NumPy array's memory, no copy (tg.from_dlpack's zero-copy "
      "path): "
      "whoever owns the memory must not write into it while the tensor lives.");

  bind_tensor_type(m, {py::cast(DType::Float32), py::cast(DType::Float64), py::cast(DType::Int32),
                       py::cast(DType::Int64), py::cast(DType::Bool)});

  // Variable: a pybind11 class whose operator and mapping slots are Tensor's (a read of the
  // variable, then the op), installed before the type is readied.
  py::class_<VariableImpl, Variable> var(
      m, "Variable",
      "A mutable tensor-valued state (weights): ops read its current value, tapes watch trainable "
      "variables automatically, assign/assign_add/assign_sub change it in place.",
      py::custom_type_setup(
          [](PyHeapTypeObject* heap_type) { install_operator_slots(&heap_type->ht_type); }));
  set_variable_type(var.ptr());
  var.def(py::init([](TensorLike initial_value, bool trainable, py::object name, DTypeLike dtype) {
            const auto dt = to_dtype(dtype);
            Tensor t = to_tensor(initial_value, dt);
            if (dt && t.dtype() != *dt) t = cast(t, *dt);
            std::string var_name = name.is_none() ? "Variable" : py::str(name).cast<std::string>();
            if (Trace* trace = active_trace()) trace->on_variable_created(var_name);
            return std::make_shared<VariableImpl>(stop_gradient(t), std::move(var_name), trainable);
          }),
          py::arg("initial_value"), py::arg("trainable") = true, py::arg("name") = py::none(),
          py::arg("dtype") = py::none(),
          "A variable holding a copy of initial_value (in dtype when given); name defaults to "
          "'Variable'.")
      .def_property_readonly("shape",
                             [](const VariableImpl& v) { return shape_tuple(v.value.shape()); })
      .def_property_readonly("dtype", [](const VariableImpl& v) { return v.value.dtype(); })
      .def_property_readonly("ndim", [](const VariableImpl& v) { return v.value.rank(); })
      .def_property_readonly("size", [](const VariableImpl& v) { return v.value.size(); })
      .def_property_readonly("name", [](const VariableImpl& v) { return v.name + ":0"; })
      .def_readwrite("trainable", &VariableImpl::trainable)
      .def(
          "value", [](const Variable& v) { return wrap(read_variable(v)); },
          "The current value as a Tensor (a read: active tapes watch it).")
      .def(
          "read_value", [](const Variable& v) { return wrap(read_variable(v)); },
          "The current value as a Tensor (TensorFlow's name for value()).")
      .def(
          "numpy", [](const VariableImpl& v) { return to_numpy(variable_value_copy(v)); },
          "A copy of the current value: writing into it never changes the variable.")
      .def(
          "assign",
          [](const Variable& v, TensorLike value) {
            const Tensor t = to_tensor(value, v->value.dtype());
            run_op(t.size(), [&] {
              assign_variable(v, t, AssignMode::Assign);
              return Tensor();
            });
            return v;
          },
          py::arg("value"),
          "Sets the value to value (converted to the variable's dtype); returns the variable.")
      .def(
          "assign_add",
          [](const Variable& v, TensorLike delta) {
            const Tensor t = to_tensor(delta, v->value.dtype());
            run_op(t.size(), [&] {
              assign_variable(v, t, AssignMode::Add);
              return Tensor();
            });
            return v;
          },
          py::arg("delta"), "Adds delta to the value in place; returns the variable.")
      .def(
          "assign_sub",
          [](const Variable& v, TensorLike delta) {
            const Tensor t = to_tensor(delta, v->value.dtype());
            run_op(t.size(), [&] {
              assign_variable(v, t, AssignMode::Subtract);
              return Tensor();
            });
            return v;
          },
          py::arg("delta"), "Subtracts delta from the value in place; returns the variable.")
      .def(
          "__array__",
          [](const VariableImpl& v, py::object dtype, py::object copy) {
            py::object arr = to_numpy(variable_value_copy(v));
            return dtype.is_none() ? arr : py::object(arr.attr("astype")(dtype));
          },
          py::arg("dtype") = py::none(), py::arg("copy") = py::none());
}

}  // namespace tg::py_bind
