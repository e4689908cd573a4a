/* CPlatform is header-only (static inline); this file gives SwiftPM a source. */
#include "cplatform.h"
