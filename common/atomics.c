/*
 * common/atomics.c - the shared word of SEQ_CST_FENCE under TSan (see
 * common/atomics.h). Defined here, beside the macro that needs it, so
 * nothing in common/ depends on a layer above.
 */
#include "common/atomics.h"

#if defined(WEFT_TSAN)
_Atomic int weft_tsan_fence_word;
#else
/* ISO C forbids an empty translation unit. */
typedef int atomics_c_not_empty;
#endif
