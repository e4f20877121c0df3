/* A file whose name has two dots, for test_callsite: its default target is the base name without
 * the extension, "derived.target". */
#include <trace.h>

void derived_target_event(void);
void derived_target_event(void) { TRACE_INFO("from a dotted file name"); }
