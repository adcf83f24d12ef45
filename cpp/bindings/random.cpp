// Random tensors, the shuffle buffer and the row-batch iterator behind tg.random and tg.data
// (python/tapegrad/random.py, python/tapegrad/dataset.py): Python resolves seeds and structure,
// these bindings draw the numbers and gather the batches.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/random.h"
#include "tapegrad/sampling.h"

namespace tg::py_bind {

namespace {

py::array_t<std::int64_t> int64_array(const std::vector<std::int64_t>& v) {
  py::array_t<std::int64_t> out(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

Shape to_shape(const std::vector<std::int64_t>& dims, const char* what) {
  for (std::int64_t d : dims)
    if (d < 0)
      throw ValueError(std::string(what) + ": shape " + shape_str(Shape(dims.begin(), dims.end())) +
                       " has a negative dimension");
  return Shape(dims.begin(), dims.end());
}

DType float_dtype(py::handle dtype) {
  const std::optional<DType> d = to_dtype(dtype);
  return d ? *d : DType::Float32;
}

// One array an iterator gathers rows from: its first axis is the sample axis.
struct RowSource {
  py::array array;  // C-contiguous, native byte order (dataset.py makes it so); kept alive here
  std::int64_t n_rows;
  std::int64_t row_bytes;
  Shape row_shape;
  std::optional<DType> direct;  // a tensor dtype of its own: gathered straight into a Tensor
};

// Batches of rows of whole arrays in a given order: batch i is rows order[i*b : (i+1)*b] of
// every array, as Tensors (a tuple, or the tensor itself for one array). A float array's rows
// are copied straight into the new tensor; other dtypes go through a NumPy array of their own
// dtype and the same conversion as tg.constant, so they follow its dtype rules.
class RowBatches {
 public:
  RowBatches(py::sequence arrays,
             py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> order,
             std::int64_t batch_size, bool drop_remainder, bool single)
      : order_(std::move(order)),
        batch_size_(batch_size),
        drop_remainder_(drop_remainder),
        single_(single) {
    if (batch_size <= 0)
      throw ValueError("RowBatches: batch_size must be > 0, got " + std::to_string(batch_size));
    if (order_.ndim() != 1) throw ValueError("RowBatches: order must be one-dimensional");
    for (py::handle h : arrays) {
      if (!py::isinstance<py::array>(h))
        throw TypeError("RowBatches: every source must be a NumPy array");
      py::array a = py::reinterpret_borrow<py::array>(h);
      if (a.ndim() < 1 || !(a.flags() & py::array::c_style))
        throw TypeError("RowBatches: every source must be a C-contiguous array with a sample axis");
      RowSource s{a, a.shape(0), 0, Shape(a.shape() + 1, a.shape() + a.ndim()), std::nullopt};
      s.row_bytes = static_cast<std::int64_t>(a.itemsize()) * numel(s.row_shape);
      if (a.dtype().equal(py::dtype::of<float>())) s.direct = DType::Float32;
      if (a.dtype().equal(py::dtype::of<double>())) s.direct = DType::Float64;
      if (a.dtype().equal(py::dtype::of<std::int32_t>())) s.direct = DType::Int32;
      if (a.dtype().equal(py::dtype::of<std::int64_t>())) s.direct = DType::Int64;
      if (a.dtype().equal(py::dtype("bool"))) s.direct = DType::Bool;
      sources_.push_back(std::move(s));
    }
    if (sources_.empty()) throw ValueError("RowBatches: no arrays to batch");
    if (single_ && sources_.size() != 1)
      throw ValueError("RowBatches: single needs exactly one array");
  }

  py::object next() {
    const std::int64_t total = order_.shape(0);
    const std::int64_t count = std::min(batch_size_, total - position_);
    if (count <= 0 || (drop_remainder_ && count < batch_size_)) throw py::stop_iteration();
    const std::int64_t* rows = order_.data() + position_;
    py::tuple out(sources_.size());
    for (std::size_t j = 0; j < sources_.size(); ++j)
      out[j] = wrap(gather(sources_[j], rows, count));
    position_ += count;
    if (single_) return out[0];
    return std::move(out);
  }

 private:
  static Tensor gather(const RowSource& s, const std::int64_t* rows, std::int64_t count) {
    Shape shape{count};
    shape.insert(shape.end(), s.row_shape.begin(), s.row_shape.end());
    if (s.direct) {
      Tensor t = Tensor::empty(*s.direct, shape);
      gather_rows(s.array.data(), s.n_rows, s.row_bytes, rows, count, t.raw_mutable());
      return t;
    }
    py::array batch(s.array.dtype(), shape);
    gather_rows(s.array.data(), s.n_rows, s.row_bytes, rows, count, batch.mutable_data());
    return to_tensor(batch);
  }

  std::vector<RowSource> sources_;
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> order_;
  std::int64_t batch_size_;
  bool drop_remainder_;
  bool single_;
  std::int64_t position_ = 0;
};

}  // namespace

void bind_random(py::module_& m) {
  m.def(
      "random_uniform",
      [](const std::vector<std::int64_t>& shape, DTypeLike dtype, double minval, double maxval,
         std::uint64_t key) {
        const Shape s = to_shape(shape, "random_uniform");
        const DType d = float_dtype(dtype);
        return wrap(run_op(numel(s), [&] { return random_uniform(d, s, minval, maxval, key); }));
      },
      py::arg("shape"), py::arg("dtype"), py::arg("minval"), py::arg("maxval"), py::arg("key"),
      "Uniform numbers in [minval, maxval); element k depends only on (key, k).");
  m.def(
      "random_normal",
      [](const std::vector<std::int64_t>& shape, DTypeLike dtype, double mean, double stddev,
         std::uint64_t key) {
        const Shape s = to_shape(shape, "random_normal");
        const DType d = float_dtype(dtype);
        return wrap(run_op(numel(s), [&] { return random_normal(d, s, mean, stddev, key); }));
      },
      py::arg("shape"), py::arg("dtype"), py::arg("mean"), py::arg("stddev"), py::arg("key"),
      "Normal numbers (Box-Muller); element k depends only on (key, k).");
  m.def(
      "random_truncated_normal",
      [](const std::vector<std::int64_t>& shape, DTypeLike dtype, double mean, double stddev,
         std::uint64_t key) {
        const Shape s = to_shape(shape, "random_truncated_normal");
        const DType d = float_dtype(dtype);
        return wrap(
            run_op(numel(s), [&] { return random_truncated_normal(d, s, mean, stddev, key); }));
      },
      py::arg("shape"), py::arg("dtype"), py::arg("mean"), py::arg("stddev"), py::arg("key"),
      "Normal numbers with draws beyond two standard deviations drawn again.");
  m.def(
      "random_permutation",
      [](std::int64_t n, std::uint64_t key) { return int64_array(random_permutation(n, key)); },
      py::arg("n"), py::arg("key"), "A uniform random permutation of 0..n-1 as an int64 array.");

  py::class_<RandomStream, std::shared_ptr<RandomStream>>(
      m, "RandomStream",
      "The draws of a stateful random op (a Dropout layer's masks); see tapegrad/random.h.")
      .def(py::init<std::uint64_t>(), py::arg("key"))
      .def_property_readonly("key", [](const RandomStream& s) { return s.key; })
      .def_property_readonly("calls", [](const RandomStream& s) { return s.calls.load(); })
      .def(py::pickle([](const RandomStream& s) { return py::make_tuple(s.key, s.calls.load()); },
                      [](const py::tuple& state) {
                        if (state.size() != 2)
                          throw ValueError("RandomStream: a pickled state is (key, calls)");
                        auto s = std::make_shared<RandomStream>(state[0].cast<std::uint64_t>());
                        s->calls = state[1].cast<std::uint64_t>();
                        return s;
                      }));
  m.def(
      "dropout_mask",
      [](DTypeLike dtype, const std::vector<std::int64_t>& shape, double rate,
         const std::shared_ptr<RandomStream>& stream) {
        const Shape s = to_shape(shape, "dropout_mask");
        const DType d = float_dtype(dtype);
        return wrap(run_op(numel(s), [&] { return dropout_mask(d, s, rate, stream); }));
      },
      py::arg("dtype"), py::arg("shape"), py::arg("rate"), py::arg("stream"),
      "Inverted dropout's mask: 1/(1-rate) with probability 1-rate, else 0; traced as a stateful "
      "op.");

  py::class_<ShuffleBuffer>(
      m, "ShuffleBuffer",
      "TensorFlow's shuffle buffer over int64 ids (cpp/include/tapegrad/sampling.h).")
      .def(py::init<std::int64_t, std::uint64_t>(), py::arg("capacity"), py::arg("seed"))
      .def(
          "push",
          [](ShuffleBuffer& b,
             py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ids) {
            std::vector<std::int64_t> out;
            b.push(ids.data(), ids.size(), out);
            return int64_array(out);
          },
          py::arg("ids"), "Feeds ids; returns those that left the buffer.")
      .def(
          "drain",
          [](ShuffleBuffer& b) {
            std::vector<std::int64_t> out;
            b.drain(out);
            return int64_array(out);
          },
          "Returns every buffered id in random order and empties the buffer.")
      .def("__len__", &ShuffleBuffer::size);

  py::class_<RowBatches>(
      m, "RowBatches",
      "Batches of rows of whole arrays in a given order, as Tensors (a tuple, or the "
      "tensor itself when single).")
      .def(py::init<py::sequence,
                    py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>,
                    std::int64_t, bool, bool>(),
           py::arg("arrays"), py::arg("order"), py::arg("batch_size"), py::arg("drop_remainder"),
           py::arg("single"))
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &RowBatches::next);
}

}  // namespace tg::py_bind
