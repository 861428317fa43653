# Helpers shared by every folder: one way to declare a library, a tool, a test.

# Tessera's libraries, in link order (Triton's TRITON_LIBS): tools and tests link
# all of Tessera with ${TESSERA_LIBS} read from this property.
define_property(GLOBAL PROPERTY TESSERA_LIBS
  BRIEF_DOCS "Tessera's libraries" FULL_DOCS "Tessera's libraries, in link order")

# Linking MLIR: the shared libMLIR/libLLVM by default (fast links on a small
# machine); with TESSERA_STATIC_LLVM the static MLIR libraries, which then must
# not drag libLLVM.so in through their imported interface (see below).
if(TESSERA_STATIC_LLVM)
  # LLVMSupport's interface names these; the shared build never reads it.
  find_package(ZLIB REQUIRED)
  find_package(zstd REQUIRED)
  # Debian's static MLIR archives name the LLVM dylib in their interface. For the
  # self-contained bundle, point that name at the static LLVM components instead.
  llvm_map_components_to_libnames(tessera_llvm_static_libs
    Core Support Analysis BitReader BitWriter IRReader Linker Passes TransformUtils
    Target TargetParser MC NVPTXCodeGen NVPTXDesc NVPTXInfo AsmPrinter CodeGen
    ipo Instrumentation FrontendOpenMP FrontendOffloading Object Option)
  file(WRITE "${CMAKE_BINARY_DIR}/empty.c" "")
  add_library(tessera_empty STATIC "${CMAKE_BINARY_DIR}/empty.c")
  set_target_properties(LLVM PROPERTIES
    IMPORTED_LOCATION "${CMAKE_BINARY_DIR}/libtessera_empty.a"
    IMPORTED_LOCATION_RELEASE "${CMAKE_BINARY_DIR}/libtessera_empty.a"
    IMPORTED_SONAME "" IMPORTED_NO_SONAME TRUE
    INTERFACE_LINK_LIBRARIES "${tessera_llvm_static_libs}")
  set_target_properties(tessera_empty PROPERTIES ARCHIVE_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}")
  add_link_options(-static-libstdc++ -static-libgcc -Wl,--as-needed)
endif()

function(tessera_link_mlir target)
  if(TESSERA_STATIC_LLVM)
    target_link_libraries(${target} PUBLIC ${ARGN})
  else()
    target_link_libraries(${target} PUBLIC MLIR LLVM)
  endif()
endfunction()

# tessera_add_library(name SOURCES ... [DEPENDS tablegen-targets] [LINK libs])
function(tessera_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;LINK" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${TESSERA_BINARY_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:include>)
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  if(ARG_LINK)
    target_link_libraries(${name} PUBLIC ${ARG_LINK})
  endif()
  set_property(GLOBAL APPEND PROPERTY TESSERA_LIBS ${name})
  # The installed package's names, for projects built inside this tree.
  add_library(Tessera::${name} ALIAS ${name})
endfunction()

# A tool that loads kernel plugins (--load): it exports its symbols, and all
# of Tessera's libraries are in it, for the plugin's calls to resolve against
# (tessera_add_kernel_plugin links nothing of Tessera, so one registry serves).
function(tessera_accept_kernel_plugins name)
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
  target_link_libraries(${name} PRIVATE TesseraKernels)
  target_link_options(${name} PRIVATE LINKER:--whole-archive $<TARGET_FILE:TesseraDSL>
    $<TARGET_FILE:TesseraKernels> $<TARGET_FILE:TesseraRuntime> LINKER:--no-whole-archive)
endfunction()

function(tessera_add_tool name)
  add_executable(${name} ${ARGN})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/bin")
endfunction()
