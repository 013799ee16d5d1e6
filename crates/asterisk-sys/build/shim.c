/* The few things the module needs that only exist as preprocessor macros, turned into
 * symbols. bindgen cannot evaluate a macro that concatenates string literals, so the exact
 * bytes of AST_BUILDOPT_SUM and ASTERISK_GPL_KEY come from the C compiler here. */
#include "wrapper.h"
#include <asterisk/buildopts.h>

const char twinning_ast_buildopt_sum[] = AST_BUILDOPT_SUM;
const char twinning_ast_gpl_key[] = ASTERISK_GPL_KEY;

/* Sentinel pointers ast_config_load2() returns instead of a config. */
const void *const twinning_config_status_filemissing = CONFIG_STATUS_FILEMISSING;
const void *const twinning_config_status_fileunchanged = CONFIG_STATUS_FILEUNCHANGED;
const void *const twinning_config_status_fileinvalid = CONFIG_STATUS_FILEINVALID;
