// Shape ops: reshape, transpose, concat, stack, strided slices, gather, and their adjoints.
#include <algorithm>
#include <cstring>

#include "common.h"

namespace tg {

// ---- reshape: same data, new shape (a zero-copy view: values are immutable).  dx = reshape(g).
static const OpDef kReshape{
    "reshape",
    [](const Node& n, const Tensor& g, Needs) -> Grads { return {reshape(g, n.input_shape(0))}; },
    [](const std::vector<Tensor>& in, const Node& n) { return reshape(in[0], n.out_shape); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return reshape(t[0], n.out_shape);
    }};
Tensor reshape(const Tensor& x, const Shape& shape_) {
  Shape shape = shape_;
  int infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0)
        throw ValueError("reshape: only one dimension can be -1, got " + shape_str(shape_));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw ValueError("reshape: invalid target shape " + shape_str(shape_));
    }
  }
  if (infer >= 0) {
    std::int64_t known = 1;  // a product that overflows cannot divide x.size() either
    bool fits = true;
    for (std::size_t i = 0; i < shape.size(); ++i)
      if (static_cast<int>(i) != infer) fits = fits && !mul_overflows(known, shape[i], &known);
    if (!fits || known == 0 || x.size() % known != 0)
      throw ValueError("reshape: cannot reshape a tensor of shape " + shape_str(x.shape()) +
                       " into shape " + shape_str(shape_));
    shape[infer] = x.size() / known;
  }
  if (check_shape(shape, itemsize(x.dtype()), "reshape") != x.size())
    throw ValueError("reshape: cannot reshape a tensor of shape " + shape_str(x.shape()) + " (" +
                     std::to_string(x.size()) + " elements) into shape " + shape_str(shape_));
  if (shape == x.shape()) return x;
  Tensor z = x.view_as(shape);
  record(kReshape, {x}, z);
  return z;
}

// ---- transpose: z = x with axes permuted (default: reversed).  dx = transpose(g, inverse perm).
static const OpDef kTranspose{
    "transpose",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const auto& perm = n.attrs.ints;
      std::vector<std::int64_t> inverse(perm.size());
      for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<std::int64_t>(i);
      return {transpose(g, inverse)};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return transpose(in[0], n.attrs.ints); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return transpose(t[0], n.attrs.ints);
    }};
Tensor transpose(const Tensor& x, const std::optional<std::vector<std::int64_t>>& perm_) {
  const int r = x.rank();
  std::vector<std::int64_t> perm(r);
  if (perm_) {
    if (static_cast<int>(perm_->size()) != r)
      throw ValueError("transpose: perm has " + std::to_string(perm_->size()) +
                       " entries for a tensor of shape " + shape_str(x.shape()));
    std::vector<char> seen(r, 0);
    for (int i = 0; i < r; ++i) {
      perm[i] = normalize_axis((*perm_)[i], r, "transpose");
      if (seen[perm[i]]++)
        throw ValueError("transpose: perm repeats axis " + std::to_string(perm[i]));
    }
  } else {
    for (int i = 0; i < r; ++i) perm[i] = r - 1 - i;
  }
  Shape out_shape(r);
  for (int i = 0; i < r; ++i) out_shape[i] = x.shape()[perm[i]];
  Tensor z = Tensor::empty(x.dtype(), out_shape);
  dispatch_any_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::transpose<T>(x.data<T>(), x.shape(), perm, z.mutable_data<T>());
  });
  Attrs attrs;
  attrs.ints = perm;
  record(kTranspose, {x}, z, {}, std::move(attrs));
  return z;
}

// ---- concat: z = values joined along axis.  d(values[i]) = the slice of g it occupies.
static const OpDef kConcat{
    "concat",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const auto axis = n.attrs.ints[0];
      Grads out(n.inputs.size());
      std::vector<std::int64_t> begin(g.rank(), 0), step(g.rank(), 1);
      for (std::size_t i = 0; i < n.inputs.size(); ++i) {
        if (need[i]) out[i] = strided_slice(g, begin, step, n.input_shape(i));
        begin[axis] += n.input_shape(i)[axis];
      }
      return out;
    },
    [](const std::vector<Tensor>& in, const Node& n) { return concat(in, n.attrs.ints[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      std::vector<Tensor> parts;
      for (std::size_t i = 0; i < in.size(); ++i) parts.push_back(detail::or_zeros(t[i], in[i]));
      return concat(parts, n.attrs.ints[0]);
    }};
Tensor concat(const std::vector<Tensor>& values_, std::int64_t axis_) {
  if (values_.empty()) throw ValueError("concat: needs at least one tensor");
  const Shape first = values_[0].shape();
  if (first.empty()) throw ValueError("concat: cannot concatenate 0-d tensors (use stack)");
  const int axis = normalize_axis(axis_, static_cast<int>(first.size()), "concat");
  Shape out_shape = first;
  out_shape[axis] = 0;
  DType dtype = values_[0].dtype();
  for (const auto& v : values_) {
    dtype = promote(dtype, v.dtype());
    bool ok = v.rank() == static_cast<int>(first.size());
    for (int d = 0; ok && d < v.rank(); ++d) ok = d == axis || v.shape()[d] == first[d];
    if (!ok)
      throw ValueError("concat: shapes " + shape_str(first) + " and " + shape_str(v.shape()) +
                       " differ outside axis " + std::to_string(axis));
    if (add_overflows(out_shape[axis], v.shape()[axis], &out_shape[axis]))
      throw ValueError("concat: the extents along axis " + std::to_string(axis) +
                       " add up to more than a 64-bit count holds");
  }
  check_shape(out_shape, itemsize(dtype), "concat");
  // Cast only once the shapes are known good, so a failing concat records nothing.
  std::vector<Tensor> values = values_;
  for (auto& v : values) v = cast(v, dtype);
  Tensor z = Tensor::empty(dtype, out_shape);
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= first[d];
  for (std::size_t d = axis + 1; d < first.size(); ++d) inner *= first[d];
  const std::size_t isz = itemsize(dtype);
  const std::size_t out_row = static_cast<std::size_t>(out_shape[axis] * inner) * isz;
  std::size_t col = 0;
  for (const auto& v : values) {
    const std::size_t row = static_cast<std::size_t>(v.shape()[axis] * inner) * isz;
    for (std::int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char*>(z.raw_mutable()) + o * out_row + col,
                  static_cast<const char*>(v.raw()) + o * row, row);
    col += row;
  }
  Attrs attrs;
  attrs.ints = {axis};
  record(kConcat, values, z, {}, std::move(attrs));
  return z;
}

// ---- stack: a composition, each value reshaped with a new axis of extent 1, then concat.
Tensor stack(const std::vector<Tensor>& values, std::int64_t axis_) {
  if (values.empty()) throw ValueError("stack: needs at least one tensor");
  const Shape& first = values[0].shape();
  const int axis = normalize_axis(axis_, static_cast<int>(first.size()) + 1, "stack");
  std::vector<Tensor> expanded;
  expanded.reserve(values.size());
  for (const auto& v : values)  // all checked before any reshape is recorded
    if (v.shape() != first)
      throw ValueError("stack: all tensors need the same shape, got " + shape_str(first) + " and " +
                       shape_str(v.shape()));
  Shape stacked = first;
  stacked.insert(stacked.begin() + axis, static_cast<std::int64_t>(values.size()));
  DType dtype = values[0].dtype();
  for (const auto& v : values) dtype = promote(dtype, v.dtype());
  check_shape(stacked, itemsize(dtype), "stack");  // before any reshape is recorded
  for (const auto& v : values) {
    Shape s = first;
    s.insert(s.begin() + axis, 1);
    expanded.push_back(reshape(v, s));
  }
  return concat(expanded, axis);
}

// ---- strided_slice: z[k...] = x[begin + k*step ...].  dx = slice_grad(g) (scatter into zeros).
static const OpDef kStridedSlice{
    "strided_slice",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {slice_grad(g, n.input_shape(0), n.attrs.ints, n.attrs.ints2)};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return strided_slice(in[0], n.attrs.ints, n.attrs.ints2, n.out_shape);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return strided_slice(t[0], n.attrs.ints, n.attrs.ints2, n.out_shape);
    }};
namespace {
// The slice (begin, step, count) must lie inside `shape`: shared by the slice and its scatter,
// which index the same positions.
void check_slice(const Shape& shape, const std::vector<std::int64_t>& begin,
                 const std::vector<std::int64_t>& step, const Shape& count, const char* op) {
  const std::size_t r = shape.size();
  if (begin.size() != r || step.size() != r || count.size() != r)
    throw ValueError(std::string(op) + ": begin/step/count need one entry per axis of shape " +
                     shape_str(shape) + ", got slice of shape " + shape_str(count));
  for (std::size_t i = 0; i < r; ++i) {
    std::int64_t last = 0;  // begin + (count - 1) * step; an overflow lies outside any shape
    const bool far = count[i] > 0 && (mul_overflows(count[i] - 1, step[i], &last) ||
                                      add_overflows(begin[i], last, &last));
    if (step[i] == 0 || count[i] < 0 ||
        (count[i] > 0 &&
         (far || begin[i] < 0 || begin[i] >= shape[i] || last < 0 || last >= shape[i])))
      throw IndexError(std::string(op) + ": slice out of range on axis " + std::to_string(i) +
                       " of shape " + shape_str(shape));
  }
}
}  // namespace

Tensor strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& step, const Shape& count) {
  check_slice(x.shape(), begin, step, count, "strided_slice");
  Tensor z = Tensor::empty(x.dtype(), count);
  dispatch_any_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::strided_slice<T>(x.data<T>(), x.shape(), begin, step, z.mutable_data<T>(), count);
  });
  Attrs attrs;
  attrs.ints = begin;
  attrs.ints2 = step;
  record(kStridedSlice, {x}, z, {}, std::move(attrs));
  return z;
}

// ---- slice_grad: z = zeros(shape) with g at the sliced positions.  dg = strided_slice(gz).
static const OpDef kSliceGrad{
    "slice_grad",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {strided_slice(g, n.attrs.ints, n.attrs.ints2, n.input_shape(0))};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return slice_grad(in[0], n.out_shape, n.attrs.ints, n.attrs.ints2);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return slice_grad(t[0], n.out_shape, n.attrs.ints, n.attrs.ints2);
    }};
Tensor slice_grad(const Tensor& g, const Shape& shape, const std::vector<std::int64_t>& begin,
                  const std::vector<std::int64_t>& step) {
  check_shape(shape, itemsize(g.dtype()), "slice_grad");
  check_slice(shape, begin, step, g.shape(), "slice_grad");
  Tensor z = Tensor::empty(g.dtype(), shape);
  dispatch_dtype(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::strided_scatter<T>(g.data<T>(), g.shape(), begin, step, z.mutable_data<T>(), shape);
  });
  Attrs attrs;
  attrs.ints = begin;
  attrs.ints2 = step;
  record(kSliceGrad, {g}, z, {}, std::move(attrs));
  return z;
}

namespace {
// Indices checked against the axis extent, negative ones wrapped (NumPy's rules).
std::vector<std::int64_t> checked_indices(const std::vector<std::int64_t>& idx, std::int64_t len,
                                          int axis, const char* op) {
  std::vector<std::int64_t> out(idx.size());
  for (std::size_t i = 0; i < idx.size(); ++i) {
    const std::int64_t j = idx[i] < 0 ? idx[i] + len : idx[i];
    if (j < 0 || j >= len)
      throw IndexError(std::string(op) + ": index " + std::to_string(idx[i]) +
                       " is out of bounds for axis " + std::to_string(axis) + " with size " +
                       std::to_string(len));
    out[i] = j;
  }
  return out;
}

void outer_inner(const Shape& s, int axis, std::int64_t& outer, std::int64_t& inner) {
  outer = inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (std::size_t d = axis + 1; d < s.size(); ++d) inner *= s[d];
}
}  // namespace

// ---- gather: z = x indexed along axis by integer indices.  dx = scatter_add(g) (repeated
// indices accumulate).  Saves nothing (indices live in attrs).
static const OpDef kGather{
    "gather",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const auto axis = n.attrs.ints2[0];
      const Shape index_shape(n.attrs.ints2.begin() + 1, n.attrs.ints2.end());
      return {scatter_add(g, n.attrs.ints, index_shape, axis, n.input_shape(0)[axis])};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return gather(in[0], n.attrs.ints, Shape(n.attrs.ints2.begin() + 1, n.attrs.ints2.end()),
                    n.attrs.ints2[0]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return gather(t[0], n.attrs.ints, Shape(n.attrs.ints2.begin() + 1, n.attrs.ints2.end()),
                    n.attrs.ints2[0]);
    }};
Tensor gather(const Tensor& x, const std::vector<std::int64_t>& indices, const Shape& index_shape,
              std::int64_t axis_) {
  if (x.rank() == 0) throw IndexError("gather: cannot index a 0-d tensor");
  const int axis = normalize_axis(axis_, x.rank(), "gather");
  if (numel(index_shape) != static_cast<std::int64_t>(indices.size()))
    throw ValueError("gather: index_shape " + shape_str(index_shape) + " does not hold " +
                     std::to_string(indices.size()) + " indices");
  const auto idx = checked_indices(indices, x.shape()[axis], axis, "gather");
  Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
  out_shape.insert(out_shape.end(), index_shape.begin(), index_shape.end());
  out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor z = Tensor::empty(x.dtype(), out_shape);
  std::int64_t outer, inner;
  outer_inner(x.shape(), axis, outer, inner);
  dispatch_any_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::gather<T>(x.data<T>(), outer, x.shape()[axis], inner, idx.data(),
                       static_cast<std::int64_t>(idx.size()), z.mutable_data<T>());
  });
  if (any_recorder_active()) {
    Attrs attrs;
    attrs.ints = idx;
    attrs.ints2 = {axis};
    attrs.ints2.insert(attrs.ints2.end(), index_shape.begin(), index_shape.end());
    record(kGather, {x}, z, {}, std::move(attrs));
  }
  return z;
}

// ---- scatter_add: z = zeros with rows of g added at the indices along axis.  dg = gather(gz).
static const OpDef kScatterAdd{
    "scatter_add",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const auto axis = n.attrs.ints2[0];
      const Shape index_shape(n.attrs.ints2.begin() + 1, n.attrs.ints2.end());
      return {gather(g, n.attrs.ints, index_shape, axis)};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return scatter_add(in[0], n.attrs.ints, Shape(n.attrs.ints2.begin() + 1, n.attrs.ints2.end()),
                         n.attrs.ints2[0], n.out_shape[n.attrs.ints2[0]]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return scatter_add(t[0], n.attrs.ints, Shape(n.attrs.ints2.begin() + 1, n.attrs.ints2.end()),
                         n.attrs.ints2[0], n.out_shape[n.attrs.ints2[0]]);
    }};
Tensor scatter_add(const Tensor& g, const std::vector<std::int64_t>& indices,
                   const Shape& index_shape, std::int64_t axis_, std::int64_t axis_len) {
  const int idx_rank = static_cast<int>(index_shape.size());
  const int out_rank = g.rank() - idx_rank + 1;
  if (out_rank < 1)
    throw ValueError("scatter_add: g of shape " + shape_str(g.shape()) + " is too small");
  const int axis = normalize_axis(axis_, out_rank, "scatter_add");
  if (numel(index_shape) != static_cast<std::int64_t>(indices.size()) ||
      !std::equal(index_shape.begin(), index_shape.end(), g.shape().begin() + axis))
    throw ValueError("scatter_add: g of shape " + shape_str(g.shape()) +
                     " does not hold indices of shape " + shape_str(index_shape) + " at axis " +
                     std::to_string(axis));
  const auto idx = checked_indices(indices, axis_len, axis, "scatter_add");
  Shape out_shape(g.shape().begin(), g.shape().begin() + axis);
  out_shape.push_back(axis_len);
  out_shape.insert(out_shape.end(), g.shape().begin() + axis + idx_rank, g.shape().end());
  Tensor z = Tensor::empty(g.dtype(), out_shape);
  std::int64_t outer, inner;
  outer_inner(out_shape, axis, outer, inner);
  dispatch_dtype(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::scatter_add<T>(g.data<T>(), outer, axis_len, inner, idx.data(),
                            static_cast<std::int64_t>(idx.size()), z.mutable_data<T>());
  });
  if (any_recorder_active()) {
    Attrs attrs;
    attrs.ints = idx;
    attrs.ints2 = {axis};
    attrs.ints2.insert(attrs.ints2.end(), index_shape.begin(), index_shape.end());
    record(kScatterAdd, {g}, z, {}, std::move(attrs));
  }
  return z;
}

}  // namespace tg
