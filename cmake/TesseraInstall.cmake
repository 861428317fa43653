# Installs Tessera's libraries, headers and a package config, so that a
# consumer project can `find_package(Tessera)` and link Tessera::TesseraKernels.
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

get_property(tessera_libs GLOBAL PROPERTY TESSERA_LIBS)
install(TARGETS ${tessera_libs} EXPORT TesseraTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(dir compiler/include dsl/include runtime/include kernels/include)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
endforeach()
install(DIRECTORY ${CMAKE_BINARY_DIR}/compiler/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.inc")
install(TARGETS tessera-opt tessera-compile tessera-tune tessera-bench
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT TesseraTargets NAMESPACE Tessera::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/TesseraConfig.cmake.in
  ${CMAKE_BINARY_DIR}/TesseraConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/TesseraConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/TesseraConfig.cmake ${CMAKE_BINARY_DIR}/TesseraConfigVersion.cmake
  ${CMAKE_SOURCE_DIR}/cmake/TesseraPlugin.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera)
