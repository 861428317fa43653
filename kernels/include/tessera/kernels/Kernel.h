//===- Kernel.h - Define, launch and autotune DSL kernels -------*- C++ -*-===//
//
// The front end for anyone's kernels, Tessera's own included. A kernel is a
// DSL function over a configuration (dtype, warps, named constants):
//
//   void addBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
//     int64_t block = c.get("BLOCK");
//     dsl::TensorArg x = kb.tensor("x", c.dtype, 1), y = ..., out = ...;
//     dsl::Scalar start = dsl::program_id(0) * dsl::Scalar(block);
//     dsl::store(out, {start}, dsl::load(x, {start}, {block}) + dsl::load(y, {start}, {block}));
//   }
//
//   kernels::Kernel add = kernels::Kernel("vector_add", addBody)
//       .constants({{"BLOCK", 1024}})
//       .dtypes({DType::F16, DType::F32})
//       .grid([](const kernels::Args &a, const kernels::KernelConfig &c) {
//         return kernels::Grid{kernels::cdiv(a.tensor("x").shape()[0], c.get("BLOCK"))};
//       });
//
//   add({x, y, out});                        // the tuned, heuristic or default config
//   add.launch(config, {x, y, out}, stream);  // a given one
//
// A launch checks the arguments against the parameters the function declares
// (count, tensor or scalar, dtype, rank, storage; the error names the
// parameter), packs each tensor as the DSL passes it (pointer, sizes, strides
// as i32), computes the grid and launches the specialisation for the config,
// compiled once per process (Jit.h: memory cache, then the disk cache).
//
// autotune() gives a kernel a list of configurations, a key computed from the
// arguments, pruning and an optional check; a launch then takes the winner the
// tuning database holds for its key, tunes first when asked to
// (Tuning::onFirstUse or TESSERA_AUTOTUNE=1), and says what it chose under
// TESSERA_PRINT_AUTOTUNING=1. registerKernel() makes a kernel known to the
// tools (tessera-compile, tessera-tune), also from a user's shared library
// loaded with --load.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_KERNELS_KERNEL_H
#define TESSERA_KERNELS_KERNEL_H

#include "tessera/dsl/KernelBuilder.h"
#include "tessera/kernels/Registry.h"
#include "tessera/runtime/Autotuner.h"
#include "tessera/runtime/Stream.h"
#include "tessera/runtime/Tensor.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tessera::kernels {

/// ceil(a / b) for the grid: programs that cover `a` items `b` at a time.
constexpr int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// One launch argument: a tensor (a handle; the data is not copied), an
/// integer (passed as i32, or converted for an f32 parameter) or a float.
class Arg {
public:
  enum class Kind { Tensor, Int, Float };

  Arg(DeviceTensor t) : kind_(Kind::Tensor), tensor_(std::move(t)) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Arg(T v) : kind_(Kind::Int), int_(int64_t(v)) {}
  Arg(float v) : kind_(Kind::Float), float_(v) {}
  Arg(double v) : kind_(Kind::Float), float_(v) {}

  Kind kind() const { return kind_; }
  const DeviceTensor &tensor() const { return tensor_; }
  int64_t intValue() const { return int_; }
  double floatValue() const { return float_; }

private:
  Kind kind_;
  DeviceTensor tensor_;
  int64_t int_ = 0;
  double float_ = 0;
};

/// A launch's arguments, checked against the kernel's parameters and looked
/// up by parameter name.
class Args {
public:
  /// Throws tessera::Error naming the kernel and the parameter when `values`
  /// do not match `params` (count, kind, dtype, rank, undefined tensor, an
  /// integer outside i32).
  Args(const std::string &kernel, const std::vector<dsl::ParamDecl> &params,
       const std::vector<Arg> &values, bool validate = true);
  /// Args refers to the parameters and values: never to temporaries.
  Args(const std::string &, std::vector<dsl::ParamDecl> &&, const std::vector<Arg> &,
       bool = true) = delete;
  Args(const std::string &, const std::vector<dsl::ParamDecl> &, std::vector<Arg> &&,
       bool = true) = delete;
  Args(const std::string &, std::vector<dsl::ParamDecl> &&, std::vector<Arg> &&,
       bool = true) = delete;

  const DeviceTensor &tensor(std::string_view name) const;
  int32_t i32(std::string_view name) const;
  float f32(std::string_view name) const;

  const std::vector<dsl::ParamDecl> &params() const { return *parameters; }
  const std::vector<Arg> &values() const { return *arguments; }
  /// The argument of parameter `name`; throws naming the kernel's parameters.
  const Arg &operator[](std::string_view name) const;

  /// Appends the arguments as the kernel function takes them.
  void pack(KernelArgs &out) const;

private:
  size_t indexOf(std::string_view name) const;
  std::string kernel;
  const std::vector<dsl::ParamDecl> *parameters;
  const std::vector<Arg> *arguments;
};

/// Programs along x, y, z.
struct Grid {
  int64_t x = 1, y = 1, z = 1;
};

using GridFn = std::function<Grid(const Args &, const KernelConfig &)>;

/// How a kernel is autotuned.
struct Tuning {
  /// Candidates (their dtype is taken from the arguments), or a generator of
  /// them for the arguments; both may be given.
  std::vector<KernelConfig> configs;
  std::function<std::vector<KernelConfig>(const Args &)> generate;
  /// The problem's key: launches with equal keys share a winner. The default
  /// names each tensor's dtype and shape, sizes rounded up to powers of two.
  std::function<std::string(const Args &)> key;
  /// false drops a candidate for these arguments untimed (a block larger than
  /// the problem, say). Candidates that fail to compile, spill or need more
  /// shared memory than the device has are dropped anyway.
  std::function<bool(const KernelConfig &, const Args &)> keep;
  /// "" when the outputs of the run just made match a reference, else why
  /// not: a candidate may win only if it passes.
  std::function<std::string(const Args &)> check;
  /// Tune a key the database does not know on its first launch (also
  /// TESSERA_AUTOTUNE=1); otherwise such a launch takes the default config.
  bool onFirstUse = false;
  TuneOptions options;
};

/// Inputs for a tool to run the kernel on (`tessera-tune KERNEL --sizes
/// 4096,8192`): the arguments of one launch made from a dtype and a list of
/// sizes, and a check of the outputs of the run just made ("" when they match
/// a reference computed from the inputs it made, else why not).
struct Problem {
  std::vector<Arg> args;
  std::function<std::string()> check;
  /// The problem's floating-point operations, for a compute-bound kernel:
  /// tools print TFLOP/s. 0: memory-bound, tools print GB/s of the tensors.
  double flops = 0;
};
using ProblemFn = std::function<Problem(DType, const std::vector<int64_t> &sizes)>;

/// A DSL kernel with its configurations and launch rules. Copies share one
/// definition; define it once (a function-local static or a global).
class Kernel {
public:
  using Body = std::function<void(dsl::KernelBuilder &, const KernelConfig &)>;

  Kernel(std::string name, Body body);

  // --- Definition (each returns *this) ----------------------------------------
  Kernel &summary(std::string text);
  /// A version that, with a config, stands for the IR the body builds in
  /// any process: change it whenever the body changes. A kernel with one
  /// loads a compiled config from the disk cache without building its IR
  /// (0.2-0.5 ms a kernel a process); without one (the default), the cache
  /// keys on the IR's text, which is always right.
  Kernel &version(std::string text);
  /// The named constants and their defaults; a config names only these.
  Kernel &constants(std::map<std::string, int64_t> defaults);
  /// The dtypes it takes (default f32, f16, bf16).
  Kernel &dtypes(std::vector<DType> types);
  /// Warps per program of the default config (4).
  Kernel &warps(unsigned numWarps);
  Kernel &grid(GridFn fn);
  /// The config for arguments that the tuning database has no winner for.
  Kernel &heuristic(std::function<KernelConfig(const Args &)> fn);
  Kernel &autotune(Tuning tuning);
  Kernel &problem(ProblemFn fn);

  // --- Launch -----------------------------------------------------------------
  /// Launches with configFor(args).
  void operator()(const std::vector<Arg> &args, Stream &stream = Stream::defaultStream()) const;
  /// Launches `config` on the definition's grid.
  void launch(const KernelConfig &config, const std::vector<Arg> &args,
              Stream &stream = Stream::defaultStream()) const;
  void launch(const KernelConfig &config, Grid grid, const std::vector<Arg> &args,
              Stream &stream = Stream::defaultStream()) const;

  /// The config a launch with `args` takes: the tuning database's winner for
  /// the key, else (after tuning, when asked to) the heuristic's, else the
  /// defaults in the dtype of the first tensor argument.
  KernelConfig configFor(const std::vector<Arg> &args) const;
  /// The defaults in `dtype` with `overrides` (unknown names, dtypes and
  /// warp counts are errors).
  KernelConfig config(DType dtype, std::map<std::string, int64_t> overrides = {},
                      unsigned numWarps = 0) const;
  /// The problem's name in the tuning database: "NAME[KEY]".
  std::string problemKey(const std::vector<Arg> &args) const;
  /// Tunes the problem `args` pose now and records the winner; the results,
  /// fastest valid first. Needs Tuning's configs (or generator). `check`,
  /// when given, replaces Tuning::check.
  std::vector<CandidateResult> tune(const std::vector<Arg> &args,
                                    TuningDatabase &db = TuningDatabase::get(),
                                    const TuneOptions *options = nullptr,
                                    std::function<std::string()> check = {}) const;

  /// The parameters the function declares for `config` (for `dtype`: with
  /// the default constants).
  const std::vector<dsl::ParamDecl> &parameters(const KernelConfig &config) const;
  const std::vector<dsl::ParamDecl> &parameters(DType dtype) const;
  /// The loaded specialisation for `config`.
  const JitKernel &specialize(const KernelConfig &config) const;

  const std::string &name() const;
  const KernelDef &def() const;
  bool tunable() const;
  /// The tuning autotune() gave, or null.
  const Tuning *tuning() const;
  /// Inputs for `dtype` and `sizes` (ProblemFn); throws without one.
  Problem makeProblem(DType dtype, const std::vector<int64_t> &sizes) const;

private:
  std::string keyOf(const Args &view) const;
  KernelConfig chooseConfig(const Args &view) const;
  /// `c` with the defaults of the constants it does not name (and checked).
  KernelConfig fullConfig(const KernelConfig &c) const;
  /// Launches a full config; skips checking the arguments again when
  /// `checked` are the parameters that checked them.
  void launchChecked(const KernelConfig &full, const Grid *grid, const std::vector<Arg> &args,
                     const std::vector<dsl::ParamDecl> *checked, Stream &stream) const;

  struct State;
  std::shared_ptr<State> state;
};

/// How a launch picks its configuration for `problem` (its key in the tuning
/// database), for a Kernel and for operations of several kernels alike
/// (attention's forward and backward):
///   1. the database's winner, read by `fromSaved` (a config string);
///   2. when `tune` is given and tuning on first use is asked for
///      (`onFirstUse`, or TESSERA_AUTOTUNE=1), the winner of `tune()` (which
///      records it in the database);
///   3. `fallback()`, named `fallbackName` ("the heuristic's").
/// TESSERA_PRINT_AUTOTUNING=1 prints the choice once per problem:
/// `tessera: PROBLEM: CONFIG, HOW`.
KernelConfig chooseTunedConfig(const std::string &problem,
                               const std::function<KernelConfig(const std::string &)> &fromSaved,
                               const std::function<KernelConfig()> &fallback,
                               const char *fallbackName,
                               const std::function<std::vector<CandidateResult>()> &tune = {},
                               bool onFirstUse = false);

/// Makes `kernel` known by name to registry() and the tools; throws if the
/// name is taken. Returns the kernel.
const Kernel &registerKernel(const Kernel &kernel);
/// The registered kernel `name`, or null (Tessera's own DSL kernels that are
/// not defined through Kernel have no launch rules).
const Kernel *findKernel(const std::string &name);
/// Names of the kernels registerKernel() registered.
std::vector<std::string> registeredKernels();

} // namespace tessera::kernels

#endif
