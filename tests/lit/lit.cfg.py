# Lit configuration of Tessera's FileCheck tests.
import os
import lit.formats

config.name = "Tessera"
config.test_format = lit.formats.ShTest(not config.llvm_tools_dir is None)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tessera_obj_root, "tests", "lit")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]

config.environment["FILECHECK_OPTS"] = "--enable-var-scope"
# Tools come from the build first, then LLVM's (FileCheck, not).
config.environment["PATH"] = os.pathsep.join(
    [config.tessera_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
# Dumps must not leak into the tests from the caller's environment.
config.environment.pop("TESSERA_DUMP_IR", None)

config.substitutions.append(("%{tools}", config.tessera_tools_dir))
config.substitutions.append(("%{examples}", os.path.join(config.tessera_obj_root, "examples")))
config.substitutions.append(
    ("%{scripts}", os.path.join(config.test_source_root, "..", "..", "scripts")))
# The in-tree build of examples/ (TESSERA_BUILD_EXAMPLES).
if config.tessera_build_examples:
    config.available_features.add("examples")
# Tests of behaviour without a GPU run only where there is none.
if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")):
    config.available_features.add("no-gpu")
