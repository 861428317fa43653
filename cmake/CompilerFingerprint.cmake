# Writes OUT, a header defining TESSERA_COMPILER_FINGERPRINT: the SHA-256 of
# the compiler's sources (compiler/: C++, headers, TableGen) under SOURCE_DIR.
# The kernel cache keys on it (toolchainFingerprint), so that a kernel a
# different compiler built is never served. Written every time it runs (when
# a source is newer than it), so that it is newer than its sources after.
file(GLOB_RECURSE sources "${SOURCE_DIR}/compiler/*.cpp" "${SOURCE_DIR}/compiler/*.h"
     "${SOURCE_DIR}/compiler/*.td")
list(SORT sources)
set(all "")
foreach(source IN LISTS sources)
  file(SHA256 "${source}" hash)
  file(RELATIVE_PATH name "${SOURCE_DIR}" "${source}")
  string(APPEND all "${name}:${hash}\n")
endforeach()
string(SHA256 fingerprint "${all}")
file(WRITE "${OUT}" "#define TESSERA_COMPILER_FINGERPRINT \"${fingerprint}\"\n")
