//===- dsl.h - Tessera's kernel language, in one include --------*- C++ -*-===//
#ifndef TESSERA_DSL_H
#define TESSERA_DSL_H

#include "tessera/dsl/KernelBuilder.h"
#include "tessera/dsl/Ops.h"

#endif
