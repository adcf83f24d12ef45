#include "tapegrad/mlp_step.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg::mlp {

namespace {

// Helpers are inlined into the multiversioned step loop below so they get its instruction set.
#define TG_ALWAYS_INLINE inline __attribute__((always_inline))

// Y may be undefined (predict).
void check_layers(const std::vector<DenseLayer>& layers, const Tensor& X, const Tensor& Y,
                  std::vector<std::int64_t>* widths) {
  if (layers.empty()) throw ValueError("train_steps: no layers");
  if (X.rank() != 2 || (Y.defined() && (Y.rank() != 2 || X.shape()[0] != Y.shape()[0])))
    throw ValueError("train_steps: expected X (N, in) and Y (N, out), got " + shape_str(X.shape()) + " and " +
                     (Y.defined() ? shape_str(Y.shape()) : std::string("none")));
  const DType dt = X.dtype();
  if (Y.defined() && Y.dtype() != dt) throw TypeError("train_steps: X and Y must share a dtype");
  widths->assign(1, X.shape()[1]);
  for (const DenseLayer& l : layers) {
    if (!l.kernel) throw ValueError("train_steps: a layer has no kernel");
    const Tensor& k = l.kernel->value;
    if (k.rank() != 2 || k.shape()[0] != widths->back())
      throw ValueError("train_steps: kernel '" + l.kernel->name + "' has shape " + shape_str(k.shape()) +
                       " but its input has " + std::to_string(widths->back()) + " features");
    if (k.dtype() != dt) throw TypeError("train_steps: kernel '" + l.kernel->name + "' is not " + dtype_name(dt));
    if (l.bias) {
      const Tensor& b = l.bias->value;
      if (b.rank() != 1 || b.shape()[0] != k.shape()[1] || b.dtype() != dt)
        throw ValueError("train_steps: bias '" + l.bias->name + "' has shape " + shape_str(b.shape()) +
                         ", expected (" + std::to_string(k.shape()[1]) + ",) of " + dtype_name(dt));
    }
    widths->push_back(k.shape()[1]);
  }
  if (Y.defined() && Y.shape()[1] != widths->back())
    throw ValueError("train_steps: the model has " + std::to_string(widths->back()) +
                     " outputs but Y has shape " + shape_str(Y.shape()));
}

// The products of one step go to the register-blocked GEMM, except for narrow layers (fewer than
// 16 outputs, such as the regression head): the GEMM pads those to its 16-wide tiles, so they run
// as dot products and rank-1 updates over contiguous memory instead.
bool small_product(std::int64_t layer_out) { return layer_out < 16; }

// out (B x n) = in (B x k) @ W (k x n) + bias, then relu if asked. Narrow outputs (n < 8: the
// regression head) are dot products over k; wider ones accumulate rows of W (contiguous over n).
template <class T>
TG_ALWAYS_INLINE void forward(std::int64_t B, std::int64_t k, std::int64_t n, const T* in, const T* W,
                              const T* bias, bool relu, T* out) {
  if (!small_product(n)) {
    kernels::gemm_bias_act<T>(false, false, B, n, k, in, k, W, n, bias, relu, out, n);
    return;
  }
  for (std::int64_t r = 0; r < B; ++r) {
    T* o = out + r * n;
    const T* x = in + r * k;
    if (n < 8) {
      for (std::int64_t j = 0; j < n; ++j) {
        T acc = T(0);
#pragma omp simd reduction(+ : acc)
        for (std::int64_t i = 0; i < k; ++i) acc += x[i] * W[i * n + j];
        o[j] = acc + (bias ? bias[j] : T(0));
      }
    } else {
      for (std::int64_t j = 0; j < n; ++j) o[j] = bias ? bias[j] : T(0);
      for (std::int64_t i = 0; i < k; ++i) {
        const T a = x[i];
        const T* w = W + i * n;
#pragma omp simd
        for (std::int64_t j = 0; j < n; ++j) o[j] += a * w[j];
      }
    }
    if (relu)
      for (std::int64_t j = 0; j < n; ++j) o[j] = o[j] > T(0) ? o[j] : T(0);
  }
}

// gW (k x n) = in^T (k x B) @ g (B x n), as B rank-1 updates; the inner loop runs over the longer
// contiguous axis (n, or k when the layer is narrow).
template <class T>
TG_ALWAYS_INLINE void kernel_grad(std::int64_t B, std::int64_t k, std::int64_t n, const T* in, const T* g, T* gW) {
  if (!small_product(n)) {
    kernels::gemm<T>(true, false, k, n, B, T(1), in, k, g, n, T(0), gW, n);
    return;
  }
  std::fill(gW, gW + k * n, T(0));
  for (std::int64_t r = 0; r < B; ++r) {
    const T* gr = g + r * n;
    const T* x = in + r * k;
    if (n < 8) {
      for (std::int64_t j = 0; j < n; ++j) {
        const T a = gr[j];
#pragma omp simd
        for (std::int64_t i = 0; i < k; ++i) gW[i * n + j] += x[i] * a;
      }
    } else {
      for (std::int64_t i = 0; i < k; ++i) {
        const T a = x[i];
        T* w = gW + i * n;
#pragma omp simd
        for (std::int64_t j = 0; j < n; ++j) w[j] += a * gr[j];
      }
    }
  }
}

// g_in (B x k) = g (B x n) @ W^T (n x k)
template <class T>
TG_ALWAYS_INLINE void input_grad(std::int64_t B, std::int64_t k, std::int64_t n, const T* g, const T* W, T* g_in) {
  if (!small_product(n)) {
    kernels::gemm<T>(false, true, B, k, n, T(1), g, n, W, n, T(0), g_in, k);
    return;
  }
  for (std::int64_t r = 0; r < B; ++r) {
    const T* gr = g + r * n;
    T* o = g_in + r * k;
    if (n < 8) {
      for (std::int64_t i = 0; i < k; ++i) o[i] = T(0);
      for (std::int64_t j = 0; j < n; ++j) {
        const T a = gr[j];
#pragma omp simd
        for (std::int64_t i = 0; i < k; ++i) o[i] += a * W[i * n + j];
      }
    } else {
      for (std::int64_t i = 0; i < k; ++i) {
        const T* w = W + i * n;
        T acc = T(0);
#pragma omp simd reduction(+ : acc)
        for (std::int64_t j = 0; j < n; ++j) acc += gr[j] * w[j];
        o[i] = acc;
      }
    }
  }
}

// The whole step loop is compiled twice, for AVX2+FMA and for the baseline, and picked at load
// time by the CPU (GCC/Clang function multiversioning): the narrow loops above are inlined into
// it and vectorize 8-wide on AVX2 machines. (The GEMM dispatches its own ISA.)
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
#define TG_MULTIVERSION __attribute__((target_clones("arch=haswell", "default")))
#else
#define TG_MULTIVERSION
#endif

template <class T>
TG_ALWAYS_INLINE StepsResult run(const std::vector<DenseLayer>& layers, const std::vector<std::int64_t>& d,
                                 const Tensor& X, const Tensor& Y, const std::int64_t* idx, std::int64_t steps,
                                 std::int64_t B, bool stop_on_non_finite, const Updater& update) {
  const std::size_t L = layers.size();
  const std::int64_t d_in = d.front(), d_out = d.back();
  const std::int64_t widest = *std::max_element(d.begin(), d.end());
  std::vector<T> xb(B * d_in), yb(B * d_out), grad_a(B * widest), grad_prev(B * widest);
  std::vector<std::vector<T>> act(L);  // activations per layer (B x d[l+1])
  for (std::size_t l = 0; l < L; ++l) act[l].resize(B * d[l + 1]);

  std::vector<Variable> vars;
  std::vector<Tensor> grads;
  std::vector<T*> grad_kernel(L), grad_bias(L, nullptr);
  for (std::size_t l = 0; l < L; ++l) {
    vars.push_back(layers[l].kernel);
    grads.push_back(Tensor::empty(dtype_of<T>::value, {d[l], d[l + 1]}));
    grad_kernel[l] = grads.back().mutable_data<T>();
    if (layers[l].bias) {
      vars.push_back(layers[l].bias);
      grads.push_back(Tensor::empty(dtype_of<T>::value, {d[l + 1]}));
      grad_bias[l] = grads.back().mutable_data<T>();
    }
  }

  const T* x_all = X.data<T>();
  const T* y_all = Y.data<T>();
  const double count = static_cast<double>(B * d_out);
  StepsResult result;
  result.losses.reserve(steps);
  for (std::int64_t s = 0; s < steps; ++s) {
    const std::int64_t* rows = idx + s * B;
    for (std::int64_t r = 0; r < B; ++r) {  // rows are a few values: a loop beats memcpy calls
      const T* xr = x_all + rows[r] * d_in;
      const T* yr = y_all + rows[r] * d_out;
      for (std::int64_t j = 0; j < d_in; ++j) xb[r * d_in + j] = xr[j];
      for (std::int64_t j = 0; j < d_out; ++j) yb[r * d_out + j] = yr[j];
    }
    // forward (variables are re-read every step: an update may have swapped their buffers)
    const T* in = xb.data();
    for (std::size_t l = 0; l < L; ++l) {
      const DenseLayer& layer = layers[l];
      const T* bias = layer.bias ? layer.bias->value.data<T>() : nullptr;
      T* out = act[l].data();
      forward<T>(B, d[l], d[l + 1], in, layer.kernel->value.data<T>(), bias,
                 layer.activation == Activation::Relu, out);
      if (layer.activation == Activation::Tanh)
        kernels::unary<T>(kernels::UnaryOp::Tanh, out, out, B * d[l + 1]);
      else if (layer.activation == Activation::Sigmoid)
        kernels::unary<T>(kernels::UnaryOp::Sigmoid, out, out, B * d[l + 1]);
      in = out;
    }
    // loss = mean((out - y)^2); dLoss/dout = 2 (out - y) / count
    const T* out = act[L - 1].data();
    double sum = 0.0;
    const T scale = static_cast<T>(2.0 / count);
    for (std::int64_t i = 0; i < B * d_out; ++i) {
      const T diff = out[i] - yb[i];
      sum += static_cast<double>(diff * diff);
      grad_a[i] = scale * diff;
    }
    // the sum in T before dividing, as reduce_mean does: a float32 sum past its range is inf
    // there too, so both paths stop at the same step
    const double loss = static_cast<double>(static_cast<T>(sum) / static_cast<T>(count));
    result.losses.push_back(loss);
    if (stop_on_non_finite && !std::isfinite(loss)) {
      result.non_finite = true;
      return result;
    }
    // backward: grad_a holds dLoss/d(activation of layer l)
    for (std::size_t li = L; li-- > 0;) {
      const DenseLayer& layer = layers[li];
      const std::int64_t n_in = d[li], n_out = d[li + 1];
      const T* a = act[li].data();
      T* g = grad_a.data();  // becomes dLoss/dz in place
      switch (layer.activation) {
        case Activation::Relu:
          for (std::int64_t i = 0; i < B * n_out; ++i) g[i] = a[i] > T(0) ? g[i] : T(0);
          break;
        case Activation::Tanh:
          for (std::int64_t i = 0; i < B * n_out; ++i) g[i] *= T(1) - a[i] * a[i];
          break;
        case Activation::Sigmoid:
          for (std::int64_t i = 0; i < B * n_out; ++i) g[i] *= a[i] * (T(1) - a[i]);
          break;
        case Activation::Linear:
          break;
      }
      const T* layer_in = li == 0 ? xb.data() : act[li - 1].data();
      kernel_grad<T>(B, n_in, n_out, layer_in, g, grad_kernel[li]);
      if (grad_bias[li]) {
        T* gb = grad_bias[li];
        std::fill(gb, gb + n_out, T(0));
        for (std::int64_t r = 0; r < B; ++r)
          for (std::int64_t j = 0; j < n_out; ++j) gb[j] += g[r * n_out + j];
      }
      if (li > 0) {
        input_grad<T>(B, n_in, n_out, g, layer.kernel->value.data<T>(), grad_prev.data());
        std::swap(grad_a, grad_prev);
      }
    }
    update(vars, grads, s);
  }
  return result;
}

template <class T>
TG_ALWAYS_INLINE void forward_all(const std::vector<DenseLayer>& layers, const std::vector<std::int64_t>& d,
                                  const T* x, std::int64_t n_rows, T* out) {
  std::vector<T> a, b;
  const T* in = x;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const DenseLayer& layer = layers[l];
    const bool last = l + 1 == layers.size();
    std::vector<T>& buf = (l % 2 == 0) ? a : b;
    if (!last) buf.resize(n_rows * d[l + 1]);
    T* o = last ? out : buf.data();
    forward<T>(n_rows, d[l], d[l + 1], in, layer.kernel->value.data<T>(),
               layer.bias ? layer.bias->value.data<T>() : nullptr, layer.activation == Activation::Relu, o);
    if (layer.activation == Activation::Tanh)
      kernels::unary<T>(kernels::UnaryOp::Tanh, o, o, n_rows * d[l + 1]);
    else if (layer.activation == Activation::Sigmoid)
      kernels::unary<T>(kernels::UnaryOp::Sigmoid, o, o, n_rows * d[l + 1]);
    in = o;
  }
}

TG_MULTIVERSION void forward_f32(const std::vector<DenseLayer>& layers, const std::vector<std::int64_t>& d,
                                 const float* x, std::int64_t n_rows, float* out) {
  forward_all<float>(layers, d, x, n_rows, out);
}

TG_MULTIVERSION void forward_f64(const std::vector<DenseLayer>& layers, const std::vector<std::int64_t>& d,
                                 const double* x, std::int64_t n_rows, double* out) {
  forward_all<double>(layers, d, x, n_rows, out);
}

TG_MULTIVERSION StepsResult run_f32(const std::vector<DenseLayer>& layers, const std::vector<std::int64_t>& d,
                                    const Tensor& X, const Tensor& Y, const std::int64_t* idx, std::int64_t steps,
                                    std::int64_t B, bool stop, const Updater& update) {
  return run<float>(layers, d, X, Y, idx, steps, B, stop, update);
}

TG_MULTIVERSION StepsResult run_f64(const std::vector<DenseLayer>& layers, const std::vector<std::int64_t>& d,
                                    const Tensor& X, const Tensor& Y, const std::int64_t* idx, std::int64_t steps,
                                    std::int64_t B, bool stop, const Updater& update) {
  return run<double>(layers, d, X, Y, idx, steps, B, stop, update);
}

}  // namespace

StepsResult train_steps(const std::vector<DenseLayer>& layers, const Tensor& X, const Tensor& Y,
                        const std::int64_t* idx, std::int64_t steps, std::int64_t batch,
                        bool stop_on_non_finite, const Updater& update) {
  std::vector<std::int64_t> widths;
  check_layers(layers, X, Y, &widths);
  if (batch <= 0 || steps < 0) throw ValueError("train_steps: batch must be > 0 and steps >= 0");
  const std::int64_t n = X.shape()[0];
  for (std::int64_t i = 0; i < steps * batch; ++i)
    if (idx[i] < 0 || idx[i] >= n)
      throw IndexError("train_steps: row index " + std::to_string(idx[i]) + " is out of range for " +
                       std::to_string(n) + " samples");
  if (X.dtype() == DType::Float32)
    return run_f32(layers, widths, X, Y, idx, steps, batch, stop_on_non_finite, update);
  return run_f64(layers, widths, X, Y, idx, steps, batch, stop_on_non_finite, update);
}

Tensor predict(const std::vector<DenseLayer>& layers, const Tensor& X) {
  std::vector<std::int64_t> widths;
  check_layers(layers, X, Tensor(), &widths);
  const std::int64_t n = X.shape()[0];
  Tensor out = Tensor::empty(X.dtype(), {n, widths.back()});
  if (X.dtype() == DType::Float32)
    forward_f32(layers, widths, X.data<float>(), n, out.mutable_data<float>());
  else
    forward_f64(layers, widths, X.data<double>(), n, out.mutable_data<double>());
  return out;
}

}  // namespace tg::mlp
