# Writes OUT, a header defining the macro NAME as the SHA-256 of the sources
# (C++, headers, TableGen) under the comma-separated folders DIRS of
# SOURCE_DIR. The kernel cache keys on such hashes (toolchainFingerprint: the
# compiler's; a library kernel's version: the DSL's and the kernels'), so
# that a kernel that different sources built is never served. Written every
# time it runs (when a source is newer than it), so that it is newer than its
# sources after.
string(REPLACE "," ";" dirs "${DIRS}")
set(patterns "")
foreach(dir IN LISTS dirs)
  list(APPEND patterns "${SOURCE_DIR}/${dir}/*.cpp" "${SOURCE_DIR}/${dir}/*.h"
       "${SOURCE_DIR}/${dir}/*.td")
endforeach()
file(GLOB_RECURSE sources ${patterns})
list(SORT sources)
set(all "")
foreach(source IN LISTS sources)
  file(SHA256 "${source}" hash)
  file(RELATIVE_PATH name "${SOURCE_DIR}" "${source}")
  string(APPEND all "${name}:${hash}\n")
endforeach()
string(SHA256 fingerprint "${all}")
file(WRITE "${OUT}" "#define ${NAME} \"${fingerprint}\"\n")
