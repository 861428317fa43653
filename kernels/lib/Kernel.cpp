//===- Kernel.cpp - Define, launch and autotune DSL kernels ---------------===//

#include "tessera/kernels/Kernel.h"

#include "tessera/Support/Env.h"
#include "tessera/kernels/Launch.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Jit.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>

using namespace tessera;
using namespace tessera::kernels;
using dsl::ParamDecl;

namespace {

const char *kindName(ParamDecl::Kind k) {
  switch (k) {
  case ParamDecl::Kind::Tensor:
    return "a tensor";
  case ParamDecl::Kind::I32:
    return "an i32";
  case ParamDecl::Kind::F32:
    return "an f32";
  }
  return "?";
}

const char *argKindName(Arg::Kind k) {
  switch (k) {
  case Arg::Kind::Tensor:
    return "a tensor";
  case Arg::Kind::Int:
    return "an integer";
  case Arg::Kind::Float:
    return "a float";
  }
  return "?";
}

} // namespace

// --- Args ------------------------------------------------------------------------

Args::Args(const std::string &kernelName, const std::vector<ParamDecl> &params,
           const std::vector<Arg> &values, bool validate)
    : kernel(kernelName), parameters(&params), arguments(&values) {
  if (!validate)
    return;
  auto fail = [&](size_t i, const std::string &why) {
    throw Error("kernel '" + kernel + "', argument " + std::to_string(i) + " ('" + params[i].name +
                "'): " + why);
  };
  if (values.size() != params.size()) {
    std::string names;
    for (const ParamDecl &p : params)
      names += (names.empty() ? "" : ", ") + p.name;
    throw Error("kernel '" + kernel + "' takes " + std::to_string(params.size()) + " arguments (" +
                names + "), got " + std::to_string(values.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamDecl &p = params[i];
    const Arg &a = values[i];
    bool kindOk = p.kind == ParamDecl::Kind::Tensor ? a.kind() == Arg::Kind::Tensor
                  : p.kind == ParamDecl::Kind::I32  ? a.kind() == Arg::Kind::Int
                                                    : a.kind() != Arg::Kind::Tensor;
    if (!kindOk)
      fail(i, std::string("expected ") + kindName(p.kind) + ", got " + argKindName(a.kind()));
    if (p.kind == ParamDecl::Kind::I32 && (a.intValue() < INT32_MIN || a.intValue() > INT32_MAX))
      fail(i, std::to_string(a.intValue()) + " does not fit in i32");
    if (p.kind != ParamDecl::Kind::Tensor)
      continue;
    const DeviceTensor &t = a.tensor();
    if (!t.defined())
      fail(i, "the tensor is undefined (it has no storage)");
    if (t.dtype() != p.dtype)
      fail(i, "expected dtype " + std::string(name(p.dtype)) + ", got " +
                  std::string(name(t.dtype())));
    if (t.rank() != int64_t(p.rank))
      fail(i, "expected rank " + std::to_string(p.rank) + ", got rank " + std::to_string(t.rank()));
  }
}

size_t Args::indexOf(std::string_view paramName) const {
  for (size_t i = 0; i < parameters->size(); ++i)
    if ((*parameters)[i].name == paramName)
      return i;
  std::string names;
  for (const ParamDecl &p : *parameters)
    names += (names.empty() ? "" : ", ") + p.name;
  throw Error("kernel '" + kernel + "' has no parameter '" + std::string(paramName) + "' (it has " +
              names + ")");
}

const Arg &Args::operator[](std::string_view paramName) const {
  return (*arguments)[indexOf(paramName)];
}

const DeviceTensor &Args::tensor(std::string_view paramName) const {
  size_t i = indexOf(paramName);
  if ((*parameters)[i].kind != ParamDecl::Kind::Tensor)
    throw Error("kernel '" + kernel + "': parameter '" + std::string(paramName) +
                "' is not a tensor");
  return (*arguments)[i].tensor();
}

int32_t Args::i32(std::string_view paramName) const {
  size_t i = indexOf(paramName);
  if ((*parameters)[i].kind != ParamDecl::Kind::I32)
    throw Error("kernel '" + kernel + "': parameter '" + std::string(paramName) +
                "' is not an i32");
  return int32_t((*arguments)[i].intValue());
}

float Args::f32(std::string_view paramName) const {
  size_t i = indexOf(paramName);
  if ((*parameters)[i].kind != ParamDecl::Kind::F32)
    throw Error("kernel '" + kernel + "': parameter '" + std::string(paramName) +
                "' is not an f32");
  const Arg &a = (*arguments)[i];
  return a.kind() == Arg::Kind::Int ? float(a.intValue()) : float(a.floatValue());
}

void Args::pack(KernelArgs &out) const {
  for (size_t i = 0; i < parameters->size(); ++i) {
    const ParamDecl &p = (*parameters)[i];
    const Arg &a = (*arguments)[i];
    switch (p.kind) {
    case ParamDecl::Kind::Tensor:
      detail::addTensor(out, a.tensor(), p.name.c_str());
      break;
    case ParamDecl::Kind::I32:
      out.add(int32_t(a.intValue()));
      break;
    case ParamDecl::Kind::F32:
      out.add(a.kind() == Arg::Kind::Int ? float(a.intValue()) : float(a.floatValue()));
      break;
    }
  }
}

// --- Kernel ----------------------------------------------------------------------

struct Kernel::State {
  KernelDef def;
  Body body;
  unsigned numWarps = 4;
  GridFn grid;
  std::function<KernelConfig(const Args &)> heuristic;
  std::optional<Tuning> tuning;
  ProblemFn problem;

  std::mutex mutex;
  /// Parameters per config key.
  std::map<std::string, std::vector<ParamDecl>> signatures;
  /// Configs chosen per problem key (tuned kernels only).
  std::map<std::string, KernelConfig> chosen;
};

Kernel::Kernel(std::string kernelName, Body body) : state(std::make_shared<State>()) {
  if (kernelName.empty() || !body)
    throw Error("Kernel: a kernel needs a name and a body");
  state->body = std::move(body);
  state->def.name = kernelName;
  state->def.dtypes = {DType::F32, DType::F16, DType::BF16};
  // Every constant of the config is recorded on the kernel (tile.constant.*):
  // a compiled candidate then says which config it is, and dumps show it.
  // The build owns what it needs (copies of a KernelDef outlive the Kernel).
  state->def.build = [kernelName, body = state->body](mlir::MLIRContext &ctx,
                                                      const KernelConfig &c) {
    dsl::KernelBuilder kb(ctx, kernelName, c.numWarps);
    kb.setAlignedTensors(c.alignedTensors);
    for (auto &[n, v] : c.constants)
      kb.constant(n, v);
    body(kb, c);
    return kb.finish();
  };
}

Kernel &Kernel::summary(std::string text) {
  state->def.summary = std::move(text);
  return *this;
}

Kernel &Kernel::version(std::string text) {
  state->def.version = std::move(text);
  return *this;
}

Kernel &Kernel::constants(std::map<std::string, int64_t> defaults) {
  state->def.defaults = std::move(defaults);
  return *this;
}

Kernel &Kernel::dtypes(std::vector<DType> types) {
  if (types.empty())
    throw Error("kernel '" + name() + "': dtypes must not be empty");
  state->def.dtypes = std::move(types);
  return *this;
}

Kernel &Kernel::warps(unsigned numWarps) {
  state->numWarps = numWarps;
  return *this;
}

Kernel &Kernel::grid(GridFn fn) {
  state->grid = std::move(fn);
  return *this;
}

Kernel &Kernel::heuristic(std::function<KernelConfig(const Args &)> fn) {
  state->heuristic = std::move(fn);
  return *this;
}

Kernel &Kernel::autotune(Tuning tuning) {
  state->tuning = std::move(tuning);
  return *this;
}

Kernel &Kernel::problem(ProblemFn fn) {
  state->problem = std::move(fn);
  return *this;
}

const std::string &Kernel::name() const { return state->def.name; }
const KernelDef &Kernel::def() const { return state->def; }
bool Kernel::tunable() const {
  return state->tuning && (!state->tuning->configs.empty() || state->tuning->generate);
}

const Tuning *Kernel::tuning() const { return state->tuning ? &*state->tuning : nullptr; }

KernelConfig Kernel::config(DType dtype, std::map<std::string, int64_t> overrides,
                            unsigned numWarps) const {
  return makeConfig(state->def, dtype, numWarps ? numWarps : state->numWarps, overrides);
}

const std::vector<ParamDecl> &Kernel::parameters(DType dtype) const {
  return parameters(makeConfig(state->def, dtype, state->numWarps, {}));
}

const std::vector<ParamDecl> &Kernel::parameters(const KernelConfig &config) const {
  std::string key = config.key();
  std::lock_guard<std::mutex> lock(state->mutex);
  auto it = state->signatures.find(key);
  if (it != state->signatures.end())
    return it->second;
  // The function declares its parameters as it builds (a constant may add
  // or drop one): build the config once, in a context of its own (the
  // builder loads the dialects it uses).
  mlir::MLIRContext ctx(mlir::MLIRContext::Threading::DISABLED);
  dsl::KernelBuilder kb(ctx, name(), config.numWarps);
  state->body(kb, config);
  return state->signatures.emplace(key, kb.parameters()).first->second;
}

const JitKernel &Kernel::specialize(const KernelConfig &config) const {
  return detail::jitKernel(state->def, config, config.alignedTensors);
}

/// The dtype a launch without a config takes: its first tensor's.
static DType dtypeOf(const Kernel &k, const std::vector<Arg> &args) {
  for (const Arg &a : args)
    if (a.kind() == Arg::Kind::Tensor && a.tensor().defined()) {
      DType d = a.tensor().dtype();
      for (DType ok : k.def().dtypes)
        if (ok == d)
          return d;
      std::string names;
      for (DType ok : k.def().dtypes)
        names += (names.empty() ? "" : ", ") + std::string(name(ok));
      throw Error("kernel '" + k.name() + "' takes dtypes " + names + "; its first tensor is " +
                  std::string(name(d)));
    }
  throw Error("kernel '" + k.name() +
              "': no tensor argument to take the dtype from; launch it with a config");
}

std::string Kernel::problemKey(const std::vector<Arg> &args) const {
  Args view(name(), parameters(dtypeOf(*this, args)), args);
  return keyOf(view);
}

std::string Kernel::keyOf(const Args &view) const {
  std::string key;
  if (state->tuning && state->tuning->key) {
    key = state->tuning->key(view);
  } else {
    const std::vector<Arg> &args = view.values();
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].kind() != Arg::Kind::Tensor)
        continue;
      const DeviceTensor &t = args[i].tensor();
      key += (key.empty() ? "" : ",") + view.params()[i].name + ":" +
             std::string(tessera::name(t.dtype()));
      for (int64_t s : t.shape())
        key += "x" + std::to_string(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(s, 1))));
    }
  }
  return name() + "[" + key + "]";
}

std::vector<CandidateResult> Kernel::tune(const std::vector<Arg> &args, TuningDatabase &db,
                                          const TuneOptions *options,
                                          std::function<std::string()> check) const {
  if (!tunable())
    throw Error("kernel '" + name() + "' has no tuning space (Kernel::autotune)");
  const Tuning &tuning = *state->tuning;
  DType dtype = dtypeOf(*this, args);
  Args view(name(), parameters(dtype), args);

  std::vector<KernelConfig> configs;
  std::set<std::string> seen;
  auto consider = [&](const KernelConfig &c) {
    KernelConfig full = makeConfig(state->def, dtype, c.numWarps, c.constants);
    if (seen.insert(full.key()).second && (!tuning.keep || tuning.keep(full, view)))
      configs.push_back(full);
  };
  for (const KernelConfig &c : tuning.configs)
    consider(c);
  if (tuning.generate)
    for (const KernelConfig &c : tuning.generate(view))
      consider(c);
  if (configs.empty())
    throw Error("kernel '" + name() + "': every candidate was pruned for " + keyOf(view));

  // Candidates are specialised on the problem's alignment, as its launches are.
  KernelArgs probe;
  view.pack(probe);
  std::vector<TuneCandidate> candidates;
  for (KernelConfig c : configs) {
    std::string key = c.key();
    c.alignedTensors = probe.alignedTensors();
    candidates.push_back(
        {key, [d = &state->def, c](mlir::MLIRContext &ctx) { return d->build(ctx, c); }});
  }
  // A compiled candidate carries its constants and warps (see the build).
  auto configOf = [&](const JitKernel &k) {
    KernelConfig c = makeConfig(state->def, dtype, k.compiled.numWarps, {});
    for (auto &[n, v] : k.compiled.constants)
      if (c.constants.count(n))
        c.constants[n] = v;
    return c;
  };
  auto run = [&](const JitKernel &k) {
    KernelConfig c = configOf(k);
    if (!state->grid)
      throw Error("kernel '" + name() + "' has no grid (Kernel::grid)");
    // A candidate's constants may change the parameters (check them again).
    Args candidate(name(), parameters(c), args);
    Grid g = state->grid(candidate, c);
    KernelArgs packed;
    candidate.pack(packed);
    detail::launchOnGrid(k, g.x, g.y, g.z, packed, name());
  };
  if (!check)
    check = [&]() { return tuning.check ? tuning.check(view) : std::string(); };
  return tessera::autotune(keyOf(view), candidates, run, check, db,
                           options ? *options : tuning.options);
}

KernelConfig Kernel::configFor(const std::vector<Arg> &args) const {
  Args view(name(), parameters(dtypeOf(*this, args)), args);
  return chooseConfig(view);
}

KernelConfig kernels::chooseTunedConfig(
    const std::string &problem, const std::function<KernelConfig(const std::string &)> &fromSaved,
    const std::function<KernelConfig()> &fallback, const char *fallbackName,
    const std::function<std::vector<CandidateResult>()> &tune, bool onFirstUse) {
  std::optional<KernelConfig> choice;
  const char *how = "";
  if (std::optional<std::string> best = TuningDatabase::get().best(problem)) {
    choice = fromSaved(*best);
    how = "from the tuning database";
  } else if (tune && (onFirstUse || envFlag("TESSERA_AUTOTUNE"))) {
    std::vector<CandidateResult> results = tune();
    if (!results.empty() && results.front().ok()) {
      choice = fromSaved(results.front().config);
      how = "tuned now";
    }
  }
  if (!choice) {
    choice = fallback();
    how = fallbackName;
  }
  if (envFlag("TESSERA_PRINT_AUTOTUNING")) {
    static std::mutex mutex;
    static std::set<std::string> printed;
    std::lock_guard<std::mutex> lock(mutex);
    if (printed.insert(problem).second)
      std::fprintf(stderr, "tessera: %s: %s, %s\n", problem.c_str(), choice->key().c_str(), how);
  }
  return *choice;
}

KernelConfig Kernel::chooseConfig(const Args &view) const {
  DType dtype = dtypeOf(*this, view.values());
  if (!state->tuning)
    return state->heuristic ? fullConfig(state->heuristic(view)) : config(dtype);

  std::string key = keyOf(view);
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    auto it = state->chosen.find(key);
    if (it != state->chosen.end())
      return it->second;
  }
  KernelConfig choice = chooseTunedConfig(
      key, [&](const std::string &saved) { return fullConfig(KernelConfig::parse(saved)); },
      [&] { return state->heuristic ? fullConfig(state->heuristic(view)) : config(dtype); },
      state->heuristic ? "the heuristic's (not tuned)" : "the default (not tuned)",
      tunable() ? std::function<std::vector<CandidateResult>()>(
                      [&] { return tune(view.values(), TuningDatabase::get()); })
                : nullptr,
      state->tuning->onFirstUse);
  std::lock_guard<std::mutex> lock(state->mutex);
  return state->chosen.emplace(key, choice).first->second;
}

KernelConfig Kernel::fullConfig(const KernelConfig &c) const {
  return makeConfig(state->def, c.dtype, c.numWarps, c.constants);
}

void Kernel::operator()(const std::vector<Arg> &args, Stream &stream) const {
  // The arguments are checked once, against the default constants'
  // parameters; a config whose constants change the parameters is checked
  // again in launchChecked.
  const std::vector<ParamDecl> &params = parameters(dtypeOf(*this, args));
  Args view(name(), params, args);
  launchChecked(chooseConfig(view), nullptr, args, &params, stream);
}

void Kernel::launch(const KernelConfig &config, const std::vector<Arg> &args,
                    Stream &stream) const {
  launchChecked(fullConfig(config), nullptr, args, nullptr, stream);
}

void Kernel::launch(const KernelConfig &config, Grid grid, const std::vector<Arg> &args,
                    Stream &stream) const {
  launchChecked(fullConfig(config), &grid, args, nullptr, stream);
}

void Kernel::launchChecked(const KernelConfig &full, const Grid *grid, const std::vector<Arg> &args,
                           const std::vector<ParamDecl> *checked, Stream &stream) const {
  const std::vector<ParamDecl> &params = parameters(full);
  // Validates unless the same parameters checked the arguments already.
  auto same = [](const ParamDecl &a, const ParamDecl &b) {
    return a.kind == b.kind && a.dtype == b.dtype && a.rank == b.rank && a.name == b.name;
  };
  bool checkedAlready =
      checked && std::equal(params.begin(), params.end(), checked->begin(), checked->end(), same);
  Args view(name(), params, args, /*validate=*/!checkedAlready);
  if (!grid && !state->grid)
    throw Error("kernel '" + name() + "' has no grid (Kernel::grid); pass one to launch()");
  Grid g = grid ? *grid : state->grid(view, full);
  KernelArgs packed;
  view.pack(packed);
  // Specialised on which tensors allow 16-byte vectors (Triton's divisibility).
  detail::launchOnGrid(detail::jitKernel(state->def, full, packed.alignedTensors()), g.x, g.y, g.z,
                       packed, name(), stream);
}

Problem Kernel::makeProblem(DType dtype, const std::vector<int64_t> &sizes) const {
  if (!state->problem)
    throw Error("kernel '" + name() + "' cannot make its own inputs (Kernel::problem)");
  return state->problem(dtype, sizes);
}

// --- Registration ------------------------------------------------------------------

namespace {
std::mutex registered;
std::map<std::string, Kernel> &launchable() {
  static std::map<std::string, Kernel> kernels = [] {
    std::map<std::string, Kernel> builtIn;
    for (const Kernel &k : detail::basicKernels())
      builtIn.emplace(k.name(), k);
    return builtIn;
  }();
  return kernels;
}
} // namespace

const Kernel &kernels::registerKernel(const Kernel &kernel) {
  std::lock_guard<std::mutex> lock(registered);
  detail::addToRegistry(kernel.def());
  return launchable().emplace(kernel.name(), kernel).first->second;
}

const Kernel *kernels::findKernel(const std::string &kernelName) {
  std::lock_guard<std::mutex> lock(registered);
  auto it = launchable().find(kernelName);
  return it == launchable().end() ? nullptr : &it->second;
}

std::vector<std::string> kernels::registeredKernels() {
  std::lock_guard<std::mutex> lock(registered);
  std::vector<std::string> names;
  for (auto &[n, k] : launchable())
    names.push_back(n);
  return names;
}
