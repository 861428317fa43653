# tessera_add_kernel_plugin(name source...): a shared library of DSL kernels
# for the tools' --load (tessera-tune, tessera-compile). It registers its
# kernels as it is loaded (kernels::registerKernel in a static initializer)
# and links nothing of Tessera: the tool that loads it holds all of Tessera
# and exports it, so that the plugin's kernels land in the tool's registry.
function(tessera_add_kernel_plugin name)
  add_library(${name} MODULE ${ARGN})
  foreach(lib TesseraKernels TesseraRuntime TesseraDSL TesseraCompiler)
    get_target_property(real Tessera::${lib} ALIASED_TARGET)
    if(NOT real)
      set(real Tessera::${lib})
    endif()
    # Usage requirements only (evaluated through the link closure), no link.
    target_include_directories(${name} PRIVATE
      $<TARGET_PROPERTY:${real},INTERFACE_INCLUDE_DIRECTORIES>)
    target_compile_definitions(${name} PRIVATE
      $<TARGET_PROPERTY:${real},INTERFACE_COMPILE_DEFINITIONS>)
  endforeach()
  # LLVM and MLIR are built without RTTI.
  target_compile_options(${name} PRIVATE -fno-rtti)
  # No link options of the directory (a static bundle's -static-libstdc++):
  # the plugin uses the C++ runtime of the tool that loads it.
  set_property(TARGET ${name} PROPERTY LINK_OPTIONS "")
endfunction()
