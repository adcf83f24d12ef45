// The `_core.mlp` submodule: fused training steps for Dense stacks with an MSE loss.
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/mlp_step.h"
#include "tapegrad/optim.h"

namespace tg::py_bind {

namespace {

std::vector<mlp::DenseLayer> to_layers(py::sequence kernels, py::sequence biases,
                                       const std::vector<std::string>& activations);

mlp::Activation to_activation(const std::string& name) {
  if (name == "linear") return mlp::Activation::Linear;
  if (name == "relu") return mlp::Activation::Relu;
  if (name == "tanh") return mlp::Activation::Tanh;
  if (name == "sigmoid") return mlp::Activation::Sigmoid;
  throw ValueError("train_steps: unknown activation '" + name + "' (linear, relu, tanh, sigmoid)");
}

std::vector<mlp::DenseLayer> to_layers(py::sequence kernels, py::sequence biases,
                                       const std::vector<std::string>& activations) {
  if (py::len(kernels) != py::len(biases) || py::len(kernels) != activations.size())
    throw ValueError("train_steps: kernels, biases and activations must have one entry per layer");
  std::vector<mlp::DenseLayer> layers;
  for (std::size_t i = 0; i < activations.size(); ++i) {
    mlp::DenseLayer layer;
    layer.kernel = kernels[i].cast<Variable>();
    if (!biases[i].is_none()) layer.bias = biases[i].cast<Variable>();
    layer.activation = to_activation(activations[i]);
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace

void bind_mlp(py::module_& parent) {
  py::module_ m = parent.def_submodule("mlp", "Fused training steps for Dense stacks (MSE loss).");
  m.def(
      "train_steps",
      [](py::handle X_, py::handle Y_, py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> idx,
         py::sequence kernels, py::sequence biases, std::vector<std::string> activations, py::object optimizer,
         py::array_t<double, py::array::c_style | py::array::forcecast> learning_rates, std::int64_t first_step,
         double clipnorm, double global_clipnorm, double clipvalue, bool stop_on_non_finite) {
        const Tensor X = to_tensor_no_watch(X_), Y = to_tensor_no_watch(Y_);
        if (idx.ndim() != 2) throw ValueError("train_steps: idx must be (steps, batch)");
        const std::int64_t steps = idx.shape(0), batch = idx.shape(1);
        if (learning_rates.ndim() != 1 || learning_rates.shape(0) != steps)
          throw ValueError("train_steps: learning_rates must hold one value per step");
        const std::vector<mlp::DenseLayer> layers = to_layers(kernels, biases, activations);
        optim::Clip clip;
        clip.norm = clipnorm;
        clip.global_norm = global_clipnorm;
        clip.value = clipvalue;
        const double* lrs = learning_rates.data();
        mlp::Updater update;
        if (py::isinstance<optim::SGD>(optimizer)) {
          optim::SGD* sgd = optimizer.cast<optim::SGD*>();
          update = [=](const std::vector<Variable>& v, const std::vector<Tensor>& g, std::int64_t s) {
            sgd->apply(v, g, lrs[s], clip);
          };
        } else if (py::isinstance<optim::Adam>(optimizer)) {
          optim::Adam* adam = optimizer.cast<optim::Adam*>();
          update = [=](const std::vector<Variable>& v, const std::vector<Tensor>& g, std::int64_t s) {
            adam->apply(v, g, lrs[s], first_step + s, clip);
          };
        } else {
          throw TypeError("train_steps: optimizer must be a _core.optim.SGD or _core.optim.Adam");
        }
        mlp::StepsResult result;
        {
          py::gil_scoped_release release;
          result = mlp::train_steps(layers, X, Y, idx.data(), steps, batch, stop_on_non_finite, update);
        }
        return py::make_tuple(py::array_t<double>(result.losses.size(), result.losses.data()), result.non_finite);
      },
      py::arg("X"), py::arg("Y"), py::arg("idx"), py::arg("kernels"), py::arg("biases"), py::arg("activations"),
      py::arg("optimizer"), py::arg("learning_rates"), py::arg("first_step"), py::arg("clipnorm") = 0.0,
      py::arg("global_clipnorm") = 0.0, py::arg("clipvalue") = 0.0, py::arg("stop_on_non_finite") = true,
      "Runs len(idx) training steps (gather, forward, backward, update) in one call; returns (losses, "
      "stopped_at_non_finite).");
  m.def(
      "predict",
      [](py::handle X_, py::sequence kernels, py::sequence biases, std::vector<std::string> activations) {
        const Tensor X = to_tensor_no_watch(X_);
        const std::vector<mlp::DenseLayer> layers = to_layers(kernels, biases, activations);
        return wrap(run_op(X.size() * 64, [&] { return mlp::predict(layers, X); }));
      },
      py::arg("X"), py::arg("kernels"), py::arg("biases"), py::arg("activations"),
      "The stack's outputs for every row of X (forward only, no tape).");
}

}  // namespace tg::py_bind
