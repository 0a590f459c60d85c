// Must not compile: model/ sits below proxy/ (src/CMakeLists.txt), so snibind_model's include
// roots hold no "proxy/...". The ctest layering_upward_include_fails builds this and expects
// "file not found" for exactly this header: if it ever compiles, the layers are not enforced.
#include "model/model.h"
#include "proxy/runtime.h"
