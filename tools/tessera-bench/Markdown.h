//===- Markdown.h - tessera-bench markdown --------------------*- C++ -*-===//
#ifndef TESSERA_TOOLS_TESSERA_BENCH_MARKDOWN_H
#define TESSERA_TOOLS_TESSERA_BENCH_MARKDOWN_H

#include <string>
#include <vector>

namespace tessera::bench {

/// Prints one markdown table per dtype and pass of the Tessera rows of
/// `tesseraFiles` (records as tessera-bench --json writes them), each row
/// beside the rows of `peerFiles` (bench_anchors.py's anchors.json) for the
/// same case, with the ratio peer / Tessera. Returns the process's exit code;
/// errors name the file and the record.
int printMarkdown(const std::vector<std::string> &tesseraFiles,
                  const std::vector<std::string> &peerFiles);

} // namespace tessera::bench

#endif
